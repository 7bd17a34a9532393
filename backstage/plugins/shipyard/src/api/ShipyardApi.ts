import { createApiRef } from '@backstage/core-plugin-api';
import {
  ComponentDetail,
  ComponentRef,
  Deployment,
  DeploymentEvent,
  DeploymentStatus,
  Page,
  TagList,
} from './types';

/** What a stream or a poll of a deployment's events returned. @public */
export interface EventsResult {
  events: DeploymentEvent[];
  /** The final status from the `end` event, when the server sent it. */
  end?: DeploymentStatus;
}

/** How a followed stream stopped. @public */
export interface StreamResult {
  /** `end`: the server said the deployment finished; `stalled`: nothing arrived for
   * `stallMs`; `cut`: the body ended without `end`; `aborted`: the caller's signal. */
  outcome: 'end' | 'stalled' | 'cut' | 'aborted';
  end?: DeploymentStatus;
  lastSeq?: number;
}

/** @public */
export interface StreamOptions {
  /** Resume after this event (`Last-Event-ID`). */
  after?: number;
  signal?: AbortSignal;
  /** Give up on the stream when no byte (not even a heartbeat) came for this long. */
  stallMs?: number;
  onEvent: (event: DeploymentEvent) => void;
}

/** Shipyard's API as the card uses it, through the Shipyard backend plugin. @public */
export interface ShipyardApi {
  /** Reads only (through Backstage's proxy): the card offers no action. */
  readonly readOnly?: boolean;
  getComponent(ref: ComponentRef): Promise<ComponentDetail>;
  listDeployments(
    ref: ComponentRef,
    options?: { environment?: string; status?: string; limit?: number; offset?: number },
  ): Promise<Page<Deployment>>;
  listTags(
    ref: ComponentRef,
    options?: { q?: string; limit?: number; offset?: number },
  ): Promise<TagList>;
  deploy(
    ref: ComponentRef,
    body: { environment: string; tag: string; force?: boolean },
  ): Promise<Deployment>;
  preview(ref: ComponentRef, body: { environment: string; tag?: string }): Promise<Deployment>;
  rollback(ref: ComponentRef, body: { environment: string }): Promise<Deployment>;
  promote(ref: ComponentRef, body: { from: string; to?: string }): Promise<Deployment>;
  getDeployment(id: number): Promise<Deployment>;
  /** Asks Shipyard to cancel a queued or running deployment. */
  cancel(id: number): Promise<Deployment>;
  /** The stored events (after `after`), and `end` if the deployment finished. */
  getEvents(id: number, options?: { after?: number }): Promise<EventsResult>;
  /** Follows the live event stream until it ends, stalls, is cut or aborted. */
  streamEvents(id: number, options: StreamOptions): Promise<StreamResult>;
}

/** @public */
export const shipyardApiRef = createApiRef<ShipyardApi>({ id: 'plugin.shipyard.api' });
