/*
 * The backend plugin in a test backend (startTestBackend) against a real Shipyard that
 * jest's globalSetup started (test-support/shipyard_server.py): a `shipyard serve` on
 * loopback with components checkout (group:default/payments) and ledger
 * (group:default/finance), the on-behalf-of settings and the service token `backstage`.
 */
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import {
  AuthorizeResult,
  type AuthorizePermissionRequest,
} from '@backstage/plugin-permission-common';
import type { JsonObject } from '@backstage/types';
import { describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { shipyardPlugin } from './plugin';

interface TestServer {
  url: string;
  adminToken: string;
  serviceToken: string;
  secret: string;
}

const shipyard: TestServer = JSON.parse(process.env.SHIPYARD_TEST_SERVER ?? '{}');

const GROUPS: Record<string, string[]> = {
  'user:default/jane': ['group:default/payments'],
  'user:default/fin': ['group:default/finance'],
};

const jane = mockCredentials.user.header('user:default/jane');
const fin = mockCredentials.user.header('user:default/fin');

async function start(
  options: { deny?: string[]; config?: JsonObject } = {},
) {
  const deny = new Set(options.deny ?? []);
  const decisions: AuthorizePermissionRequest[] = [];
  const { server } = await startTestBackend({
    features: [
      shipyardPlugin,
      mockServices.rootConfig.factory({
        data: options.config ?? {
          shipyard: {
            baseUrl: shipyard.url,
            token: shipyard.serviceToken,
            onBehalfSecret: shipyard.secret,
          },
        },
      }),
      mockServices.userInfo.mock({
        async getUserInfo(credentials) {
          const principal = credentials.principal as { userEntityRef: string };
          const ref = principal.userEntityRef;
          return { userEntityRef: ref, ownershipEntityRefs: [ref, ...(GROUPS[ref] ?? [])] };
        },
      }).factory,
      // A permission policy: each shipyard permission named in `deny` is refused.
      mockServices.permissions.mock({
        async authorize(requests) {
          return requests.map(item => {
            decisions.push(item as AuthorizePermissionRequest);
            return {
              result: deny.has(item.permission.name)
                ? AuthorizeResult.DENY
                : AuthorizeResult.ALLOW,
            };
          });
        },
      }).factory,
    ],
  });
  return { server, decisions };
}

/** Shipyard's own answer, read with the admin token (what the plugin should relay). */
async function direct(path: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${shipyard.url}/api/v1${path}`, {
    headers: { Authorization: `Bearer ${shipyard.adminToken}` },
  });
  return { status: response.status, body: await response.json() };
}

async function auditOf(actor: string): Promise<any[]> {
  const { body } = await direct(`/audit?limit=200&actor=${encodeURIComponent(actor)}`);
  return body.items;
}

const JANE = 'backstage#user:default/jane via backstage';

describe('shipyard backend plugin', () => {
  it('refuses a request without credentials (401) and answers /health without', async () => {
    const { server } = await start();
    // The test backend reads a request with no Authorization header as a default mock
    // user; this header is its "no credentials at all".
    const refused = await request(server)
      .get('/api/shipyard/components/default/checkout')
      .set('Authorization', mockCredentials.none.header());
    expect(refused.status).toBe(401);
    const health = await request(server).get('/api/shipyard/health');
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok', configured: true });
  });

  it("relays Shipyard's component summary intact, as the person", async () => {
    const { server } = await start();
    const response = await request(server)
      .get('/api/shipyard/components/default/checkout')
      .set('Authorization', jane);
    expect(response.status).toBe(200);
    const own = await direct('/components/default/checkout');
    expect(response.body).toEqual(own.body);
    expect(response.body).toMatchObject({ namespace: 'default', name: 'checkout' });
    expect(Array.isArray(response.body.environments)).toBe(true); // stacks appear once deployed
  });

  it('deploys as the person: the request reaches Shipyard intact and its audit log names person and service', async () => {
    const { server, decisions } = await start();
    const response = await request(server)
      .post('/api/shipyard/components/default/checkout/deployments')
      .set('Authorization', jane)
      .send({ environment: 'staging', tag: 'v1.1.0' });
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({
      component: 'default/checkout',
      environment: 'staging',
      tag: 'v1.1.0',
      status: 'queued',
    });
    // Bodies intact both ways: Shipyard stored what was sent, and answered what it has.
    const stored = await direct(`/deployments/${response.body.id}`);
    expect(stored.body).toEqual(response.body);
    // The permission was asked for the entity.
    expect(decisions).toContainEqual({
      permission: expect.objectContaining({ name: 'shipyard.component.deploy' }),
      resourceRef: 'component:default/checkout',
    });
    const records = await auditOf(JANE);
    const deploy = records.find(
      record => record.request_id === response.headers['x-shipyard-request-id'],
    );
    expect(deploy).toMatchObject({
      actor: JANE,
      action: 'deployment.request',
      component: 'default/checkout',
      result: 'ok',
    });
    expect(deploy.token_id).not.toBeNull();
  });

  it('refuses what the permission policy denies, before Shipyard hears of it', async () => {
    const { server } = await start({ deny: ['shipyard.component.deploy'] });
    const before = (await auditOf(JANE)).length;
    const refused = await request(server)
      .post('/api/shipyard/components/default/checkout/deployments')
      .set('Authorization', jane)
      .send({ environment: 'dev', tag: 'v1.0.0' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toContain('shipyard.component.deploy');
    expect(refused.body.error.message).toContain('component:default/checkout in dev');
    expect((await auditOf(JANE)).length).toBe(before);
    // Another permission (rollback) is not denied: it reaches Shipyard, which answers.
    const rollback = await request(server)
      .post('/api/shipyard/components/default/checkout/rollback')
      .set('Authorization', jane)
      .send({ environment: 'dev' });
    expect(rollback.status).toBe(422);
    expect(rollback.body.type).toBe('urn:shipyard:problem:nothing-running');
  });

  it("refuses a person of another team (Shipyard's own scoping, behind Backstage's)", async () => {
    const { server } = await start();
    const refused = await request(server)
      .post('/api/shipyard/components/default/checkout/deployments')
      .set('Authorization', fin)
      .send({ environment: 'dev', tag: 'v1.0.0' });
    expect(refused.status).toBe(403);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    const problem = JSON.parse(refused.text);
    expect(problem.required_team).toBe('group:default/payments');
    expect(problem.detail).toContain('group:default/finance');
  });

  it('pages and searches the tags', async () => {
    const { server } = await start();
    const first = await request(server)
      .get('/api/shipyard/components/default/checkout/tags?q=v1.&limit=2')
      .set('Authorization', jane);
    expect(first.status).toBe(200);
    expect(first.body.items.map((item: any) => item.tag)).toEqual(['v1.2.0', 'v1.1.0']);
    expect(first.body).toMatchObject({ total: 3, offset: 0, limit: 2, next_offset: 2 });
    const rest = await request(server)
      .get('/api/shipyard/components/default/checkout/tags?q=v1.&limit=2&offset=2')
      .set('Authorization', jane);
    expect(rest.body.items.map((item: any) => item.tag)).toEqual(['v1.0.0']);
    expect(rest.body.next_offset).toBeNull();
    expect(rest.body.items[0].matches).toEqual({ dev: true, staging: true });
  });

  it("streams a deployment's events with headers that keep proxies from buffering", async () => {
    const { server } = await start();
    const deployed = await request(server)
      .post('/api/shipyard/components/default/checkout/previews')
      .set('Authorization', jane)
      .send({ environment: 'dev', tag: 'v1.0.0' });
    expect(deployed.status).toBe(202);
    const events = await request(server)
      .get(`/api/shipyard/deployments/${deployed.body.id}/events?follow=false`)
      .set('Authorization', jane)
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString('utf8');
        });
        res.on('end', () => done(null, text));
      });
    expect(events.status).toBe(200);
    expect(events.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(events.headers['cache-control']).toBe('no-cache, no-transform');
    expect(events.headers['x-accel-buffering']).toBe('no');
    expect(events.body).toContain('event: end');
    expect(events.body).toContain('"status": "queued"');
  });

  it('relays the events live: the stream is open before the deployment ends, and ends with it', async () => {
    const { server } = await start();
    const created = await request(server)
      .post('/api/shipyard/components/default/checkout/previews')
      .set('Authorization', jane)
      .send({ environment: 'staging', tag: 'v1.1.0' });
    expect(created.status).toBe(202);
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const stream = await fetch(`${base}/api/shipyard/deployments/${created.body.id}/events`, {
      headers: { Authorization: jane },
      signal: AbortSignal.timeout(30_000),
    });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // Something arrives while the deployment is still queued (not buffered to the end).
    while (!text.includes('\n\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).not.toContain('event: end');
    const cancelled = await request(server)
      .post(`/api/shipyard/deployments/${created.body.id}/cancel`)
      .set('Authorization', jane);
    expect(cancelled.status).toBeLessThan(300);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toContain('event: end');
    expect(text).toContain('"status": "cancelled"');
  });

  it('says which config key is missing', async () => {
    const { server } = await start({ config: { shipyard: { baseUrl: shipyard.url } } });
    const response = await request(server)
      .get('/api/shipyard/components/default/checkout')
      .set('Authorization', jane);
    expect(response.status).toBe(503);
    expect(response.body.error.message).toContain('shipyard.token, shipyard.onBehalfSecret');
    const health = await request(server).get('/api/shipyard/health');
    expect(health.body).toEqual({ status: 'ok', configured: false });
  });

  it("turns Shipyard's refusal of the plugin's own credentials into a 502 naming the config", async () => {
    const { server } = await start({
      config: {
        shipyard: {
          baseUrl: shipyard.url,
          token: shipyard.serviceToken,
          onBehalfSecret: 'not-the-secret-shipyard-has-0123456789',
        },
      },
    });
    const response = await request(server)
      .get('/api/shipyard/components/default/checkout')
      .set('Authorization', jane);
    expect(response.status).toBe(502);
    expect(response.body.error.message).toContain('shipyard.onBehalfSecret');
    expect(response.body.error.message).toContain('signature does not match');
  });

  it('says Shipyard cannot be reached', async () => {
    const { server } = await start({
      config: {
        shipyard: {
          baseUrl: 'http://127.0.0.1:9',
          token: shipyard.serviceToken,
          onBehalfSecret: shipyard.secret,
        },
      },
    });
    const response = await request(server)
      .get('/api/shipyard/components/default/checkout')
      .set('Authorization', jane);
    expect(response.status).toBe(503);
    expect(response.body.error.message).toContain('cannot be reached');
  });

  it('tells a component that is not onboarded how to onboard it', async () => {
    const { server } = await start();
    const response = await request(server)
      .get('/api/shipyard/components/default/not-there')
      .set('Authorization', jane);
    expect(response.status).toBe(404);
    expect(response.body.error.name).toBe('NotOnboarded');
    expect(response.body.error.message).toContain('shipyard.dev/');
  });
});
