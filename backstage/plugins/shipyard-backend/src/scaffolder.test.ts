/*
 * The scaffolder actions against the real Shipyard jest's globalSetup started
 * (test-support/shipyard_server.py), run as the template's user.
 */
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { describe, expect, it } from '@jest/globals';
import {
  createShipyardDeployAction,
  createShipyardRegisterAction,
  type ActionServices,
} from './scaffolder';

const shipyard = JSON.parse(process.env.SHIPYARD_TEST_SERVER ?? '{}');

const GROUPS: Record<string, string[]> = {
  'user:default/jane': ['group:default/payments'],
  'user:default/ada': ['group:default/platform'],
};

function services(result = AuthorizeResult.ALLOW as AuthorizeResult.ALLOW | AuthorizeResult.DENY): ActionServices {
  return {
    config: mockServices.rootConfig({
      data: {
        shipyard: {
          baseUrl: shipyard.url,
          token: shipyard.serviceToken,
          onBehalfSecret: shipyard.secret,
        },
      },
    }),
    userInfo: mockServices.userInfo.mock({
      async getUserInfo(credentials) {
        const ref = (credentials.principal as { userEntityRef: string }).userEntityRef;
        return { userEntityRef: ref, ownershipEntityRefs: [ref, ...(GROUPS[ref] ?? [])] };
      },
    }),
    permissions: mockServices.permissions({ result }),
    pollSeconds: 0.1,
  };
}

function context(input: Record<string, unknown>, user: string) {
  const outputs: Record<string, unknown> = {};
  const ctx = {
    input,
    output: (name: string, value: unknown) => {
      outputs[name] = value;
    },
    logger: mockServices.logger.mock(),
    getInitiatorCredentials: async () => mockCredentials.user(user),
    workspacePath: '/nonexistent',
    task: { id: 'task-1' },
  };
  return { ctx: ctx as any, outputs };
}

async function audit(actor: string): Promise<any[]> {
  const response = await fetch(
    `${shipyard.url}/api/v1/audit?limit=200&actor=${encodeURIComponent(actor)}`,
    { headers: { Authorization: `Bearer ${shipyard.adminToken}` } },
  );
  return ((await response.json()) as any).items;
}

describe('shipyard:component:register', () => {
  it("registers a repository's components as an admin person, and refuses a deployer", async () => {
    const action = createShipyardRegisterAction(services());
    const refused = context({ repositoryUrl: shipyard.inventoryRepository }, 'user:default/jane');
    await expect(action.handler(refused.ctx)).rejects.toThrow(/403.*admin/);

    const { ctx, outputs } = context(
      { repositoryUrl: shipyard.inventoryRepository },
      'user:default/ada',
    );
    await action.handler(ctx);
    expect(outputs.components).toEqual(['default/inventory']);
    const records = await audit('backstage#user:default/ada via backstage');
    expect(records.some(record => record.action === 'component.register')).toBe(true);
  });
});

describe('shipyard:deploy', () => {
  it('deploys as the person and outputs the deployment', async () => {
    const action = createShipyardDeployAction(services());
    const { ctx, outputs } = context(
      { entityRef: 'component:default/checkout', environment: 'staging', tag: 'v1.2.0' },
      'user:default/jane',
    );
    await action.handler(ctx);
    expect(outputs.status).toBe('queued');
    const response = await fetch(`${shipyard.url}/api/v1/deployments/${outputs.deploymentId}`, {
      headers: { Authorization: `Bearer ${shipyard.adminToken}` },
    });
    expect(await response.json()).toMatchObject({
      component: 'default/checkout',
      environment: 'staging',
      tag: 'v1.2.0',
    });
  });

  it('waits, and says so when the deployment does not finish in time', async () => {
    // The test Shipyard runs no workers: the deployment stays queued.
    const action = createShipyardDeployAction(services());
    const { ctx } = context(
      {
        entityRef: 'component:default/checkout',
        environment: 'staging',
        tag: 'v1.0.0',
        wait: true,
        timeoutSeconds: 0.5,
      },
      'user:default/jane',
    );
    await expect(action.handler(ctx)).rejects.toThrow(/still queued after 0.5 s/);
  });

  it("refuses what Backstage's policy denies, and what Shipyard's team scoping refuses", async () => {
    const denied = createShipyardDeployAction(services(AuthorizeResult.DENY));
    const one = context(
      { entityRef: 'component:default/checkout', environment: 'dev', tag: 'v1.0.0' },
      'user:default/jane',
    );
    await expect(denied.handler(one.ctx)).rejects.toThrow(/shipyard.component.deploy/);

    const action = createShipyardDeployAction(services());
    const other = context(
      { entityRef: 'component:default/ledger', environment: 'dev', tag: 'v1.0.0' },
      'user:default/jane',
    );
    await expect(action.handler(other.ctx)).rejects.toThrow(/403.*group:default\/finance/);
  });
});
