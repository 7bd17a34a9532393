/*
 * A kept-alive connection to Shipyard that Shipyard closes as idle just as the plugin
 * reuses it (uvicorn closes idle connections after 5 s; a busy Backstage may reuse one
 * late): the plugin must not tell the person Shipyard cannot be reached. The "Shipyard"
 * here is a bare HTTP server that drops every second request on a connection without an
 * answer: that network behaviour is what is tested, not Shipyard's.
 */
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { shipyardPlugin } from './plugin';

const jane = mockCredentials.user.header('user:default/jane');

let upstream: http.Server;
let upstreamUrl = '';
const seen: { method: string; url: string; dropped: boolean }[] = [];

beforeAll(async () => {
  const served = new WeakMap<object, number>();
  upstream = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const count = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, count);
    // every second request on a connection, and every operation, gets no answer
    const dropped = count % 2 === 0 || req.method === 'POST';
    seen.push({ method: req.method ?? '', url: req.url ?? '', dropped });
    if (dropped) {
      req.socket.destroy(); // closed as idle, as far as the client can tell
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ namespace: 'default', name: 'checkout', environments: [] }));
  });
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise(resolve => upstream.close(resolve));
});

async function start() {
  const { server } = await startTestBackend({
    features: [
      shipyardPlugin,
      mockServices.rootConfig.factory({
        data: {
          shipyard: {
            baseUrl: upstreamUrl,
            token: 'shp_test',
            onBehalfSecret: 'a-secret-of-at-least-32-characters-0123456789',
          },
        },
      }),
      mockServices.userInfo.mock({
        async getUserInfo(credentials) {
          const ref = (credentials.principal as { userEntityRef: string }).userEntityRef;
          return { userEntityRef: ref, ownershipEntityRefs: [ref] };
        },
      }).factory,
      mockServices.permissions.mock({
        async authorize(requests) {
          return requests.map(() => ({ result: AuthorizeResult.ALLOW }));
        },
      }).factory,
    ],
  });
  return server;
}

describe('a kept-alive connection Shipyard closed', () => {
  it('is read again on a new connection, not reported as Shipyard unreachable', async () => {
    const server = await start();
    for (let i = 0; i < 3; i += 1) {
      const response = await request(server)
        .get('/api/shipyard/components/default/checkout')
        .set('Authorization', jane);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ namespace: 'default', name: 'checkout', environments: [] });
    }
    // the reused connection was dropped at least once, and the read still succeeded
    expect(seen.some(request_ => request_.dropped)).toBe(true);
  });

  it('never sends an operation twice: a deploy that got no answer is reported, not repeated', async () => {
    const server = await start();
    const before = seen.filter(request_ => request_.method === 'POST').length;
    const response = await request(server)
      .post('/api/shipyard/components/default/checkout/deployments')
      .set('Authorization', jane)
      .send({ environment: 'dev', tag: 'v1.0.0' });
    expect(response.status).toBe(503);
    expect(response.body.error.message).toContain('cannot be reached');
    expect(seen.filter(request_ => request_.method === 'POST').length).toBe(before + 1);
  });
});
