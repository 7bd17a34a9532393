import type {
  BackstageCredentials,
  BackstageUserPrincipal,
  HttpAuthService,
  LoggerService,
  PermissionsService,
  RootConfigService,
  UserInfoService,
} from '@backstage/backend-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import {
  InputError,
  NotAllowedError,
  ServiceUnavailableError,
} from '@backstage/errors';
import {
  AuthorizeResult,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';
import {
  shipyardComponentDeployPermission,
  shipyardComponentDestroyPermission,
  shipyardComponentPromotePermission,
  shipyardComponentRollbackPermission,
} from '@shipyard/backstage-plugin-shipyard-common';
import express from 'express';
import Router from 'express-promise-router';
import { ON_BEHALF_HEADER, signAssertion } from './assertion';

/** What the plugin reads from app-config (`shipyard.*`). */
export interface ShipyardSettings {
  baseUrl: string;
  token: string;
  onBehalfSecret: string;
  onBehalfIssuer: string;
}

const REQUIRED_KEYS = ['baseUrl', 'token', 'onBehalfSecret'] as const;
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;
const MAX_BODY = '1mb';
const UPSTREAM_TIMEOUT_MS = 30_000;

/** The error of a kept-alive connection the server closed (as idle) just as it was
 * reused: nothing was answered on it. */
function closedBeforeAnswer(error: unknown): boolean {
  const code = (error as { cause?: { code?: unknown } }).cause?.code;
  return code === 'UND_ERR_SOCKET' || code === 'ECONNRESET';
}

/**
 * The settings, or the config keys that are missing: the plugin starts either way, and
 * each request then says which key to set (a card can show it) instead of failing the
 * whole backend.
 */
export function readSettings(
  config: RootConfigService,
): ShipyardSettings | { missing: string[] } {
  const missing = REQUIRED_KEYS.filter(
    key => !config.getOptionalString(`shipyard.${key}`),
  ).map(key => `shipyard.${key}`);
  if (missing.length > 0) {
    return { missing };
  }
  const baseUrl = config.getString('shipyard.baseUrl').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(baseUrl)) {
    return { missing: [`shipyard.baseUrl (an http(s) URL, not ${baseUrl})`] };
  }
  return {
    baseUrl,
    token: config.getString('shipyard.token'),
    onBehalfSecret: config.getString('shipyard.onBehalfSecret'),
    onBehalfIssuer:
      config.getOptionalString('shipyard.onBehalfIssuer') ?? 'backstage',
  };
}

export interface RouterOptions {
  config: RootConfigService;
  logger: LoggerService;
  httpAuth: HttpAuthService;
  userInfo: UserInfoService;
  permissions: PermissionsService;
}

interface Person {
  credentials: BackstageCredentials<BackstageUserPrincipal>;
  userEntityRef: string;
  ownershipEntityRefs: string[];
}

/** The operations on a component and the permission each needs. */
const OPERATIONS: Record<string, ResourcePermission<'catalog-entity'>> = {
  deployments: shipyardComponentDeployPermission,
  previews: shipyardComponentDeployPermission,
  rollback: shipyardComponentRollbackPermission,
  promote: shipyardComponentPromotePermission,
  destroy: shipyardComponentDestroyPermission,
};

