/** The prefix of Shipyard's annotations (docs/annotations.md lists them). */
export const SHIPYARD_ANNOTATION_PREFIX = 'shipyard.dev/';

/**
 * The annotations that make a catalog entity a Shipyard component: a component is
 * onboarded when it carries at least one `shipyard.dev/*` annotation.
 */
export function isShipyardEntity(entity: {
  metadata: { annotations?: Record<string, string> };
}): boolean {
  return Object.keys(entity.metadata.annotations ?? {}).some(key =>
    key.startsWith(SHIPYARD_ANNOTATION_PREFIX),
  );
}
