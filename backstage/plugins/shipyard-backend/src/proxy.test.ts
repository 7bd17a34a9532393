/*
 * The read-only alternative to the backend plugin: Backstage's own proxy
 * (@backstage/plugin-proxy-backend) with the `proxy.endpoints['/shipyard']` block of
 * docs/backstage.md, in a test backend (startTestBackend) against the real Shipyard that
 * jest's globalSetup started (test-support/shipyard_server.py).
 */
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import proxyPlugin from '@backstage/plugin-proxy-backend';
import type { JsonObject } from '@backstage/types';
import { beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import request from 'supertest';

interface TestServer {
  url: string;
  adminToken: string;
}

const shipyard: TestServer = JSON.parse(process.env.SHIPYARD_TEST_SERVER ?? '{}');

/** The name of the viewer token the proxy sends (its audit records' actor). */
const VIEWER = 'backstage-proxy';
let viewerToken = '';

const jane = mockCredentials.user.header('user:default/jane');

/** docs/backstage.md's block, as documented (SHIPYARD_VIEWER_TOKEN given). */
function documentedBlock(overrides: JsonObject = {}): JsonObject {
  return {
    proxy: {
      endpoints: {
        '/shipyard': {
          target: `${shipyard.url}/api/v1`,
          credentials: 'require',
          headers: { Authorization: `Bearer ${viewerToken}` },
          allowedMethods: ['GET'],
          allowedHeaders: ['Accept', 'Last-Event-ID'],
          ...overrides,
        },
      },
    },
  };
}

async function start(config: JsonObject) {
  const { server } = await startTestBackend({
    features: [
      proxyPlugin,
      mockServices.rootConfig.factory({ data: config }),
    ],
  });
  return server;
}

/**
 * A request straight to Shipyard (admin token), on a connection of its own: a pooled
 * keep-alive connection that Shipyard's server closed as idle (5 s) while this worker ran
 * another test file would fail the request with "other side closed" on a busy machine.
 */
function direct(path: string, init: { method?: string; body?: string } = {}) {
  return new Promise<{ status: number; text: string; json: () => any }>((resolve, reject) => {
    const call = http.request(
      `${shipyard.url}/api/v1${path}`,
      {
        method: init.method ?? 'GET',
        agent: false,
        headers: {
          Authorization: `Bearer ${shipyard.adminToken}`,
          'Content-Type': 'application/json',
        },
      },
      answer => {
        let text = '';
        answer.setEncoding('utf8');
        answer.on('data', (chunk: string) => {
          text += chunk;
        });
        answer.on('end', () =>
          resolve({ status: answer.statusCode ?? 0, text, json: () => JSON.parse(text) }),
        );
        answer.on('error', reject);
      },
    );
    call.on('error', reject);
    call.end(init.body);
  });
}

/** Shipyard's audit records of the viewer token's deploy requests (every request that
 * reaches Shipyard's deploy route is recorded, refused or not). */
async function viewerDeploys(): Promise<any[]> {
  const answer = await direct(`/audit?limit=200&actor=${VIEWER}`);
  expect(answer.status).toBe(200);
  const body = answer.json();
  return body.items.filter(
    (record: any) =>
      record.data?.method === 'POST' &&
      record.data?.path === '/api/v1/components/default/checkout/deployments',
  );
}

beforeAll(async () => {
  // `shipyard token create --name backstage-proxy --role viewer`, through the API
  const issued = await direct('/tokens', {
    method: 'POST',
    body: JSON.stringify({ name: VIEWER, role: 'viewer' }),
  });
  if (issued.status !== 201) {
    throw new Error(`the test Shipyard did not issue a viewer token: ${issued.text}`);
  }
  viewerToken = issued.json().secret;
});

describe("Backstage's proxy with the documented /shipyard block", () => {
  it("passes a GET with Backstage credentials on to Shipyard, as the viewer token, and relays Shipyard's JSON", async () => {
    const server = await start(documentedBlock());
    const response = await request(server)
      .get('/api/proxy/shipyard/components/default/checkout')
      .set('Authorization', jane);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    const own = await direct('/components/default/checkout');
    expect(response.body).toEqual(own.json());
    // the card's other read: the tag list, as Shipyard answers it (every tag, no paging)
    const tagList = await request(server)
      .get('/api/proxy/shipyard/components/default/checkout/tags')
      .set('Authorization', jane);
    expect(tagList.status).toBe(200);
    expect(tagList.body.items.map((item: any) => item.tag)).toEqual(
      expect.arrayContaining(['v1.0.0', 'v1.1.0', 'v1.2.0', 'v2.0.0']),
    );
    expect(tagList.body.total).toBeUndefined();
  });

  it('refuses a request without Backstage credentials (401)', async () => {
    const server = await start(documentedBlock());
    const response = await request(server)
      .get('/api/proxy/shipyard/components/default/checkout')
      .set('Authorization', mockCredentials.none.header());
    expect(response.status).toBe(401);
    expect(response.body.error.name).toBe('AuthenticationError');
  });

  it("passes a deployment's events on as Server-Sent Events, Last-Event-ID included", async () => {
    const server = await start(documentedBlock());
    const created = await direct('/components/default/checkout/previews', {
      method: 'POST',
      body: JSON.stringify({ environment: 'dev', tag: 'v1.0.0' }),
    });
    expect(created.status).toBe(202);
    const { id } = created.json();
    // no worker runs here: cancelling the queued preview gives it an event and an end
    const cancelled = await direct(`/deployments/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBeLessThan(300);
    const read = (lastEventId?: string) => {
      const call = request(server)
        .get(`/api/proxy/shipyard/deployments/${id}/events?follow=false`)
        .set('Authorization', jane);
      if (lastEventId) call.set('Last-Event-ID', lastEventId);
      return call.buffer(true).parse((res, done) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
        });
        res.on('end', () => done(null, text));
      });
    };
    const all = await read();
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(all.headers['cache-control']).toBe('no-cache, no-transform');
    const ids = [...(all.body as string).matchAll(/^id: (\d+)$/gm)].map(match => match[1]);
    expect(ids.length).toBeGreaterThan(0);
    expect(all.body).toContain('event: end');
    // resumed after the last event: Shipyard saw the header, nothing is sent twice
    const rest = await read(ids[ids.length - 1]);
    expect(rest.status).toBe(200);
    expect(rest.body).not.toMatch(/^id: /m);
    expect(rest.body).toContain('event: end');
  });

  it('refuses a deploy (POST) by allowedMethods: Shipyard never hears of it', async () => {
    const server = await start(documentedBlock());
    const before = (await viewerDeploys()).length;
    const refused = await request(server)
      .post('/api/proxy/shipyard/components/default/checkout/deployments')
      .set('Authorization', jane)
      .send({ environment: 'dev', tag: 'v2.0.0' });
    // the proxy lets the request fall through to no route: a 404 of Backstage's own,
    // not Shipyard's answer (its 403 problem for a viewer, below)
    expect(refused.status).toBe(404);
    expect(refused.text).not.toContain('urn:shipyard:problem');
    expect((await viewerDeploys()).length).toBe(before);

    // Without allowedMethods, the same POST reaches Shipyard, and only its viewer role
    // stops it (what allowedMethods spares Shipyard): the line is what the test relies on.
    const open = await start(documentedBlock({ allowedMethods: null }));
    const reached = await request(open)
      .post('/api/proxy/shipyard/components/default/checkout/deployments')
      .set('Authorization', jane)
      .set('Content-Type', 'application/json')
      .send({ environment: 'dev', tag: 'v2.0.0' });
    expect(reached.status).toBe(403);
    expect(reached.headers['content-type']).toContain('application/problem+json');
    expect(JSON.parse(reached.text).required_role).toBe('deployer');
    const after = await viewerDeploys();
    expect(after.length).toBe(before + 1);
    expect(after[0]).toMatchObject({
      actor: VIEWER,
      action: 'deployment.create',
      result: 'forbidden',
    });
  });
});
