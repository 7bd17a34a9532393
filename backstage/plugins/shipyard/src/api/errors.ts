/**
 * What went wrong talking to Shipyard, sorted into what a person can act on.
 *
 * - `unreachable`: the request never got an answer from Shipyard (network, 502/503/504)
 * - `not-configured`: the Shipyard backend plugin is missing or lacks a config key
 * - `not-found`: Shipyard does not know the component (or deployment)
 * - `unauthorized`: no valid Backstage session (401)
 * - `forbidden`: a Backstage permission or Shipyard's role/team rules refused it (403)
 * - `conflict`: Shipyard refused the operation as it stands (409)
 * - `invalid`: Shipyard refused the request (422, other 4xx)
 * - `server`: anything else (5xx)
 *
 * @public
 */
export type ShipyardErrorKind =
  | 'unreachable'
  | 'not-configured'
  | 'not-found'
  | 'unauthorized'
  | 'forbidden'
  | 'conflict'
  | 'invalid'
  | 'server';

/** An RFC 9457 problem as Shipyard (and the Shipyard backend plugin) answer it. @public */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  request_id?: string;
  /** Backend plugin: the Backstage permission that was refused. */
  permission?: string;
  /** Backend plugin: the app-config key that is missing. */
  config_key?: string;
  /** Shipyard: the role needed. */
  required_role?: string;
  /** Shipyard: the team needed. */
  required_team?: string;
  [key: string]: unknown;
}

/** @public */
export class ShipyardError extends Error {
  readonly kind: ShipyardErrorKind;
  readonly status?: number;
  readonly problem?: Problem;

  constructor(
    kind: ShipyardErrorKind,
    message: string,
    options: { status?: number; problem?: Problem; cause?: unknown } = {},
  ) {
    super(message);
    this.name = 'ShipyardError';
    this.kind = kind;
    this.status = options.status;
    this.problem = options.problem;
  }

  /** The Backstage permission that was refused, when the answer names one. */
  get permission(): string | undefined {
    return this.problem?.permission;
  }

  /** The app-config key that is missing, when the answer names one. */
  get configKey(): string | undefined {
    return this.problem?.config_key;
  }
}

const NOT_CONFIGURED_TYPES = ['urn:shipyard:problem:not-configured'];
const UNREACHABLE_TYPES = ['urn:shipyard:problem:unreachable'];

async function readProblem(response: Response): Promise<Problem | undefined> {
  let text: string;
  try {
    text = await response.text();
  } catch {
    return undefined;
  }
  if (!text) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!body || typeof body !== 'object') return undefined;
  const record = body as Record<string, unknown>;
  // Backstage's own error body: {"error": {"name", "message"}, "response": {...}}, as
  // the Shipyard backend plugin answers its own refusals (Shipyard's are relayed as
  // problems). Its messages name the permission refused or the config keys missing.
  if (record.error && typeof record.error === 'object') {
    const error = record.error as Record<string, unknown>;
    const message = typeof error.message === 'string' ? error.message : undefined;
    const problem: Problem = {
      title: typeof error.name === 'string' ? error.name : undefined,
      detail: message,
      status: response.status,
      backstage: true,
    };
    const permission = message?.match(/refuses (shipyard\.[a-z.]+[a-z])/)?.[1];
    if (permission) problem.permission = permission;
    const keys = message?.match(/not configured[^:]*: set ((?:shipyard\.[A-Za-z.]+[A-Za-z](?:, )?)+)/)?.[1];
    if (keys) {
      problem.type = 'urn:shipyard:problem:not-configured';
      problem.config_key = keys;
    }
    if (problem.title === 'ShipyardCredentialsRefused') {
      problem.type = 'urn:shipyard:problem:not-configured';
      problem.config_key = 'shipyard.token';
    }
    if (problem.title === 'NotOnboarded') problem.type = 'urn:shipyard:problem:not-found';
    return problem;
  }
  return record as Problem;
}

