// The permissions the Shipyard backend plugin checks, from the shared package: the card
// asks `usePermission` about the very same ones.
export {
  shipyardComponentDeployPermission,
  shipyardComponentRollbackPermission,
  shipyardComponentPromotePermission,
  shipyardComponentDestroyPermission,
  shipyardPermissions,
} from '@shipyard/backstage-plugin-shipyard-common';
