/**
 * The shapes of Shipyard's API answers as the card reads them (see docs/api.md).
 * @public
 */
export type DeploymentStatus =
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'unchanged';

/** @public */
export const FINISHED_STATUSES: ReadonlyArray<DeploymentStatus> = [
  'succeeded',
  'failed',
  'cancelled',
  'unchanged',
];

/** One resource a finished preview would change. @public */
export interface ResourceChange {
  resource: string;
  type: string | null;
  operation: string;
  changed_inputs: string[];
  urn: string;
}

/** A deployment: any operation (deploy, rollback, promotion, preview, destroy). @public */
export interface Deployment {
  id: number;
  component: string;
  environment: string;
  tag: string | null;
  release: number | null;
  status: DeploymentStatus;
  url: string | null;
  reason: string;
  force: boolean;
  error: string | null;
  job: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  diff: ResourceChange[] | null;
  /** Who asked, when the server says (newer servers). */
  requested_by?: string | null;
}

/** The service's health as Shipyard last saw it. @public */
export interface StackHealth {
  status: 'healthy' | 'unhealthy' | 'stopped' | 'unknown' | string;
  checked_at: string | null;
  detail: string;
}

/** Where a component runs in one environment. @public */
export interface EnvironmentStatus {
  environment: string;
  url: string | null;
  current_release: number | null;
  current_tag: string | null;
  last_deployment: Deployment | null;
  health: StackHealth | null;
}

/** A component as `GET /components/{ns}/{name}` answers it. @public */
export interface ComponentDetail {
  ref: string;
  namespace: string;
  name: string;
  owner: string | null;
  template: string | null;
  source: string | null;
  environments: EnvironmentStatus[];
  descriptor?: Record<string, unknown>;
}

/** One page of a list. @public */
export interface Page<T> {
  items: T[];
  offset: number;
  limit: number;
  next_offset: number | null;
}

/** A tag Shipyard knows for a component. @public */
export interface Tag {
  tag: string;
  commit: string | null;
  created_at: string | null;
  build: string | null;
  /** Per environment: whether the tag matches its `tag-pattern`. */
  matches: Record<string, boolean>;
  /** The environments running it now. */
  environments: string[];
}

/**
 * The known tags, newest first. Through the Shipyard backend plugin a page of them
 * (searched by `q`, paged by `limit`/`offset`, with `total` and `next_offset`); Shipyard
 * itself (through the proxy) answers them all, without `total`.
 * @public
 */
export interface TagList {
  component: string;
  items: Tag[];
  total?: number;
  offset?: number;
  limit?: number;
  next_offset?: number | null;
}

/** One event of a deployment's job (`seq` is its SSE id). @public */
export interface DeploymentEvent {
  seq: number;
  kind: string;
  level: string;
  message: string;
  data: Record<string, unknown> | null;
  created_at: string;
}

/** A component's reference in Shipyard: `namespace/name`. @public */
export interface ComponentRef {
  namespace: string;
  name: string;
}
