/*
 * The card's polling fallback, through the backend plugin, against the real Shipyard
 * that jest's globalSetup started (test-support/shipyard_server.py): when the live
 * stream is cut, the card reads the stored events after the last one it saw
 * (`?follow=false` with `Last-Event-ID`) and the deployment, whose status is the truth.
 */
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { shipyardPlugin } from './plugin';

const shipyard: { url: string; adminToken: string; serviceToken: string; secret: string } =
  JSON.parse(process.env.SHIPYARD_TEST_SERVER ?? '{}');

const jane = mockCredentials.user.header('user:default/jane');

async function start() {
  const { server } = await startTestBackend({
    features: [
      shipyardPlugin,
      mockServices.rootConfig.factory({
        data: {
          shipyard: {
            baseUrl: shipyard.url,
            token: shipyard.serviceToken,
            onBehalfSecret: shipyard.secret,
          },
        },
      }),
      mockServices.userInfo.mock({
        async getUserInfo(credentials) {
          const ref = (credentials.principal as { userEntityRef: string }).userEntityRef;
          return { userEntityRef: ref, ownershipEntityRefs: [ref, 'group:default/payments'] };
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

/** One poll of the stored events, as the card makes it. */
function poll(server: Parameters<typeof request>[0], id: number, lastEventId?: string) {
  const call = request(server)
    .get(`/api/shipyard/deployments/${id}/events?follow=false`)
    .set('Authorization', jane)
    .set('Accept', 'text/event-stream');
  if (lastEventId !== undefined) call.set('Last-Event-ID', lastEventId);
  return call.buffer(true).parse((res, done) => {
    let text = '';
    res.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    res.on('end', () => done(null, text));
  });
}

function ids(text: string): string[] {
  return [...text.matchAll(/^id: (\d+)$/gm)].map(match => match[1]);
}

describe('the polling fallback through the backend plugin', () => {
  it('takes over when the live stream is cut: stored events after the last seen, and the status from the database', async () => {
    const server = await start();
    const created = await request(server)
      .post('/api/shipyard/components/default/checkout/previews')
      .set('Authorization', jane)
      .send({ environment: 'dev', tag: 'v1.2.0' });
    expect(created.status).toBe(202);
    const id: number = created.body.id;

    // The live stream is open while the deployment is queued ...
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const cut = new AbortController();
    const stream = await fetch(`${base}/api/shipyard/deployments/${id}/events`, {
      headers: { Authorization: jane, Accept: 'text/event-stream' },
      signal: cut.signal,
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).not.toContain('event: end');
    // ... and cut (a load balancer's idle timeout, a proxy restart) before its end.
    cut.abort();
    await reader.cancel().catch(() => undefined);

    // The cut stream changed nothing in Shipyard: the deployment is still queued.
    const during = await request(server).get(`/api/shipyard/deployments/${id}`).set('Authorization', jane);
    expect(during.status).toBe(200);
    expect(during.body.status).toBe('queued');

    // It ends meanwhile, unseen by the card.
    const cancelled = await request(server)
      .post(`/api/shipyard/deployments/${id}/cancel`)
      .set('Authorization', jane);
    expect(cancelled.status).toBeLessThan(300);

    // First poll: every stored event (none was seen live), then the end.
    const first = await poll(server, id);
    expect(first.status).toBe(200);
    expect(first.headers['content-type']).toMatch(/^text\/event-stream/);
    const seen = ids(first.body);
    expect(seen.length).toBeGreaterThan(0);
    expect(first.body).toContain('event: end');
    expect(first.body).toContain('"status": "cancelled"');
    // A poll after the last event seen sends none again (Last-Event-ID reached Shipyard).
    const again = await poll(server, id, seen[seen.length - 1]);
    expect(again.status).toBe(200);
    expect(ids(again.body)).toEqual([]);
    expect(again.body).toContain('event: end');

    // The deployment, as the database has it: what the card shows as final.
    const final = await request(server).get(`/api/shipyard/deployments/${id}`).set('Authorization', jane);
    expect(final.status).toBe(200);
    expect(final.body.status).toBe('cancelled');
    // straight from Shipyard, with supertest (a connection per request: not fetch's pool,
    // whose idle connections Shipyard closes after 5 s, racing a busy worker's reuse)
    const own = await request(shipyard.url)
      .get(`/api/v1/deployments/${id}`)
      .set('Authorization', `Bearer ${shipyard.adminToken}`);
    expect(own.status).toBe(200);
    expect(final.body).toEqual(own.body);
  });
});
