import { DiscoveryApi, FetchApi } from '@backstage/core-plugin-api';
import { errorFromResponse, ShipyardError } from './errors';
import { EventsResult, ShipyardApi, StreamOptions, StreamResult } from './ShipyardApi';
import { SseFrame, SseParser } from './sse';
import {
  ComponentDetail,
  ComponentRef,
  Deployment,
  DeploymentEvent,
  DeploymentStatus,
  Page,
  TagList,
} from './types';

/** @public */
export interface ShipyardClientOptions {
  discoveryApi: DiscoveryApi;
  fetchApi: FetchApi;
  /**
   * Read through Backstage's proxy instead of the backend plugin: the proxy endpoint's
   * path, e.g. `/shipyard` for `proxy.endpoints['/shipyard']` (read-only card).
   */
  proxyPath?: string;
  /** Default for {@link StreamOptions.stallMs}: 20 s (Shipyard's heartbeat is 15 s). */
  stallMs?: number;
}

const DEFAULT_STALL_MS = 20_000;

function componentPath(ref: ComponentRef): string {
  return `/components/${encodeURIComponent(ref.namespace)}/${encodeURIComponent(ref.name)}`;
}

function toEvent(frame: SseFrame): DeploymentEvent | undefined {
  if (frame.event !== 'message') return undefined;
  try {
    const event = JSON.parse(frame.data) as DeploymentEvent;
    return typeof event?.seq === 'number' ? event : undefined;
  } catch {
    return undefined;
  }
}

function toEnd(frame: SseFrame): DeploymentStatus | undefined {
  if (frame.event !== 'end') return undefined;
  try {
    const data = JSON.parse(frame.data) as { status?: DeploymentStatus };
    return data.status ?? 'succeeded';
  } catch {
    return 'succeeded';
  }
}

/**
 * Talks to Shipyard through the Shipyard backend plugin (`/api/shipyard`), whose routes
 * mirror Shipyard's own `/api/v1` paths; `fetchApi` carries the person's Backstage token.
 * @public
 */
export class ShipyardClient implements ShipyardApi {
  private readonly discoveryApi: DiscoveryApi;
  private readonly fetchApi: FetchApi;
  private readonly proxyPath?: string;
  private readonly stallMs: number;
  readonly readOnly: boolean;

  constructor(options: ShipyardClientOptions) {
    this.readOnly = Boolean(options.proxyPath);
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
    this.proxyPath = options.proxyPath;
    this.stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  }

  private async baseUrl(): Promise<string> {
    if (this.proxyPath) {
      const proxy = await this.discoveryApi.getBaseUrl('proxy');
      return `${proxy}/${this.proxyPath.replace(/^\/+/, '')}`;
    }
    return this.discoveryApi.getBaseUrl('shipyard');
  }

  private async send(path: string, what: string, init: RequestInit = {}): Promise<Response> {
    const url = `${await this.baseUrl()}${path}`;
    let response: Response;
    try {
      response = await this.fetchApi.fetch(url, init);
    } catch (error) {
      if ((error as Error)?.name === 'AbortError') throw error;
      throw new ShipyardError(
        'unreachable',
        `Shipyard cannot be reached (${(error as Error)?.message ?? error})`,
        { cause: error },
      );
    }
    if (!response.ok) throw await errorFromResponse(response, what);
    return response;
  }

  private async get<T>(path: string, what: string): Promise<T> {
    const response = await this.send(path, what, { headers: { Accept: 'application/json' } });
    return (await response.json()) as T;
  }

