import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { SWRConfig } from 'swr';
import { Entity } from '@backstage/catalog-model';
import { configApiRef } from '@backstage/core-plugin-api';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { mockApis, renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import { shipyardApiRef } from '../api/ShipyardApi';
import { ShipyardClient } from '../api/ShipyardClient';
import { BASE_URL, Answer, Handler, StreamBody, fakeShipyard, sseEnd, sseEvent } from '../testing/fakeShipyard';
import { component, deployment, nothingDeployed, orders, tags } from '../testing/fixtures';
import { ShipyardCard, ShipyardContent } from './ShipyardCard';

const COMPONENT = 'GET /components/default/orders';
const HISTORY = 'GET /components/default/orders/deployments';
const TAGS = 'GET /components/default/orders/tags';

const STALL_MS = 1500;
const AFTER_STALL = { timeout: STALL_MS + 5000 };

interface RenderOptions {
  entity?: Entity;
  deny?: string[];
  config?: NonNullable<Parameters<typeof mockApis.config>[0]>['data'];
  page?: boolean;
}

async function renderCard(routes: Record<string, Handler | Answer>, options: RenderOptions = {}) {
  const shipyard = fakeShipyard(routes);
  const discoveryApi = { getBaseUrl: jest.fn(async () => BASE_URL) };
  const client = new ShipyardClient({ discoveryApi, fetchApi: shipyard.fetchApi });
  const deny = options.deny ?? [];
  const permissionApi = mockApis.permission({
    authorize: request =>
      deny.includes(request.permission.name) ? AuthorizeResult.DENY : AuthorizeResult.ALLOW,
  });
  // a stream with no byte for 1.5 s is stalled here (20 s in an app)
  const card = options.page ? (
    <ShipyardContent stallMs={STALL_MS} pollMs={20} />
  ) : (
    <ShipyardCard stallMs={STALL_MS} pollMs={20} />
  );
  await renderInTestApp(
    <TestApiProvider
      apis={[
        [shipyardApiRef, client],
        [permissionApiRef, permissionApi],
        [configApiRef, mockApis.config({ data: options.config ?? {} })],
      ]}
    >
      {/* usePermission caches answers in SWR: a fresh cache per test */}
      <SWRConfig value={{ provider: () => new Map() }}>
        <EntityProvider entity={options.entity ?? orders}>{card}</EntityProvider>
      </SWRConfig>
    </TestApiProvider>,
  );
  return { ...shipyard, discoveryApi };
}

const emptyHistory: Answer = {
  status: 200,
  json: { items: [], offset: 0, limit: 5, next_offset: null },
};
const someHistory: Answer = {
  status: 200,
  json: { items: [deployment()], offset: 0, limit: 5, next_offset: null },
};

describe('ShipyardCard states', () => {
  it('says it is loading while Shipyard has not answered', async () => {
    await renderCard({ [COMPONENT]: { pending: true }, [HISTORY]: { pending: true } });
    expect(screen.getByText('Asking Shipyard about orders…')).toBeInTheDocument();
  });

  it('tells how to onboard a component without shipyard.dev annotations, asking Shipyard nothing', async () => {
    const entity = { ...orders, metadata: { name: 'orders', namespace: 'default' } };
    const { fetch } = await renderCard({}, { entity });
    expect(screen.getByText('orders is not onboarded to Shipyard')).toBeInTheDocument();
    expect(screen.getByText(/shipyard\.dev\/template: web-service/)).toBeInTheDocument();
    expect(screen.getByText('shipyard component sync')).toBeInTheDocument();
    expect(fetch).not.toHaveBeenCalled();
  });

  it('names the missing config keys when the backend plugin is not configured', async () => {
    // what shipyard-backend answers (a ServiceUnavailableError through Backstage's error handler)
    const notConfigured: Answer = {
      status: 503,
      json: {
        error: {
          name: 'ServiceUnavailableError',
          message:
            "Shipyard is not configured in this Backstage: set shipyard.baseUrl, shipyard.token in app-config (see the shipyard-backend plugin's README)",
        },
        response: { statusCode: 503 },
      },
    };
    await renderCard({ [COMPONENT]: notConfigured, [HISTORY]: notConfigured });
    const alert = await screen.findByRole('alert');
    expect(within(alert).getByText('Shipyard is not configured in this Backstage')).toBeInTheDocument();
    expect(within(alert).getByText('shipyard.baseUrl, shipyard.token')).toBeInTheDocument();
    expect(
      within(alert).getByText(
        "Set shipyard.baseUrl, shipyard.token in the Backstage backend's app-config and restart it.",
      ),
    ).toBeInTheDocument();
  });

  it('says which config to check when Shipyard refuses the backend plugin\'s credentials', async () => {
    const refused: Answer = {
      status: 502,
      json: {
        error: {
          name: 'ShipyardCredentialsRefused',
          message: "Shipyard refused this Backstage's credentials: invalid token (check shipyard.token)",
        },
      },
    };
    await renderCard({ [COMPONENT]: refused, [HISTORY]: refused });
    const alert = await screen.findByRole('alert');
    expect(within(alert).getByText('Shipyard is not configured in this Backstage')).toBeInTheDocument();
    expect(within(alert).getByText(/Check shipyard\.token and shipyard\.onBehalfSecret/)).toBeInTheDocument();
  });

  it('says to install the backend plugin when Backstage does not know /api/shipyard', async () => {
    await renderCard({});
    const alert = await screen.findByRole('alert');
    expect(within(alert).getByText('Shipyard is not configured in this Backstage')).toBeInTheDocument();
    expect(within(alert).getByText(/Install and configure the Shipyard backend plugin/)).toBeInTheDocument();
  });

  it('names the refused permission when the backend forbids an operation', async () => {
    // what shipyard-backend answers when the permission policy refuses
    const forbidden: Answer = {
      status: 403,
      json: {
        error: {
          name: 'NotAllowedError',
          message:
            "user:default/guest may not deploy component:default/orders in dev: Backstage's permission policy refuses shipyard.component.deploy",
        },
      },
    };
    await renderCard({ [COMPONENT]: forbidden, [HISTORY]: forbidden });
    const alert = await screen.findByRole('alert');
    expect(within(alert).getByText('Not allowed')).toBeInTheDocument();
    expect(within(alert).getByText('shipyard.component.deploy')).toBeInTheDocument();
    expect(
      within(alert).getByText(
        'Ask your platform team for the Backstage permission shipyard.component.deploy on this component.',
      ),
    ).toBeInTheDocument();
  });

  it('names the team Shipyard itself requires', async () => {
    const forbidden: Answer = {
      status: 403,
      contentType: 'application/problem+json',
      json: {
        type: 'urn:shipyard:problem:access-denied',
        title: 'Forbidden',
        status: 403,
        detail: 'default/orders belongs to group:default/payments',
        required_role: 'deployer',
        required_team: 'group:default/payments',
      },
    };
    await renderCard({ [COMPONENT]: forbidden, [HISTORY]: forbidden });
    const alert = await screen.findByRole('alert');
    expect(
      within(alert).getByText("Only the component's team (group:default/payments) may do this in Shipyard."),
    ).toBeInTheDocument();
  });

  it('says Shipyard cannot be reached when the request fails, and retries on demand', async () => {
    let calls = 0;
    await renderCard({
      [COMPONENT]: () => {
        calls += 1;
        return calls === 1 ? { network: new TypeError('Failed to fetch') } : { status: 200, json: component() };
      },
      [HISTORY]: someHistory,
    });
    const alert = await screen.findByRole('alert');
    expect(within(alert).getByText('Shipyard cannot be reached')).toBeInTheDocument();
    expect(within(alert).getByText(/Check that Shipyard is running/)).toBeInTheDocument();
    await userEvent.click(within(alert).getByRole('button', { name: 'Retry' }));
    expect(await screen.findByText('v1.1.0', { selector: 'td' })).toBeInTheDocument();
  });

  it('says Shipyard cannot be reached when the backend plugin cannot reach it', async () => {
    await renderCard({
      [COMPONENT]: {
        status: 503,
        json: {
          error: {
            name: 'ServiceUnavailableError',
            message:
              'Shipyard at http://127.0.0.1:8000 cannot be reached (fetch failed): is it running, and is shipyard.baseUrl right?',
          },
        },
      },
      [HISTORY]: emptyHistory,
    });
    const alert = await screen.findByRole('alert');
    expect(within(alert).getByText('Shipyard cannot be reached')).toBeInTheDocument();
    expect(
      within(alert).getByText(
        'Shipyard at http://127.0.0.1:8000 cannot be reached (fetch failed): is it running, and is shipyard.baseUrl right?',
      ),
    ).toBeInTheDocument();
  });

  it('says how to register a component Shipyard does not know', async () => {
    // what shipyard-backend answers when Shipyard answers 404 for the component
    const notOnboarded: Answer = {
      status: 404,
      json: {
        error: {
          name: 'NotOnboarded',
          message:
            'component:default/orders is not a Shipyard component yet: add shipyard.dev/ annotations to its catalog-info.yaml and register it',
        },
      },
    };
    await renderCard({ [COMPONENT]: notOnboarded, [HISTORY]: notOnboarded });
    const alert = await screen.findByRole('alert');
    expect(within(alert).getByText('Shipyard does not know this component yet')).toBeInTheDocument();
    expect(within(alert).getByText(/is not a Shipyard component yet/)).toBeInTheDocument();
    expect(within(alert).getByText(/shipyard component register/)).toBeInTheDocument();
  });

  it('says nothing is deployed yet, and still offers Deploy per environment', async () => {
    await renderCard({ [COMPONENT]: { status: 200, json: nothingDeployed() }, [HISTORY]: emptyHistory });
    expect(await screen.findByText('Nothing deployed yet: pick an environment and Deploy a tag.')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Deploy to dev' })).toBeEnabled();
    expect(screen.getByRole('button', { name: 'Rollback dev' })).toBeDisabled();
    expect(screen.getByText('No deployment yet.')).toBeInTheDocument();
  });

  it('shows per environment the running tag, status, health and URL', async () => {
    await renderCard({ [COMPONENT]: { status: 200, json: component() }, [HISTORY]: someHistory });
    const dev = await screen.findByTestId('env-dev');
    expect(within(dev).getByText('v1.1.0')).toBeInTheDocument();
    expect(within(dev).getByText('release 3')).toBeInTheDocument();
    expect(within(dev).getByText('succeeded')).toBeInTheDocument();
    expect(within(dev).getByText('healthy')).toBeInTheDocument();
    expect(within(dev).getByRole('link', { name: 'http://127.0.0.1:18080' })).toHaveAttribute(
      'href',
      'http://127.0.0.1:18080',
    );
    const prod = screen.getByTestId('env-prod');
    expect(within(prod).getByText('nothing')).toBeInTheDocument();
    expect(within(prod).getByText('production')).toBeInTheDocument();
    expect(within(screen.getByTestId('deployment-7')).getByText('deploy v1.1.0 (release 3)')).toBeInTheDocument();
  });

  it('disables what usePermission refuses and names the permission', async () => {
    await renderCard(
      { [COMPONENT]: { status: 200, json: component() }, [HISTORY]: someHistory },
      { deny: ['shipyard.component.deploy', 'shipyard.component.rollback', 'shipyard.component.promote'] },
    );
    // shown once usePermission answered (buttons are disabled while it asks, too)
    expect(await screen.findByText('shipyard.component.deploy')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Deploy to dev' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Rollback dev' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Promote dev to prod' })).toBeDisabled();
  });

  it('disables only Rollback when only rollback is refused', async () => {
    await renderCard(
      { [COMPONENT]: { status: 200, json: component() }, [HISTORY]: someHistory },
      { deny: ['shipyard.component.rollback'] },
    );
    await screen.findByTestId('env-dev');
    // every button is disabled while usePermission asks: wait for the answers
    await waitFor(() => expect(screen.getByRole('button', { name: 'Deploy to dev' })).toBeEnabled());
    expect(screen.getByRole('button', { name: 'Rollback dev' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Promote dev to prod' })).toBeEnabled();
  });
});

describe('ShipyardCard actions', () => {
  function routes(extra: Record<string, Handler | Answer> = {}, stream?: StreamBody) {
    return {
      [COMPONENT]: { status: 200, json: component() } as Answer,
      [HISTORY]: someHistory,
      [TAGS]: { status: 200, json: { component: 'default/orders', items: tags(3) } } as Answer,
      'GET /deployments/8/events': stream
        ? ({ status: 200, stream } as Answer)
        : ({ status: 200, stream: new StreamBody() } as Answer),
      'GET /deployments/8': { status: 200, json: deployment({ id: 8, tag: 'v1.3.0', status: 'running' }) } as Answer,
      ...extra,
    };
  }

  it('deploys the picked tag with the exact request, and streams its log in', async () => {
    const stream = new StreamBody();
    let finished = false;
    const { requests } = await renderCard(
      routes(
        {
          'POST /components/default/orders/deployments': {
            status: 202,
            json: deployment({ id: 8, tag: 'v1.3.0', status: 'queued', release: null }),
          },
          'GET /deployments/8': () => ({
            status: 200,
            json: deployment({ id: 8, tag: 'v1.3.0', status: finished ? 'succeeded' : 'running', url: 'http://127.0.0.1:18081' }),
          }),
        },
        stream,
      ),
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Deploy to dev' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.click(await within(dialog).findByRole('button', { name: 'tag v1.3.0' }));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Deploy v1.3.0 to dev' }));

    const post = requests.find(request => request.method === 'POST');
    expect(post).toEqual({
      method: 'POST',
      path: '/components/default/orders/deployments',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: { environment: 'dev', tag: 'v1.3.0' },
    });

    const log = await screen.findByTestId('shipyard-log');
    const follow = requests.find(request => request.path === '/deployments/8/events');
    expect(follow?.headers.Accept).toBe('text/event-stream');
    act(() => stream.push(sseEvent(1, 'building v1.3.0')));
    expect(await within(log).findByText('building v1.3.0')).toBeInTheDocument();
    act(() => stream.push(sseEvent(2, 'service answered its health check')));
    expect(await within(log).findByText('service answered its health check')).toBeInTheDocument();
    finished = true;
    act(() => {
      stream.push(sseEvent(3, 'deployment succeeded', 'deployment.succeeded'));
      stream.push(sseEnd('succeeded'));
    });
    expect(await screen.findByText('http://127.0.0.1:18081')).toBeInTheDocument();
    expect(within(log).getByText('deployment succeeded')).toBeInTheDocument();
  });

  it('asks for a typed confirmation before deploying to production', async () => {
    const { requests } = await renderCard(
      routes({
        'POST /components/default/orders/deployments': {
          status: 202,
          json: deployment({ id: 8, environment: 'prod', tag: 'v1.2.0', status: 'queued' }),
        },
      }),
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Deploy to prod' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText('prod is a production environment.')).toBeInTheDocument();
    await userEvent.click(await within(dialog).findByRole('button', { name: 'tag v1.2.0' }));
    const submit = within(dialog).getByRole('button', { name: 'Deploy v1.2.0 to prod' });
    expect(submit).toBeDisabled();
    await userEvent.type(within(dialog).getByLabelText('Type orders to confirm'), 'order');
    expect(submit).toBeDisabled();
    await userEvent.type(within(dialog).getByLabelText('Type orders to confirm'), 's');
    expect(submit).toBeEnabled();
    await userEvent.click(submit);
    await waitFor(() =>
      expect(requests.find(request => request.method === 'POST')?.body).toEqual({
        environment: 'prod',
        tag: 'v1.2.0',
      }),
    );
  });

  it('a refused deploy says what happened and what to do, in the dialog', async () => {
    await renderCard(
      routes({
        'POST /components/default/orders/deployments': {
          status: 409,
          json: {
            type: 'urn:shipyard:problem:job-conflict',
            title: 'Conflict',
            status: 409,
            detail: 'a deployment of default/orders in dev is already running',
          },
        },
      }),
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Deploy to dev' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.click(await within(dialog).findByRole('button', { name: 'tag v1.3.0' }));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Deploy v1.3.0 to dev' }));
    const alert = await within(dialog).findByRole('alert');
    expect(
      within(alert).getByText('Deploy was refused: a deployment of default/orders in dev is already running'),
    ).toBeInTheDocument();
    expect(within(alert).getByText('Wait for the running operation to finish, then try again.')).toBeInTheDocument();
  });

  it('a deploy the backend forbids names the permission to ask for', async () => {
    await renderCard(
      routes({
        'POST /components/default/orders/deployments': {
          status: 403,
          json: { title: 'Forbidden', status: 403, detail: 'denied by policy', permission: 'shipyard.component.deploy' },
        },
      }),
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Deploy to dev' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.click(await within(dialog).findByRole('button', { name: 'tag v1.3.0' }));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Deploy v1.3.0 to dev' }));
    const alert = await within(dialog).findByRole('alert');
    expect(
      within(alert).getByText(
        'Ask your platform team for the Backstage permission shipyard.component.deploy on this component.',
      ),
    ).toBeInTheDocument();
  });

  it('rolls back and promotes with the exact requests', async () => {
    const { requests } = await renderCard(
      routes({
        'POST /components/default/orders/rollback': {
          status: 202,
          json: deployment({ id: 8, reason: 'rollback', status: 'queued' }),
        },
        'POST /components/default/orders/promote': {
          status: 202,
          json: deployment({ id: 8, environment: 'prod', reason: 'promote', status: 'queued' }),
        },
      }),
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Rollback dev' }));
    let dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText(/dev runs v1\.1\.0 \(release 3\)/)).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Roll back' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).not.toBeInTheDocument());

    await userEvent.click(screen.getByRole('button', { name: 'Promote dev to prod' }));
    dialog = await screen.findByRole('dialog');
    // prod is a production environment: promoting to it needs the typed confirmation
    await userEvent.type(within(dialog).getByLabelText('Type orders to confirm'), 'orders');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Promote' }));
    await waitFor(() => expect(requests.filter(request => request.method === 'POST')).toHaveLength(2));
    const posts = requests.filter(request => request.method === 'POST');
    expect(posts.map(({ path, body }) => ({ path, body }))).toEqual([
      { path: '/components/default/orders/rollback', body: { environment: 'dev' } },
      { path: '/components/default/orders/promote', body: { from: 'dev', to: 'prod' } },
    ]);
  });

  it('previews a tag and shows the diff once the preview finished', async () => {
    const stream = new StreamBody();
    const diff = [
      { resource: 'orders-dev', type: 'shipyard:local:Service', operation: 'update', changed_inputs: ['image'], urn: 'urn:1' },
    ];
    const { requests } = await renderCard(
      routes(
        {
          'POST /components/default/orders/previews': {
            status: 202,
            json: deployment({ id: 8, reason: 'preview', status: 'queued' }),
          },
          'GET /deployments/8': { status: 200, json: deployment({ id: 8, reason: 'preview', diff }) },
        },
        stream,
      ),
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Preview dev' }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.click(await within(dialog).findByRole('button', { name: 'tag v1.2.0' }));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Preview' }));
    expect(requests.find(request => request.method === 'POST')?.body).toEqual({ environment: 'dev', tag: 'v1.2.0' });
    act(() => stream.push(sseEnd('succeeded')));
    const table = await screen.findByRole('table', { name: 'Preview diff' });
    expect(within(table).getByText('orders-dev')).toBeInTheDocument();
    expect(within(table).getByText('image')).toBeInTheDocument();
  });
});

