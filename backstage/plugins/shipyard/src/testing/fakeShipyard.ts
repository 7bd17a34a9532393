/**
 * A fake of the Shipyard backend plugin's HTTP answers behind a mocked `fetchApi`: the
 * card's real client runs against it, and every request it sent is recorded.
 */
import { FetchApi } from '@backstage/core-plugin-api';

export const BASE_URL = 'http://backstage.test/api/shipyard';

export interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** A body the test writes to while the card reads it. */
export class StreamBody {
  private chunks: Uint8Array[] = [];
  private waiting?: (result: { done: boolean; value?: Uint8Array }) => void;
  private failWaiting?: (error: Error) => void;
  private closed = false;
  private error?: Error;
  private encoder = new TextEncoder();

  push(text: string) {
    const chunk = this.encoder.encode(text);
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ done: false, value: chunk });
    } else {
      this.chunks.push(chunk);
    }
  }

  close() {
    this.closed = true;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ done: true });
    }
  }

  fail(error: Error) {
    this.error = error;
    if (this.failWaiting) {
      const reject = this.failWaiting;
      this.waiting = undefined;
      this.failWaiting = undefined;
      reject(error);
    }
  }

  getReader() {
    return {
      read: (): Promise<{ done: boolean; value?: Uint8Array }> => {
        if (this.chunks.length) return Promise.resolve({ done: false, value: this.chunks.shift() });
        if (this.error) return Promise.reject(this.error);
        if (this.closed) return Promise.resolve({ done: true });
        return new Promise((resolve, reject) => {
          this.waiting = resolve;
          this.failWaiting = reject;
        });
      },
      cancel: async () => {
        this.close();
      },
      releaseLock: () => undefined,
    };
  }
}

export type Answer =
  | { status: number; json?: unknown; text?: string; contentType?: string }
  | { status: number; stream: StreamBody }
  | { network: Error }
  | { pending: true };

export type Handler = (request: Recorded) => Answer | Promise<Answer>;

function response(answer: Answer): Response {
  if ('network' in answer || 'pending' in answer) throw new Error('not a response');
  const status = answer.status;
  const headers = new Map<string, string>();
  let text = '';
  let body: unknown = null;
  if ('stream' in answer) {
    headers.set('content-type', 'text/event-stream');
    body = answer.stream;
  } else if (answer.json !== undefined) {
    headers.set('content-type', answer.contentType ?? 'application/json');
    text = JSON.stringify(answer.json);
  } else {
    text = answer.text ?? '';
    if (answer.contentType) headers.set('content-type', answer.contentType);
  }
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: String(status),
    headers: { get: (name: string) => headers.get(name.toLowerCase()) ?? null },
    body,
    json: async () => JSON.parse(text),
    text: async () => text,
  } as unknown as Response;
}

/** `fetchApi` answering from `routes` (`'GET /components/default/orders'`, ...). */
export function fakeShipyard(routes: Record<string, Handler | Answer>) {
  const requests: Recorded[] = [];
  const fetch = jest.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = String(input);
    if (!url.startsWith(BASE_URL)) throw new TypeError(`unexpected URL ${url}`);
    const rest = url.slice(BASE_URL.length);
    const path = rest.split('?')[0];
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = Object.fromEntries(
      Object.entries((init.headers ?? {}) as Record<string, string>),
    );
    const request: Recorded = {
      method,
      path: rest,
      headers,
      body: init.body ? JSON.parse(String(init.body)) : undefined,
    };
    requests.push(request);
    const route = routes[`${method} ${rest}`] ?? routes[`${method} ${path}`];
    if (!route) {
      return response({
        status: 404,
        json: { error: { name: 'NotFoundError', message: `no route ${method} ${rest}` } },
      });
    }
    const answer = typeof route === 'function' ? await route(request) : route;
    if ('network' in answer) throw answer.network;
    if ('pending' in answer) {
      return new Promise<Response>((_, reject) =>
        init.signal?.addEventListener('abort', () =>
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' })),
        ),
      );
    }
    if ('stream' in answer) {
      init.signal?.addEventListener('abort', () =>
        answer.stream.fail(Object.assign(new Error('aborted'), { name: 'AbortError' })),
      );
    }
    return response(answer);
  });
  const fetchApi: FetchApi = { fetch: fetch as unknown as typeof globalThis.fetch };
  return { fetchApi, fetch, requests };
}

/** One SSE frame as Shipyard writes it. */
export function sseEvent(seq: number, message: string, kind = 'log', level = 'info'): string {
  const event = { seq, kind, level, message, data: null, created_at: '2026-12-02T22:00:00Z' };
  return `id: ${seq}\ndata: ${JSON.stringify(event)}\n\n`;
}

export function sseEnd(status: string): string {
  return `event: end\ndata: ${JSON.stringify({ status })}\n\n`;
}
