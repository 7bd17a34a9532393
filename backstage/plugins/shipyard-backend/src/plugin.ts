import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { shipyardPermissions } from '@shipyard/backstage-plugin-shipyard-common';
import { createRouter } from './router';

/**
 * The shipyard backend plugin: `/api/shipyard/*`, Shipyard's operations for the signed-in
 * person, checked against Backstage's permission policy, then sent to Shipyard with the
 * plugin's service token and an on-behalf-of assertion naming the person.
 */
export const shipyardPlugin = createBackendPlugin({
  pluginId: 'shipyard',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        userInfo: coreServices.userInfo,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
      },
      async init({
        config,
        logger,
        httpRouter,
        httpAuth,
        userInfo,
        permissions,
        permissionsRegistry,
      }) {
        permissionsRegistry.addPermissions(shipyardPermissions);
        httpRouter.use(
          await createRouter({ config, logger, httpAuth, userInfo, permissions }),
        );
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
      },
    });
  },
});
