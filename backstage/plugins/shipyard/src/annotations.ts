import { Entity } from '@backstage/catalog-model';
import { isShipyardEntity } from '@shipyard/backstage-plugin-shipyard-common';
import { ComponentRef } from './api/types';

/** The prefix of every Shipyard annotation (see docs/annotations.md). @public */
export const SHIPYARD_ANNOTATION_PREFIX = 'shipyard.dev/';

/** The `shipyard.dev/*` annotations an entity carries. @public */
export function shipyardAnnotations(entity: Entity): Record<string, string> {
  const annotations = entity.metadata.annotations ?? {};
  return Object.fromEntries(
    Object.entries(annotations).filter(([key]) => key.startsWith(SHIPYARD_ANNOTATION_PREFIX)),
  );
}

/** Whether the entity is a Component that opted in to Shipyard. @public */
export function isShipyardAvailable(entity: Entity): boolean {
  return (
    entity.kind.toLocaleLowerCase('en-US') === 'component' && isShipyardEntity(entity)
  );
}

/** The component's reference in Shipyard (`namespace/name`, namespace `default`). @public */
export function shipyardRef(entity: Entity): ComponentRef {
  return { namespace: entity.metadata.namespace ?? 'default', name: entity.metadata.name };
}
