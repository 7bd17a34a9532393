import { createPermission } from '@backstage/plugin-permission-common';

/**
 * The resource type of Backstage's catalog entities (the value of
 * `RESOURCE_TYPE_CATALOG_ENTITY` in `@backstage/plugin-catalog-common`), so a
 * policy can decide on these permissions with the catalog's rules
 * (`isEntityOwner`, `hasAnnotation`, ...).
 */
export const SHIPYARD_RESOURCE_TYPE = 'catalog-entity' as const;

/** Deploy a tag of a component to an environment. */
export const shipyardComponentDeployPermission = createPermission({
  name: 'shipyard.component.deploy',
  attributes: { action: 'update' },
  resourceType: SHIPYARD_RESOURCE_TYPE,
});

/** Roll a component back to an earlier deployment in an environment. */
export const shipyardComponentRollbackPermission = createPermission({
  name: 'shipyard.component.rollback',
  attributes: { action: 'update' },
  resourceType: SHIPYARD_RESOURCE_TYPE,
});

/** Promote what runs in one environment to the next. */
export const shipyardComponentPromotePermission = createPermission({
  name: 'shipyard.component.promote',
  attributes: { action: 'update' },
  resourceType: SHIPYARD_RESOURCE_TYPE,
});

/** Destroy a component's stack in an environment. */
export const shipyardComponentDestroyPermission = createPermission({
  name: 'shipyard.component.destroy',
  attributes: { action: 'delete' },
  resourceType: SHIPYARD_RESOURCE_TYPE,
});

/** Every permission the shipyard plugins define (register them with the permissions registry). */
export const shipyardPermissions = [
  shipyardComponentDeployPermission,
  shipyardComponentRollbackPermission,
  shipyardComponentPromotePermission,
  shipyardComponentDestroyPermission,
];
