/**
 * Shipyard on Backstage's Component pages: per environment what runs, Deploy, Preview,
 * Rollback, Promote and the live logs.
 *
 * The default export is the plugin for the new frontend system; `shipyardPlugin`,
 * `EntityShipyardCard` and `EntityShipyardContent` serve apps on the legacy one.
 *
 * @packageDocumentation
 */
import { shipyardFrontendPlugin } from './plugin';

export default shipyardFrontendPlugin;
export {
  shipyardFrontendPlugin,
  shipyardApi,
  shipyardEntityCard,
  shipyardEntityContent,
} from './plugin';
export { shipyardPlugin, EntityShipyardCard, EntityShipyardContent } from './legacy';
export { ShipyardCard, ShipyardContent } from './components/ShipyardCard';
export type { ShipyardCardProps } from './components/ShipyardCard';
export * from './api/types';
export * from './api/ShipyardApi';
export { ShipyardClient } from './api/ShipyardClient';
export type { ShipyardClientOptions } from './api/ShipyardClient';
export { ShipyardError, errorFromResponse, whatToDo } from './api/errors';
export type { ShipyardErrorKind, Problem } from './api/errors';
export { SseParser } from './api/sse';
export type { SseFrame } from './api/sse';
export {
  isShipyardAvailable,
  shipyardAnnotations,
  shipyardRef,
  SHIPYARD_ANNOTATION_PREFIX,
} from './annotations';
export * from './permissions';