describe('the tag picker', () => {
  it('searches and pages the tags, and marks those an environment does not admit', async () => {
    const many = tags(20).map(tag => ({ ...tag, matches: { dev: true, prod: tag.tag !== 'v1.20.0' } }));
    await renderCard({
      [COMPONENT]: { status: 200, json: component() },
      [HISTORY]: someHistory,
      [TAGS]: { status: 200, json: { component: 'default/orders', items: many } },
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Deploy to prod' }));
    const dialog = await screen.findByRole('dialog');
    expect(await within(dialog).findByText('1-8 of 20')).toBeInTheDocument();
    expect(within(dialog).getByText("not admitted by prod's tag-pattern")).toBeInTheDocument();
    expect(within(dialog).queryAllByText('dev: yes (running)')).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole('button', { name: 'Older' }));
    expect(await within(dialog).findByText('9-16 of 20')).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Older' }));
    expect(await within(dialog).findByText('17-20 of 20')).toBeInTheDocument();
    expect(within(dialog).getByText('dev: yes (running)')).toBeInTheDocument();

    fireEvent.change(within(dialog).getByLabelText('Search tags'), { target: { value: 'v1.1' } });
    expect(await within(dialog).findByText('1-8 of 11')).toBeInTheDocument();
    const list = within(dialog).getByRole('list', { name: 'Tags' });
    const shown = within(list).getAllByRole('button').map(item => item.getAttribute('aria-label'));
    expect(shown).toEqual([
      'tag v1.19.0', 'tag v1.18.0', 'tag v1.17.0', 'tag v1.16.0', 'tag v1.15.0',
      'tag v1.14.0', 'tag v1.13.0', 'tag v1.12.0',
    ]);
    fireEvent.change(within(dialog).getByLabelText('Search tags'), { target: { value: 'v9' } });
    expect(await within(dialog).findByText('No tag matches "v9".')).toBeInTheDocument();
  });

  it('asks the backend plugin for one page of a search at a time', async () => {
    const all = tags(30);
    const { requests } = await renderCard({
      [COMPONENT]: { status: 200, json: component() },
      [HISTORY]: someHistory,
      [TAGS]: request => {
        const query = new URLSearchParams(request.path.split('?')[1] ?? '');
        const q = query.get('q') ?? '';
        const offset = Number(query.get('offset') ?? 0);
        const limit = Number(query.get('limit') ?? 50);
        const found = all.filter(tag => tag.tag.includes(q));
        return {
          status: 200,
          json: {
            component: 'default/orders',
            items: found.slice(offset, offset + limit),
            total: found.length,
            offset,
            limit,
            next_offset: offset + limit < found.length ? offset + limit : null,
          },
        };
      },
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Deploy to dev' }));
    const dialog = await screen.findByRole('dialog');
    expect(await within(dialog).findByText('1-8 of 30')).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Older' }));
    expect(await within(dialog).findByText('9-16 of 30')).toBeInTheDocument();
    expect(within(dialog).getByRole('button', { name: 'tag v1.22.0' })).toBeInTheDocument();
    fireEvent.change(within(dialog).getByLabelText('Search tags'), { target: { value: 'v1.2' } });
    expect(await within(dialog).findByText('1-8 of 11')).toBeInTheDocument();
    const asked = requests.filter(request => request.path.startsWith('/components/default/orders/tags'));
    expect(asked.map(request => request.path)).toEqual([
      '/components/default/orders/tags?limit=8&offset=0',
      '/components/default/orders/tags?limit=8&offset=8',
      '/components/default/orders/tags?q=v1.2&limit=8&offset=0',
    ]);
  });
});

describe('live logs', () => {
  it('fall back to polling the deployment and its events when the stream stalls', async () => {
    const stalled = new StreamBody();
    let polls = 0;
    const { requests } = await renderCard({
      [COMPONENT]: { status: 200, json: component() },
      [HISTORY]: { status: 200, json: { items: [deployment({ id: 9, status: 'running' })], offset: 0, limit: 5, next_offset: null } },
      'GET /deployments/9/events': { status: 200, stream: stalled },
      'GET /deployments/9/events?follow=false': () => {
        polls += 1;
        const frames = [sseEvent(1, 'provisioning'), ...(polls > 1 ? [sseEvent(2, 'deployment succeeded', 'deployment.succeeded'), sseEnd('succeeded')] : [])];
        return { status: 200, text: frames.join(''), contentType: 'text/event-stream' };
      },
      'GET /deployments/9': () => ({
        status: 200,
        json: deployment({ id: 9, status: polls > 1 ? 'succeeded' : 'running' }),
      }),
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Show log of deployment 9' }));
    expect(
      await screen.findByText(
        'The live stream stalled (a proxy may buffer it): following by polling.',
        {},
        AFTER_STALL,
      ),
    ).toBeInTheDocument();
    const log = screen.getByTestId('shipyard-log');
    expect(await within(log).findByText('deployment succeeded')).toBeInTheDocument();
    expect(within(log).getAllByText('provisioning')).toHaveLength(1);
    const polled = requests.filter(request => request.path === '/deployments/9/events?follow=false');
    expect(polled[1].headers['Last-Event-ID']).toBe('1');
  });

  it('fall back to polling when the stream is cut before its end', async () => {
    const cut = new StreamBody();
    await renderCard({
      [COMPONENT]: { status: 200, json: component() },
      [HISTORY]: { status: 200, json: { items: [deployment({ id: 9, status: 'running' })], offset: 0, limit: 5, next_offset: null } },
      'GET /deployments/9/events': { status: 200, stream: cut },
      'GET /deployments/9/events?follow=false': {
        status: 200,
        text: sseEvent(1, 'one') + sseEvent(2, 'deployment failed', 'deployment.failed', 'error') + sseEnd('failed'),
      },
      'GET /deployments/9': {
        status: 200,
        json: deployment({ id: 9, status: 'failed', error: 'the health check did not answer within 30 s' }),
      },
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Show log of deployment 9' }));
    act(() => {
      cut.push(sseEvent(1, 'one'));
      cut.close();
    });
    expect(await screen.findByText('The live stream was cut: following by polling.')).toBeInTheDocument();
    expect(await screen.findByText('Failed: the health check did not answer within 30 s')).toBeInTheDocument();
    const log = screen.getByTestId('shipyard-log');
    expect(within(log).getAllByText('one')).toHaveLength(1);
    expect(within(log).getByText('[error] deployment failed')).toBeInTheDocument();
  });

  it('fall back to polling when the stream fails mid-deploy, until the database says it finished', async () => {
    const broken = new StreamBody();
    let polls = 0;
    const { requests } = await renderCard({
      [COMPONENT]: { status: 200, json: component() },
      [HISTORY]: { status: 200, json: { items: [deployment({ id: 9, status: 'running' })], offset: 0, limit: 5, next_offset: null } },
      'GET /deployments/9/events': { status: 200, stream: broken },
      'GET /deployments/9/events?follow=false': () => {
        polls += 1;
        // the database has event 1 at first, then the rest once the deployment finished
        const frames = [
          sseEvent(1, 'one'),
          ...(polls > 1 ? [sseEvent(2, 'deployment succeeded', 'deployment.succeeded'), sseEnd('succeeded')] : []),
        ];
        return { status: 200, text: frames.join(''), contentType: 'text/event-stream' };
      },
      'GET /deployments/9': () => ({
        status: 200,
        json: deployment({ id: 9, status: polls > 1 ? 'succeeded' : 'running', url: 'http://127.0.0.1:18089' }),
      }),
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Show log of deployment 9' }));
    const log = screen.getByTestId('shipyard-log');
    act(() => broken.push(sseEvent(1, 'one')));
    expect(await within(log).findByText('one')).toBeInTheDocument();
    // a load balancer resets the connection while the deployment still runs
    act(() => broken.fail(new TypeError('network error')));
    expect(await screen.findByText('The live stream was cut: following by polling.')).toBeInTheDocument();
    expect(await within(log).findByText('deployment succeeded')).toBeInTheDocument();
    expect(within(log).getAllByText('one')).toHaveLength(1);
    const region = screen.getByRole('region', { name: 'Log of deployment 9' });
    expect(await within(region).findByText('http://127.0.0.1:18089')).toBeInTheDocument();
    expect(within(region).getByText('succeeded')).toBeInTheDocument();
    // each poll asks for the events after the last one seen, and for the deployment
    const polled = requests.filter(request => request.path === '/deployments/9/events?follow=false');
    expect(polled.map(request => request.headers['Last-Event-ID'])).toEqual(['1', '1']);
    expect(requests.filter(request => request.path === '/deployments/9').length).toBeGreaterThanOrEqual(2);
  });
});

describe('cancelling', () => {
  it('cancels a running deployment from its log with the exact request', async () => {
    let cancelled = false;
    const { requests } = await renderCard({
      [COMPONENT]: { status: 200, json: component() },
      [HISTORY]: { status: 200, json: { items: [deployment({ id: 9, status: 'running' })], offset: 0, limit: 5, next_offset: null } },
      'GET /deployments/9/events': { status: 200, stream: new StreamBody() },
      'GET /deployments/9/events?follow=false': () => ({
        status: 200,
        text: cancelled
          ? sseEvent(1, 'deployment cancelled', 'deployment.cancelled', 'warning') + sseEnd('cancelled')
          : '',
      }),
      'GET /deployments/9': () => ({
        status: 200,
        json: deployment({ id: 9, status: cancelled ? 'cancelled' : 'running' }),
      }),
      'POST /deployments/9/cancel': () => {
        cancelled = true;
        return { status: 202, json: deployment({ id: 9, status: 'running' }) };
      },
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Show log of deployment 9' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Cancel deployment 9' }));
    await waitFor(() =>
      expect(requests.filter(request => request.method === 'POST')).toEqual([
        {
          method: 'POST',
          path: '/deployments/9/cancel',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: {},
        },
      ]),
    );
    const log = screen.getByTestId('shipyard-log');
    expect(await within(log).findByText('[warning] deployment cancelled', {}, AFTER_STALL)).toBeInTheDocument();
    await waitFor(() =>
      expect(screen.queryByRole('button', { name: 'Cancel deployment 9' })).not.toBeInTheDocument(),
    );
  });

  it('offers no Cancel to a person who may not deploy', async () => {
    await renderCard(
      {
        [COMPONENT]: { status: 200, json: component() },
        [HISTORY]: { status: 200, json: { items: [deployment({ id: 9, status: 'running' })], offset: 0, limit: 5, next_offset: null } },
        'GET /deployments/9/events': { status: 200, stream: new StreamBody() },
      },
      { deny: ['shipyard.component.deploy'] },
    );
    // once usePermission answered (Rollback is allowed), Deploy and Cancel are refused
    await waitFor(() => expect(screen.getByRole('button', { name: 'Rollback dev' })).toBeEnabled());
    expect(screen.getByRole('button', { name: 'Deploy to dev' })).toBeDisabled();
    await userEvent.click(await screen.findByRole('button', { name: 'Show log of deployment 9' }));
    expect(await screen.findByText('Waiting for the first event…')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Cancel deployment 9' })).not.toBeInTheDocument();
  });
});

describe('the full tab', () => {
  it('pages the history and filters it by environment', async () => {
    const { requests } = await renderCard(
      {
        [COMPONENT]: { status: 200, json: component() },
        [HISTORY]: (request) => ({
          status: 200,
          json: {
            items: [deployment({ id: request.path.includes('offset=20') ? 1 : 21 })],
            offset: request.path.includes('offset=20') ? 20 : 0,
            limit: 20,
            next_offset: request.path.includes('offset=20') ? null : 20,
          },
        }),
      },
      { page: true },
    );
    expect(await screen.findByTestId('deployment-21')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Older' }));
    expect(await screen.findByTestId('deployment-1')).toBeInTheDocument();
    expect(requests.map(request => request.path)).toContain(
      '/components/default/orders/deployments?limit=20&offset=20',
    );
  });
});

describe('through the proxy', () => {
  it('is read-only: no action, and a note that says why', async () => {
    const shipyard = fakeShipyard({
      [COMPONENT]: { status: 200, json: component() },
      [HISTORY]: someHistory,
    });
    // the fake answers under BASE_URL: let the proxy's base URL + /shipyard be just that
    const getBaseUrl = jest.fn(async () => BASE_URL.replace(/\/shipyard$/, ''));
    const proxied = new ShipyardClient({
      discoveryApi: { getBaseUrl },
      fetchApi: shipyard.fetchApi,
      proxyPath: '/shipyard',
    });
    expect(proxied.readOnly).toBe(true);
    await renderInTestApp(
      <TestApiProvider
        apis={[
          [shipyardApiRef, proxied],
          [permissionApiRef, mockApis.permission()],
          [configApiRef, mockApis.config()],
        ]}
      >
        <EntityProvider entity={orders}>
          <ShipyardCard />
        </EntityProvider>
      </TestApiProvider>,
    );
    expect(await screen.findByText(/Read-only: this Backstage reads Shipyard through its proxy/)).toBeInTheDocument();
    expect(within(screen.getByTestId('env-dev')).getByText('v1.1.0')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Deploy to dev' })).not.toBeInTheDocument();
    expect(shipyard.requests[0].path).toBe('/components/default/orders');
    expect(getBaseUrl).toHaveBeenCalledWith('proxy');
  });
});

describe('at half width (the overview card)', () => {
  const longUrl = 'https://orders.dev.apps.very-long-cluster-name.example.internal/some/base/path';
  const withLongUrl = () => {
    const detail = component();
    detail.environments[0] = { ...detail.environments[0], url: longUrl };
    return detail;
  };

  it('shows per environment a line of facts, then a line with its URL and actions that wraps whole buttons', async () => {
    await renderCard({ [COMPONENT]: { status: 200, json: withLongUrl() }, [HISTORY]: someHistory });
    const table = await screen.findByRole('table', { name: 'Environments' });
    // four short columns, none of them broken inside a word
    const headers = within(table).getAllByRole('columnheader');
    expect(headers.map(header => header.textContent)).toEqual([
      'Environment',
      'Running',
      'Last deployment',
      'Health',
    ]);
    for (const header of headers) expect(header).toHaveStyle({ whiteSpace: 'nowrap' });

    const dev = screen.getByTestId('env-dev');
    const [facts, second] = within(dev).getAllByRole('row');
    expect(within(dev).getAllByRole('row')).toHaveLength(2);
    const cells = within(facts).getAllByRole('cell');
    expect(cells.map(cell => cell.textContent)).toEqual(['dev', 'v1.1.0release 3', 'succeededdeploy v1.1.0', 'healthy']);
    for (const cell of cells) expect(cell).toHaveStyle({ whiteSpace: 'nowrap' });

    // the second line spans the table: the URL, cut with an ellipsis, its whole text in
    // its title, then the actions, which wrap between buttons, never inside one
    const [line] = within(second).getAllByRole('cell');
    expect(line).toHaveAttribute('colspan', '4');
    const link = within(line).getByRole('link', { name: longUrl });
    expect(link).toHaveAttribute('href', longUrl);
    expect(link).toHaveAttribute('title', longUrl);
    expect(link).toHaveStyle({ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' });
    const actions = within(line).getByRole('group', { name: 'Actions on dev' });
    expect(actions).toHaveStyle({ display: 'flex', flexWrap: 'wrap' });
    expect(within(actions).getAllByRole('button').map(button => button.textContent)).toEqual([
      'Deploy',
      'Preview',
      'Rollback',
      'Promote to prod',
    ]);
    for (const button of within(actions).getAllByRole('button')) {
      expect(button).toHaveStyle({ whiteSpace: 'nowrap' });
    }
    // prod runs nothing and has no URL: its second line holds its actions alone
    const prod = screen.getByTestId('env-prod');
    expect(within(prod).queryByRole('link')).not.toBeInTheDocument();
    expect(within(prod).getByRole('group', { name: 'Actions on prod' })).toBeInTheDocument();
  });

  it('puts when under what in the last deployments, so the short columns stay whole', async () => {
    await renderCard({ [COMPONENT]: { status: 200, json: component() }, [HISTORY]: someHistory });
    const table = await screen.findByRole('table', { name: 'Deployments' });
    const headers = within(table).getAllByRole('columnheader');
    expect(headers.map(header => header.textContent)).toEqual(['#', 'Environment', 'What', 'Status', '']);
    expect(headers[1]).toHaveStyle({ whiteSpace: 'nowrap' });
    const row = screen.getByTestId('deployment-7');
    const what = within(row).getByText('deploy v1.1.0 (release 3)').closest('td')!;
    expect(what).toHaveTextContent(new Date('2026-12-02T21:00:00Z').toLocaleString());
    expect(within(row).getByText('succeeded').closest('td')).toHaveStyle({ whiteSpace: 'nowrap' });
  });

  it('keeps the full tab at one line per environment, a column each', async () => {
    await renderCard(
      { [COMPONENT]: { status: 200, json: withLongUrl() }, [HISTORY]: someHistory },
      { page: true },
    );
    const table = await screen.findByRole('table', { name: 'Environments' });
    expect(within(table).getAllByRole('columnheader').map(header => header.textContent)).toEqual([
      'Environment',
      'Running',
      'Last deployment',
      'Health',
      'URL',
      'Actions',
    ]);
    const dev = screen.getByTestId('env-dev');
    expect(dev.tagName).toBe('TR');
    const cells = within(dev).getAllByRole('cell');
    expect(cells).toHaveLength(6);
    expect(within(cells[4]).getByRole('link', { name: longUrl })).toHaveAttribute('title', longUrl);
    expect(within(cells[5]).getByRole('button', { name: 'Deploy to dev' })).toBeInTheDocument();
    const history = screen.getByRole('table', { name: 'Deployments' });
    expect(within(history).getAllByRole('columnheader').map(header => header.textContent)).toEqual([
      '#',
      'Environment',
      'What',
      'Status',
      'When',
      '',
    ]);
  });
});

describe('the live log box', () => {
  /**
   * jsdom lays nothing out: give the log box a browser's geometry, 20 px a line in a
   * 100 px window, with scrollTop clamped as a browser clamps it.
   */
  function layOut(box: HTMLElement) {
    let top = 0;
    const height = () => 20 * box.querySelectorAll('div').length;
    Object.defineProperty(box, 'clientHeight', { configurable: true, get: () => 100 });
    Object.defineProperty(box, 'scrollHeight', { configurable: true, get: height });
    Object.defineProperty(box, 'scrollTop', {
      configurable: true,
      get: () => top,
      set: (value: number) => {
        top = Math.max(0, Math.min(value, height() - 100));
      },
    });
    const atEnd = () => top + 100 >= height();
    // what a person does with the wheel or the scrollbar
    const scrollTo = (value: number) => {
      box.scrollTop = value;
      fireEvent.scroll(box);
    };
    return { atEnd, scrollTo, top: () => top, height };
  }

  async function openRunningLog() {
    const stream = new StreamBody();
    await renderCard({
      [COMPONENT]: { status: 200, json: component() },
      [HISTORY]: { status: 200, json: { items: [deployment({ id: 9, status: 'running' })], offset: 0, limit: 5, next_offset: null } },
      'GET /deployments/9/events': { status: 200, stream },
      'GET /deployments/9': { status: 200, json: deployment({ id: 9, status: 'running' }) },
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Show log of deployment 9' }));
    const box = screen.getByRole('log', { name: 'Events of deployment 9' });
    let seq = 0;
    const push = async (count: number) => {
      for (let i = 0; i < count; i += 1) {
        seq += 1;
        const id = seq;
        const line = `line ${id}`;
        act(() => stream.push(sseEvent(id, line)));
        expect(await within(box).findByText(line)).toBeInTheDocument();
      }
    };
    return { box, push, geometry: layOut(box) };
  }

  it('is a log a screen reader announces politely and a keyboard can scroll', async () => {
    const { box } = await openRunningLog();
    expect(box).toHaveAttribute('aria-live', 'polite');
    expect(box).toHaveAttribute('tabindex', '0');
    expect(box).toBe(screen.getByTestId('shipyard-log'));
  });

  it('follows its end as lines arrive, so the last line shows', async () => {
    const { push, geometry } = await openRunningLog();
    await push(3); // 60 px: no scrolling yet
    expect(geometry.top()).toBe(0);
    for (let round = 0; round < 4; round += 1) {
      await push(2);
      expect(geometry.atEnd()).toBe(true);
    }
    expect(geometry.height()).toBe(220);
    expect(geometry.top()).toBe(120);
  });

  it('stays where the person scrolled up to read, and follows again once they are back at the end', async () => {
    const { push, geometry } = await openRunningLog();
    await push(10);
    expect(geometry.atEnd()).toBe(true);
    expect(screen.queryByRole('button', { name: 'Follow the end' })).not.toBeInTheDocument();

    geometry.scrollTo(20); // reading line 2
    await push(3);
    expect(geometry.top()).toBe(20);
    expect(geometry.atEnd()).toBe(false);
    expect(screen.getByRole('button', { name: 'Follow the end' })).toBeInTheDocument();

    geometry.scrollTo(geometry.height()); // back at the end: following again
    await push(2);
    expect(geometry.atEnd()).toBe(true);
    expect(geometry.top()).toBe(geometry.height() - 100);
    expect(screen.queryByRole('button', { name: 'Follow the end' })).not.toBeInTheDocument();
  });

  it('jumps to the end and follows again on "Follow the end"', async () => {
    const { push, geometry } = await openRunningLog();
    await push(8);
    geometry.scrollTo(0);
    await push(1);
    expect(geometry.top()).toBe(0);
    await userEvent.click(screen.getByRole('button', { name: 'Follow the end' }));
    expect(geometry.atEnd()).toBe(true);
    await push(2);
    expect(geometry.atEnd()).toBe(true);
    expect(screen.queryByRole('button', { name: 'Follow the end' })).not.toBeInTheDocument();
  });
});
