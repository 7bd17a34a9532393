/**
 * Shipyard's Backstage permissions and helpers shared by the frontend and backend plugins.
 *
 * @packageDocumentation
 */
export * from './permissions';
export * from './annotations';
