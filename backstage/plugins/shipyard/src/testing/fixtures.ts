import { Entity } from '@backstage/catalog-model';
import { ComponentDetail, Deployment, EnvironmentStatus, Tag } from '../api/types';

export const orders: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: {
    name: 'orders',
    namespace: 'default',
    annotations: { 'shipyard.dev/template': 'web-service' },
  },
  spec: { type: 'service', owner: 'group:payments', lifecycle: 'production' },
};

export function deployment(overrides: Partial<Deployment> = {}): Deployment {
  return {
    id: 7,
    component: 'default/orders',
    environment: 'dev',
    tag: 'v1.1.0',
    release: 3,
    status: 'succeeded',
    url: 'http://127.0.0.1:18080',
    reason: 'deploy',
    force: false,
    error: null,
    job: 11,
    created_at: '2026-12-02T21:00:00Z',
    started_at: '2026-12-02T21:00:01Z',
    finished_at: '2026-12-02T21:00:09Z',
    diff: null,
    ...overrides,
  };
}

function stack(environment: string, overrides: Partial<EnvironmentStatus> = {}): EnvironmentStatus {
  return {
    environment,
    url: null,
    current_release: null,
    current_tag: null,
    last_deployment: null,
    health: null,
    ...overrides,
  };
}

export function component(environments?: EnvironmentStatus[]): ComponentDetail {
  return {
    ref: 'default/orders',
    namespace: 'default',
    name: 'orders',
    owner: 'group:default/payments',
    template: 'web-service',
    source: 'https://git.example/orders.git',
    environments: environments ?? [
      stack('dev', {
        url: 'http://127.0.0.1:18080',
        current_release: 3,
        current_tag: 'v1.1.0',
        last_deployment: deployment(),
        health: { status: 'healthy', checked_at: '2026-12-02T21:00:09Z', detail: 'answered 200' },
      }),
      stack('prod'),
    ],
  };
}

export const nothingDeployed = (): ComponentDetail => component([stack('dev'), stack('prod')]);

export function tags(count = 3): Tag[] {
  return Array.from({ length: count }, (_, index) => {
    const minor = count - index;
    const name = `v1.${minor}.0`;
    return {
      tag: name,
      commit: `abcdef${String(minor).padStart(2, '0')}cafe`,
      created_at: '2026-12-01T00:00:00Z',
      build: null,
      matches: { dev: true, prod: true },
      environments: name === 'v1.1.0' ? ['dev'] : [],
    };
  });
}
