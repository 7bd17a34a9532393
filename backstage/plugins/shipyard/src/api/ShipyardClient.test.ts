import { ShipyardClient } from './ShipyardClient';
import { ShipyardError } from './errors';
import { SseParser } from './sse';
import { BASE_URL, StreamBody, fakeShipyard, sseEnd, sseEvent } from '../testing/fakeShipyard';

const ref = { namespace: 'default', name: 'orders' };

function client(routes: Parameters<typeof fakeShipyard>[0], proxyPath?: string) {
  const shipyard = fakeShipyard(routes);
  const getBaseUrl = jest.fn(async (plugin: string) =>
    plugin === 'proxy' ? 'http://backstage.test/api/proxy' : BASE_URL,
  );
  return {
    ...shipyard,
    getBaseUrl,
    client: new ShipyardClient({ discoveryApi: { getBaseUrl }, fetchApi: shipyard.fetchApi, proxyPath }),
  };
}

describe('SseParser', () => {
  it('yields whole frames however the text is split, and skips heartbeats', () => {
    const parser = new SseParser();
    const text = `: keep-alive\n\n${sseEvent(1, 'a')}id: 2\r\ndata: {"seq": 2,\r\ndata: "x": 1}\r\n\r\n${sseEnd('failed')}`;
    const frames = [];
    for (const char of text) frames.push(...parser.push(char));
    expect(frames).toEqual([
      { id: '1', event: 'message', data: JSON.stringify({ seq: 1, kind: 'log', level: 'info', message: 'a', data: null, created_at: '2026-12-02T22:00:00Z' }) },
      { id: '2', event: 'message', data: '{"seq": 2,\n"x": 1}' },
      { id: '2', event: 'end', data: '{"status":"failed"}' },
    ]);
  });
});

describe('ShipyardClient', () => {
  it('asks the shipyard backend plugin, under Shipyard own paths, escaping names', async () => {
    const { client: shipyard, requests, getBaseUrl } = client({
      'GET /components/default/a%2Fb/deployments?environment=dev&limit=5': {
        status: 200,
        json: { items: [], offset: 0, limit: 5, next_offset: null },
      },
    });
    await shipyard.listDeployments({ namespace: 'default', name: 'a/b' }, { environment: 'dev', limit: 5 });
    expect(getBaseUrl).toHaveBeenCalledWith('shipyard');
    expect(requests[0].path).toBe('/components/default/a%2Fb/deployments?environment=dev&limit=5');
  });

  it('reads through the proxy endpoint when proxyPath is set', async () => {
    const routes = {};
    const shipyard = fakeShipyard(routes);
    const urls: string[] = [];
    const fetchApi = {
      fetch: (async (url: string) => {
        urls.push(url);
        return { ok: true, status: 200, json: async () => ({ component: 'default/orders', items: [] }) };
      }) as unknown as typeof fetch,
    };
    const proxied = new ShipyardClient({
      discoveryApi: { getBaseUrl: async () => 'http://backstage.test/api/proxy' },
      fetchApi,
      proxyPath: '/shipyard',
    });
    await proxied.listTags(ref);
    expect(urls).toEqual(['http://backstage.test/api/proxy/shipyard/components/default/orders/tags']);
    expect(shipyard.fetch).not.toHaveBeenCalled();
  });

  it('sends force only when asked', async () => {
    const { client: shipyard, requests } = client({
      'POST /components/default/orders/deployments': { status: 202, json: { id: 1 } },
    });
    await shipyard.deploy(ref, { environment: 'dev', tag: 'v1' });
    await shipyard.deploy(ref, { environment: 'dev', tag: 'v1', force: true });
    expect(requests.map(request => request.body)).toEqual([
      { environment: 'dev', tag: 'v1' },
      { environment: 'dev', tag: 'v1', force: true },
    ]);
  });

  it('sorts errors into what a person can act on', async () => {
    const { client: shipyard } = client({
      'GET /deployments/1': { status: 401, json: { error: { name: 'AuthenticationError', message: 'Missing credentials' } } },
      'GET /deployments/2': { status: 422, json: { title: 'Invalid', status: 422, detail: 'tag: bad' } },
      'GET /deployments/3': { status: 500, json: { title: 'Internal', status: 500, detail: 'boom', request_id: 'r-1' } },
      'GET /deployments/4': { network: new TypeError('Failed to fetch') },
    });
    const kinds = await Promise.all(
      [1, 2, 3, 4].map(id => shipyard.getDeployment(id).catch((error: ShipyardError) => [error.kind, error.message])),
    );
    expect(kinds).toEqual([
      ['unauthorized', 'Reading the deployment was refused: not signed in: Missing credentials'],
      ['invalid', 'Reading the deployment was refused: tag: bad'],
      ['server', 'Reading the deployment failed (500): boom'],
      ['unreachable', 'Shipyard cannot be reached (Failed to fetch)'],
    ]);
  });

  it('follows a stream with Last-Event-ID, skipping events already seen, until its end', async () => {
    const stream = new StreamBody();
    const { client: shipyard, requests } = client({ 'GET /deployments/5/events': { status: 200, stream } });
    const seen: number[] = [];
    const done = shipyard.streamEvents(5, { after: 1, onEvent: event => seen.push(event.seq) });
    stream.push(`${sseEvent(1, 'old')}${sseEvent(2, 'new')}: heartbeat\n\n`);
    stream.push(sseEvent(3, 'last') + sseEnd('succeeded'));
    expect(await done).toEqual({ outcome: 'end', end: 'succeeded', lastSeq: 3 });
    expect(seen).toEqual([2, 3]);
    expect(requests[0].headers).toMatchObject({ Accept: 'text/event-stream', 'Last-Event-ID': '1' });
  });

  it('gives a stream up as stalled when nothing (not even a heartbeat) arrives', async () => {
    const stream = new StreamBody();
    const { client: shipyard } = client({ 'GET /deployments/5/events': { status: 200, stream } });
    const done = shipyard.streamEvents(5, { stallMs: 50, onEvent: () => undefined });
    stream.push(sseEvent(1, 'first'));
    expect(await done).toEqual({ outcome: 'stalled', lastSeq: 1 });
  });
});
