import {
  ApiBlueprint,
  configApiRef,
  createFrontendPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import {
  EntityCardBlueprint,
  EntityContentBlueprint,
} from '@backstage/plugin-catalog-react/alpha';
import { shipyardApiRef } from './api/ShipyardApi';
import { ShipyardClient } from './api/ShipyardClient';

/** The Shipyard client, registered as an API. @public */
export const shipyardApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: shipyardApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef, configApi: configApiRef },
      factory: ({ discoveryApi, fetchApi, configApi }) =>
        new ShipyardClient({
          discoveryApi,
          fetchApi,
          proxyPath: configApi.getOptionalString('shipyard.proxyPath'),
        }),
    }),
});

/** The card on a Component's overview. @public */
export const shipyardEntityCard = EntityCardBlueprint.make({
  params: {
    filter: { kind: 'component' },
    loader: () => import('./components/ShipyardCard').then(m => <m.ShipyardCard />),
  },
});

/** The Shipyard tab of a Component's page. @public */
export const shipyardEntityContent = EntityContentBlueprint.make({
  params: {
    path: 'shipyard',
    title: 'Shipyard',
    filter: { kind: 'component' },
    loader: () => import('./components/ShipyardCard').then(m => <m.ShipyardContent />),
  },
});

/**
 * The Shipyard plugin for Backstage's new frontend system (the package's default export).
 * @public
 */
export const shipyardFrontendPlugin = createFrontendPlugin({
  pluginId: 'shipyard',
  info: { packageJson: () => import('../package.json') },
  extensions: [shipyardApi, shipyardEntityCard, shipyardEntityContent],
});