export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const { config, logger, httpAuth, userInfo, permissions } = options;
  const settings = readSettings(config);
  if ('missing' in settings) {
    logger.warn(
      `Shipyard is not configured: set ${settings.missing.join(', ')} in app-config`,
    );
  }

  function configured(): ShipyardSettings {
    if ('missing' in settings) {
      throw new ServiceUnavailableError(
        `Shipyard is not configured in this Backstage: set ${settings.missing.join(
          ', ',
        )} in app-config (see the shipyard-backend plugin's README)`,
      );
    }
    return settings;
  }

  async function person(req: express.Request): Promise<Person> {
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    const info = await userInfo.getUserInfo(credentials);
    return {
      credentials,
      userEntityRef: info.userEntityRef,
      ownershipEntityRefs: info.ownershipEntityRefs,
    };
  }

  function componentRef(req: express.Request): string {
    const { namespace, name } = req.params;
    if (!NAME.test(namespace) || !NAME.test(name)) {
      throw new InputError(
        `'${String(namespace).slice(0, 64)}/${String(name).slice(
          0,
          64,
        )}' is not a component's namespace/name`,
      );
    }
    return stringifyEntityRef({ kind: 'component', namespace, name });
  }

  async function authorize(
    who: Person,
    permission: ResourcePermission<'catalog-entity'>,
    entityRef: string,
    environment: string | undefined,
  ): Promise<void> {
    const [decision] = await permissions.authorize(
      [{ permission, resourceRef: entityRef }],
      { credentials: who.credentials },
    );
    if (decision.result !== AuthorizeResult.ALLOW) {
      const where = environment ? ` in ${environment}` : '';
      throw new NotAllowedError(
        `${who.userEntityRef} may not ${permission.name.replace(
          'shipyard.component.',
          '',
        )} ${entityRef}${where}: Backstage's permission policy refuses ${
          permission.name
        }`,
      );
    }
  }

  async function callShipyard(
    who: Person,
    method: string,
    path: string,
    init: {
      query?: string;
      body?: Buffer;
      contentType?: string;
      accept?: string;
      headers?: Record<string, string>;
    },
    signal?: AbortSignal,
  ): Promise<Response> {
    const shipyard = configured();
    const assertion = await signAssertion({
      secret: shipyard.onBehalfSecret,
      issuer: shipyard.onBehalfIssuer,
      userEntityRef: who.userEntityRef,
      ownershipEntityRefs: who.ownershipEntityRefs,
    });
    const headers: Record<string, string> = {
      Authorization: `Bearer ${shipyard.token}`,
      [ON_BEHALF_HEADER]: assertion,
      Accept: init.accept ?? 'application/json',
      ...init.headers,
    };
    if (init.body !== undefined) {
      headers['Content-Type'] = init.contentType ?? 'application/json';
    }
    const url = `${shipyard.baseUrl}/api/v1${path}${init.query ?? ''}`;
    const send = () =>
      fetch(url, {
        method,
        headers,
        body: init.body === undefined ? undefined : new Uint8Array(init.body),
        signal: signal ?? AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
      });
    try {
      try {
        return await send();
      } catch (error) {
        // A read is sent once more on a new connection when the pooled one it went out
        // on was closed unanswered (Shipyard's server closes idle ones after 5 s; a busy
        // backend may reuse one late). Never an operation: it may have been received.
        if ((method === 'GET' || method === 'HEAD') && !signal?.aborted && closedBeforeAnswer(error)) {
          return await send();
        }
        throw error;
      }
    } catch (error) {
      throw new ServiceUnavailableError(
        `Shipyard at ${shipyard.baseUrl} cannot be reached (${
          (error as Error).message
        }): is it running, and is shipyard.baseUrl right?`,
      );
    }
  }

  /** Shipyard's answer as it is (status, content type, bytes); its own 401 (the
   * plugin's credentials refused) becomes a 502 that names the config to check. */
  async function relay(upstream: Response, res: express.Response) {
    const type = upstream.headers.get('content-type') ?? 'application/json';
    const body = Buffer.from(await upstream.arrayBuffer());
    if (upstream.status === 401) {
      let detail = '';
      try {
        detail = String(JSON.parse(body.toString('utf8')).detail ?? '');
      } catch {
        detail = '';
      }
      res.status(502).json({
        error: {
          name: 'ShipyardCredentialsRefused',
          message: `Shipyard refused this Backstage's credentials: ${detail} (check shipyard.token and shipyard.onBehalfSecret, and SHIPYARD_ON_BEHALF_SERVICES on the Shipyard side)`,
        },
      });
      return;
    }
    const requestId = upstream.headers.get('x-request-id');
    if (requestId) {
      // Shipyard's request id: the key of its log lines and audit record for this call.
      res.setHeader('X-Shipyard-Request-Id', requestId);
    }
    res.status(upstream.status).type(type).send(body);
  }

  function query(req: express.Request): string {
    const at = req.originalUrl.indexOf('?');
    return at >= 0 ? req.originalUrl.slice(at) : '';
  }

  const router = Router();
  const raw = express.raw({ type: () => true, limit: MAX_BODY });

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok', configured: !('missing' in settings) });
  });

  router.get('/components/:namespace/:name', async (req, res) => {
    const who = await person(req);
    const ref = componentRef(req);
    const { namespace, name } = req.params;
    const upstream = await callShipyard(who, 'GET', `/components/${namespace}/${name}`, {});
    if (upstream.status === 404) {
      res.status(404).json({
        error: {
          name: 'NotOnboarded',
          message: `${ref} is not a Shipyard component yet: add shipyard.dev/ annotations to its catalog-info.yaml and register it (shipyard component register, or the shipyard:component:register scaffolder action)`,
        },
      });
      return;
    }
    await relay(upstream, res);
  });

  router.get('/components/:namespace/:name/deployments', async (req, res) => {
    const who = await person(req);
    componentRef(req);
    const { namespace, name } = req.params;
    await relay(
      await callShipyard(who, 'GET', `/components/${namespace}/${name}/deployments`, {
        query: query(req),
      }),
      res,
    );
  });

  router.get('/components/:namespace/:name/tags', async (req, res) => {
    const who = await person(req);
    componentRef(req);
    const { namespace, name } = req.params;
    const limit = Math.min(Math.max(Number(req.query.limit ?? 50) || 50, 1), 200);
    const offset = Math.max(Number(req.query.offset ?? 0) || 0, 0);
    const search = String(req.query.q ?? '').toLowerCase();
    const upstream = await callShipyard(who, 'GET', `/components/${namespace}/${name}/tags`, {});
    if (!upstream.ok) {
      await relay(upstream, res);
      return;
    }
    const all = (await upstream.json()) as {
      component: string;
      items: Array<{ tag: string }>;
    };
    const found = all.items.filter(item => item.tag.toLowerCase().includes(search));
    const page = found.slice(offset, offset + limit);
    res.json({
      component: all.component,
      items: page,
      total: found.length,
      offset,
      limit,
      next_offset: offset + limit < found.length ? offset + limit : null,
    });
  });

  router.post('/components/:namespace/:name/:operation', raw, async (req, res) => {
    const permission = OPERATIONS[req.params.operation];
    if (permission === undefined) {
      res.status(404).json({
        error: {
          name: 'NotFoundError',
          message: `no operation ${String(req.params.operation).slice(0, 64)}: one of ${Object.keys(
            OPERATIONS,
          ).join(', ')}`,
        },
      });
      return;
    }
    const who = await person(req);
    const ref = componentRef(req);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    let environment: string | undefined;
    try {
      const parsed = JSON.parse(body.toString('utf8') || '{}');
      environment = parsed.environment ?? parsed.from;
    } catch {
      throw new InputError('the request body is not JSON');
    }
    await authorize(who, permission, ref, environment);
    const { namespace, name, operation } = req.params;
    logger.info(
      `${who.userEntityRef} ${operation} ${ref}${environment ? ` in ${environment}` : ''}`,
    );
    await relay(
      await callShipyard(who, 'POST', `/components/${namespace}/${name}/${operation}`, {
        body,
        contentType: req.headers['content-type'] ?? 'application/json',
      }),
      res,
    );
  });

  router.get('/deployments/:id', async (req, res) => {
    const who = await person(req);
    const id = deploymentId(req);
    await relay(await callShipyard(who, 'GET', `/deployments/${id}`, {}), res);
  });

  router.post('/deployments/:id/cancel', raw, async (req, res) => {
    const who = await person(req);
    const id = deploymentId(req);
    const found = await callShipyard(who, 'GET', `/deployments/${id}`, {});
    if (!found.ok) {
      await relay(found, res);
      return;
    }
    const deployment = (await found.json()) as { component: string; environment: string };
    const [namespace, name] = String(deployment.component).split('/');
    const ref = stringifyEntityRef({ kind: 'component', namespace, name });
    await authorize(who, shipyardComponentDeployPermission, ref, deployment.environment);
    await relay(
      await callShipyard(who, 'POST', `/deployments/${id}/cancel`, {
        body: Buffer.from('{}'),
      }),
      res,
    );
  });

  router.get('/deployments/:id/events', async (req, res) => {
    const who = await person(req);
    const id = deploymentId(req);
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    // A reconnecting reader resumes after the last event it saw.
    const lastEventId = req.header('Last-Event-ID');
    const upstream = await callShipyard(
      who,
      'GET',
      `/deployments/${id}/events`,
      {
        query: query(req),
        accept: 'text/event-stream',
        headers:
          lastEventId && /^[0-9]{1,18}$/.test(lastEventId)
            ? { 'Last-Event-ID': lastEventId }
            : undefined,
      },
      controller.signal,
    );
    const type = upstream.headers.get('content-type') ?? '';
    if (!upstream.ok || !type.startsWith('text/event-stream') || !upstream.body) {
      await relay(upstream, res);
      return;
    }
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('X-Accel-Buffering', 'no');
    res.setHeader('Connection', 'keep-alive');
    res.flushHeaders();
    const reader = upstream.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        res.write(Buffer.from(value));
        (res as unknown as { flush?: () => void }).flush?.();
      }
    } catch (error) {
      if (!controller.signal.aborted) {
        logger.warn(`the event stream of deployment ${id} broke: ${String(error)}`);
      }
    } finally {
      res.end();
    }
  });

  return router;
}

function deploymentId(req: express.Request): string {
  const id = req.params.id;
  if (!/^[0-9]{1,18}$/.test(id)) {
    throw new InputError(`'${String(id).slice(0, 32)}' is not a deployment id`);
  }
  return id;
}
