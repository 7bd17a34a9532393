import {
  configApiRef,
  createApiFactory,
  createComponentExtension,
  createPlugin,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/core-plugin-api';
import { shipyardApiRef } from './api/ShipyardApi';
import { ShipyardClient } from './api/ShipyardClient';

/**
 * The Shipyard plugin for apps on Backstage's legacy frontend system.
 * @public
 */
export const shipyardPlugin = createPlugin({
  id: 'shipyard',
  apis: [
    createApiFactory({
      api: shipyardApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef, configApi: configApiRef },
      factory: ({ discoveryApi, fetchApi, configApi }) =>
        new ShipyardClient({
          discoveryApi,
          fetchApi,
          proxyPath: configApi.getOptionalString('shipyard.proxyPath'),
        }),
    }),
  ],
});

/**
 * The card for a Component's overview (legacy frontend system).
 * @public
 */
export const EntityShipyardCard = shipyardPlugin.provide(
  createComponentExtension({
    name: 'EntityShipyardCard',
    component: {
      lazy: () => import('./components/ShipyardCard').then(m => m.ShipyardCard),
    },
  }),
);

/**
 * The full tab (legacy frontend system): mount it in an `EntityLayout.Route`.
 * @public
 */
export const EntityShipyardContent = shipyardPlugin.provide(
  createComponentExtension({
    name: 'EntityShipyardContent',
    component: {
      lazy: () => import('./components/ShipyardCard').then(m => m.ShipyardContent),
    },
  }),
);
