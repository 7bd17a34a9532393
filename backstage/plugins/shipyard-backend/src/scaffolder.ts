import {
  coreServices,
  createBackendModule,
  type BackstageCredentials,
  type PermissionsService,
  type RootConfigService,
  type UserInfoService,
} from '@backstage/backend-plugin-api';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError, NotAllowedError, ServiceUnavailableError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  createTemplateAction,
  scaffolderActionsExtensionPoint,
} from '@backstage/plugin-scaffolder-node';
import { shipyardComponentDeployPermission } from '@shipyard/backstage-plugin-shipyard-common';
import { ON_BEHALF_HEADER, signAssertion } from './assertion';
import { readSettings } from './router';

const FINISHED = new Set(['succeeded', 'unchanged', 'failed', 'cancelled']);

export interface ActionServices {
  config: RootConfigService;
  userInfo: UserInfoService;
  permissions: PermissionsService;
  /** Seconds between two reads of a deployment `shipyard:deploy` waits for. */
  pollSeconds?: number;
}

/** Calls Shipyard as the person behind `credentials` (the task's initiator). */
async function asPerson(
  services: ActionServices,
  credentials: BackstageCredentials,
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  const settings = readSettings(services.config);
  if ('missing' in settings) {
    throw new ServiceUnavailableError(
      `Shipyard is not configured in this Backstage: set ${settings.missing.join(', ')}`,
    );
  }
  const info = await services.userInfo.getUserInfo(credentials);
  const assertion = await signAssertion({
    secret: settings.onBehalfSecret,
    issuer: settings.onBehalfIssuer,
    userEntityRef: info.userEntityRef,
    ownershipEntityRefs: info.ownershipEntityRefs,
  });
  let response: Response;
  try {
    response = await fetch(`${settings.baseUrl}/api/v1${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${settings.token}`,
        [ON_BEHALF_HEADER]: assertion,
        Accept: 'application/json',
        'Content-Type': 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw new ServiceUnavailableError(
      `Shipyard at ${settings.baseUrl} cannot be reached (${(error as Error).message})`,
    );
  }
  const text = await response.text();
  let parsed: any = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { detail: text.slice(0, 500) };
  }
  if (!response.ok) {
    throw new Error(
      `Shipyard answered ${response.status} to ${method} ${path}: ${
        parsed.detail ?? parsed.title ?? text.slice(0, 500)
      }`,
    );
  }
  return parsed;
}

function componentOf(entityRef: string): { namespace: string; name: string; ref: string } {
  const parsed = parseEntityRef(entityRef, { defaultKind: 'component' });
  if (parsed.kind.toLowerCase() !== 'component') {
    throw new InputError(`${entityRef} is not a component`);
  }
  return { namespace: parsed.namespace, name: parsed.name, ref: stringifyEntityRef(parsed) };
}

/** `shipyard:component:register`: Shipyard registers the components a git repository's
 * catalog-info.yaml (at the root of its default branch) describes. */
export function createShipyardRegisterAction(services: ActionServices) {
  return createTemplateAction({
    id: 'shipyard:component:register',
    description:
      "Registers with Shipyard the components of a git repository's catalog-info.yaml (the root of its default branch), as the template's user (Shipyard allows registering to admins)",
    schema: {
      input: {
        repositoryUrl: z =>
          z.string({
            description:
              'The git repository, e.g. https://github.com/acme/shop (its default branch holds catalog-info.yaml)',
          }),
      },
      output: {
        components: z => z.array(z.string()),
      },
    },
    async handler(ctx) {
      const credentials = await ctx.getInitiatorCredentials();
      const answer = await asPerson(services, credentials, 'POST', '/components', {
        url: ctx.input.repositoryUrl,
      });
      const refs: string[] = (answer.components ?? []).map(
        (component: any) => String(component.ref ?? `${component.namespace}/${component.name}`),
      );
      ctx.logger.info(`Shipyard registered ${refs.join(', ') || 'nothing'}`);
      ctx.output('components', refs);
    },
  });
}

/** `shipyard:deploy`: deploys a tag of a component to an environment, optionally waiting. */
export function createShipyardDeployAction(services: ActionServices) {
  return createTemplateAction({
    id: 'shipyard:deploy',
    description:
      "Deploys a tag of a component to an environment with Shipyard, as the template's user (needs shipyard.component.deploy)",
    schema: {
      input: {
        entityRef: z =>
          z.string({ description: 'The component, e.g. component:default/shop' }),
        environment: z => z.string({ description: 'The environment, e.g. dev' }),
        tag: z => z.string({ description: 'The git tag to deploy' }),
        wait: z =>
          z
            .boolean({ description: 'Wait until the deployment has finished' })
            .optional(),
        timeoutSeconds: z =>
          z.number({ description: 'How long to wait (default 600)' }).optional(),
      },
      output: {
        deploymentId: z => z.number(),
        status: z => z.string(),
        url: z => z.string().optional(),
      },
    },
    async handler(ctx) {
      const { namespace, name, ref } = componentOf(ctx.input.entityRef);
      const credentials = await ctx.getInitiatorCredentials();
      const [decision] = await services.permissions.authorize(
        [{ permission: shipyardComponentDeployPermission, resourceRef: ref }],
        { credentials },
      );
      if (decision.result !== AuthorizeResult.ALLOW) {
        throw new NotAllowedError(
          `Backstage's permission policy refuses shipyard.component.deploy on ${ref} in ${ctx.input.environment}`,
        );
      }
      let deployment = await asPerson(
        services,
        credentials,
        'POST',
        `/components/${namespace}/${name}/deployments`,
        { environment: ctx.input.environment, tag: ctx.input.tag },
      );
      ctx.logger.info(
        `Shipyard deployment ${deployment.id}: ${ref} ${ctx.input.tag} to ${ctx.input.environment}, ${deployment.status}`,
      );
      if (ctx.input.wait) {
        const deadline = Date.now() + (ctx.input.timeoutSeconds ?? 600) * 1000;
        const pause = (services.pollSeconds ?? 2) * 1000;
        while (!FINISHED.has(deployment.status)) {
          if (Date.now() > deadline) {
            throw new Error(
              `Shipyard deployment ${deployment.id} is still ${deployment.status} after ${
                ctx.input.timeoutSeconds ?? 600
              } s`,
            );
          }
          await new Promise(resolve => setTimeout(resolve, pause));
          deployment = await asPerson(services, credentials, 'GET', `/deployments/${deployment.id}`);
        }
        if (deployment.status === 'failed' || deployment.status === 'cancelled') {
          throw new Error(
            `Shipyard deployment ${deployment.id} ${deployment.status}: ${deployment.error ?? ''}`,
          );
        }
      }
      ctx.output('deploymentId', deployment.id);
      ctx.output('status', deployment.status);
      if (deployment.url) {
        ctx.output('url', deployment.url);
      }
    },
  });
}

/** The scaffolder module adding `shipyard:component:register` and `shipyard:deploy`. */
export const shipyardScaffolderModule = createBackendModule({
  pluginId: 'scaffolder',
  moduleId: 'shipyard',
  register(env) {
    env.registerInit({
      deps: {
        scaffolder: scaffolderActionsExtensionPoint,
        config: coreServices.rootConfig,
        userInfo: coreServices.userInfo,
        permissions: coreServices.permissions,
      },
      async init({ scaffolder, config, userInfo, permissions }) {
        const services = { config, userInfo, permissions };
        scaffolder.addActions(
          createShipyardRegisterAction(services),
          createShipyardDeployAction(services),
        );
      },
    });
  },
});