  private async post<T>(path: string, what: string, body: unknown): Promise<T> {
    const response = await this.send(path, what, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    });
    return (await response.json()) as T;
  }

  getComponent(ref: ComponentRef): Promise<ComponentDetail> {
    return this.get(componentPath(ref), 'Reading the component');
  }

  listDeployments(
    ref: ComponentRef,
    options: { environment?: string; status?: string; limit?: number; offset?: number } = {},
  ): Promise<Page<Deployment>> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options)) {
      if (value !== undefined && value !== '') query.set(key, String(value));
    }
    const suffix = query.toString() ? `?${query}` : '';
    return this.get(`${componentPath(ref)}/deployments${suffix}`, 'Reading the history');
  }

  listTags(
    ref: ComponentRef,
    options: { q?: string; limit?: number; offset?: number } = {},
  ): Promise<TagList> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(options)) {
      if (value !== undefined && value !== '') query.set(key, String(value));
    }
    const suffix = query.toString() ? `?${query}` : '';
    return this.get(`${componentPath(ref)}/tags${suffix}`, 'Reading the tags');
  }

  deploy(
    ref: ComponentRef,
    body: { environment: string; tag: string; force?: boolean },
  ): Promise<Deployment> {
    const request: Record<string, unknown> = { environment: body.environment, tag: body.tag };
    if (body.force) request.force = true;
    return this.post(`${componentPath(ref)}/deployments`, 'Deploy', request);
  }

  preview(ref: ComponentRef, body: { environment: string; tag?: string }): Promise<Deployment> {
    const request: Record<string, unknown> = { environment: body.environment };
    if (body.tag) request.tag = body.tag;
    return this.post(`${componentPath(ref)}/previews`, 'Preview', request);
  }

  rollback(ref: ComponentRef, body: { environment: string }): Promise<Deployment> {
    return this.post(`${componentPath(ref)}/rollback`, 'Rollback', {
      environment: body.environment,
    });
  }

  promote(ref: ComponentRef, body: { from: string; to?: string }): Promise<Deployment> {
    const request: Record<string, unknown> = { from: body.from };
    if (body.to) request.to = body.to;
    return this.post(`${componentPath(ref)}/promote`, 'Promote', request);
  }

  getDeployment(id: number): Promise<Deployment> {
    return this.get(`/deployments/${encodeURIComponent(String(id))}`, 'Reading the deployment');
  }

  cancel(id: number): Promise<Deployment> {
    return this.post(`/deployments/${encodeURIComponent(String(id))}/cancel`, 'Cancel', {});
  }

  async getEvents(id: number, options: { after?: number } = {}): Promise<EventsResult> {
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (options.after !== undefined) headers['Last-Event-ID'] = String(options.after);
    const response = await this.send(
      `/deployments/${encodeURIComponent(String(id))}/events?follow=false`,
      'Reading the log',
      { headers },
    );
    const parser = new SseParser();
    const result: EventsResult = { events: [] };
    for (const frame of parser.push(`${await response.text()}\n\n`)) {
      const event = toEvent(frame);
      if (event && (options.after === undefined || event.seq > options.after)) {
        result.events.push(event);
      }
      const end = toEnd(frame);
      if (end) result.end = end;
    }
    return result;
  }

  async streamEvents(id: number, options: StreamOptions): Promise<StreamResult> {
    const controller = new AbortController();
    const outer = options.signal;
    const onOuterAbort = () => controller.abort();
    if (outer?.aborted) return { outcome: 'aborted', lastSeq: options.after };
    outer?.addEventListener('abort', onOuterAbort);

    const stallMs = options.stallMs ?? this.stallMs;
    let stalled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        controller.abort();
      }, stallMs);
    };

    let lastSeq = options.after;
    const headers: Record<string, string> = {
      Accept: 'text/event-stream',
      'Cache-Control': 'no-cache',
    };
    if (lastSeq !== undefined) headers['Last-Event-ID'] = String(lastSeq);

    const finish = (result: StreamResult): StreamResult => {
      if (timer) clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
      return { ...result, lastSeq };
    };

    try {
      arm();
      const response = await this.send(
        `/deployments/${encodeURIComponent(String(id))}/events`,
        'Following the log',
        { headers, signal: controller.signal },
      );
      if (!response.body) return finish({ outcome: 'cut' });
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      arm();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return finish({ outcome: 'cut' });
        arm();
        const text = typeof value === 'string' ? value : decoder.decode(value, { stream: true });
        for (const frame of parser.push(text)) {
          const end = toEnd(frame);
          if (end) {
            reader.cancel().catch(() => undefined);
            return finish({ outcome: 'end', end });
          }
          const event = toEvent(frame);
          if (event && (lastSeq === undefined || event.seq > lastSeq)) {
            lastSeq = event.seq;
            options.onEvent(event);
          }
        }
      }
    } catch (error) {
      if (stalled) return finish({ outcome: 'stalled' });
      if (outer?.aborted) return finish({ outcome: 'aborted' });
      if (error instanceof ShipyardError && error.kind !== 'unreachable') {
        finish({ outcome: 'cut' });
        throw error;
      }
      return finish({ outcome: 'cut' });
    }
  }
}