/** Turns a non-2xx answer into a {@link ShipyardError}. @public */
export async function errorFromResponse(
  response: Response,
  what: string,
): Promise<ShipyardError> {
  const problem = await readProblem(response);
  const status = response.status;
  const detail = problem?.detail ?? problem?.title ?? response.statusText;
  const type = problem?.type ?? '';
  const suffix = detail ? `: ${detail}` : '';
  if (NOT_CONFIGURED_TYPES.includes(type) || problem?.config_key) {
    const text = detail?.startsWith('Shipyard') ? detail : `Shipyard is not configured${suffix}`;
    return new ShipyardError('not-configured', text, {
      status,
      problem,
    });
  }
  if (UNREACHABLE_TYPES.includes(type) || [502, 503, 504].includes(status)) {
    const text = /cannot be reached/.test(detail ?? '') ? detail! : `Shipyard cannot be reached${suffix}`;
    return new ShipyardError('unreachable', text, {
      status,
      problem,
    });
  }
  if (status === 401) {
    return new ShipyardError('unauthorized', `${what} was refused: not signed in${suffix}`, {
      status,
      problem,
    });
  }
  if (status === 403) {
    return new ShipyardError('forbidden', `${what} is not allowed${suffix}`, {
      status,
      problem,
    });
  }
  if (status === 404) {
    // Shipyard's own 404 is a problem of type ...:not-found; anything else (Backstage's
    // NotFoundError for /api/shipyard) means the backend plugin is not installed.
    if (type === 'urn:shipyard:problem:not-found') {
      return new ShipyardError('not-found', detail || `${what}: not found`, {
        status,
        problem,
      });
    }
    return new ShipyardError(
      'not-configured',
      `The Shipyard backend plugin does not answer (${status}${suffix})`,
      { status, problem },
    );
  }
  if (status === 409) {
    return new ShipyardError('conflict', `${what} was refused${suffix}`, { status, problem });
  }
  if (status >= 400 && status < 500) {
    return new ShipyardError('invalid', `${what} was refused${suffix}`, { status, problem });
  }
  return new ShipyardError('server', `${what} failed (${status})${suffix}`, {
    status,
    problem,
  });
}

/** What a person should do about an error, in one sentence. @public */
export function whatToDo(error: ShipyardError): string {
  switch (error.kind) {
    case 'unreachable':
      return 'Check that Shipyard is running and that the Backstage backend reaches it (shipyard.baseUrl), then retry.';
    case 'not-configured':
      if (error.problem?.title === 'ShipyardCredentialsRefused')
        return "Check shipyard.token and shipyard.onBehalfSecret in the Backstage backend's app-config, and SHIPYARD_ON_BEHALF_SERVICES on the Shipyard side.";
      return error.configKey
        ? `Set ${error.configKey} in the Backstage backend's app-config and restart it.`
        : 'Install and configure the Shipyard backend plugin (@shipyard/backstage-plugin-shipyard-backend), or set the read-only proxy described in docs/backstage.md.';
    case 'not-found':
      return 'Register the component in Shipyard (shipyard component sync or shipyard component register, or the shipyard:component:register scaffolder action).';
    case 'unauthorized':
      return 'Sign in to Backstage again.';
    case 'forbidden':
      if (error.permission)
        return `Ask your platform team for the Backstage permission ${error.permission} on this component.`;
      if (error.problem?.required_team)
        return `Only the component's team (${error.problem.required_team}) may do this in Shipyard.`;
      if (error.problem?.required_role)
        return `Shipyard needs the role ${error.problem.required_role} for this.`;
      return 'Ask your platform team for access to this component.';
    case 'conflict':
      return 'Wait for the running operation to finish, then try again.';
    case 'invalid':
      return 'Check what was asked (environment, tag) and try again.';
    default:
      return error.problem?.request_id
        ? `Retry; if it persists, give Shipyard's operators the request id ${error.problem.request_id}.`
        : 'Retry; if it persists, check the Shipyard server logs.';
  }
}
