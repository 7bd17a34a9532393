/**
 * Shipyard's Backstage backend plugin (new backend system).
 *
 * @packageDocumentation
 */
export { shipyardPlugin as default } from './plugin';
export { shipyardPlugin } from './plugin';
export { createRouter, readSettings } from './router';
export type { RouterOptions, ShipyardSettings } from './router';
export { signAssertion, ON_BEHALF_HEADER, ASSERTION_LIFETIME_SECONDS } from './assertion';
export {
  shipyardScaffolderModule,
  createShipyardDeployAction,
  createShipyardRegisterAction,
} from './scaffolder';
export type { ActionServices } from './scaffolder';
