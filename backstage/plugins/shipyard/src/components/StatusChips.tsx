import {
  StatusAborted,
  StatusError,
  StatusOK,
  StatusPending,
  StatusRunning,
  StatusWarning,
} from '@backstage/core-components';
import { DeploymentStatus, StackHealth } from '../api/types';

export function DeploymentStatusLabel(props: { status: DeploymentStatus | string }) {
  const { status } = props;
  switch (status) {
    case 'succeeded':
      return <StatusOK>succeeded</StatusOK>;
    case 'unchanged':
      return <StatusOK>unchanged</StatusOK>;
    case 'failed':
      return <StatusError>failed</StatusError>;
    case 'cancelled':
      return <StatusAborted>cancelled</StatusAborted>;
    case 'running':
      return <StatusRunning>running</StatusRunning>;
    case 'queued':
      return <StatusPending>queued</StatusPending>;
    default:
      return <StatusPending>{status}</StatusPending>;
  }
}

export function HealthLabel(props: { health: StackHealth | null }) {
  const health = props.health;
  if (!health) return <StatusPending>unknown</StatusPending>;
  const title = health.detail || undefined;
  switch (health.status) {
    case 'healthy':
      return (
        <span title={title}>
          <StatusOK>healthy</StatusOK>
        </span>
      );
    case 'unhealthy':
      return (
        <span title={title}>
          <StatusError>unhealthy</StatusError>
        </span>
      );
    case 'stopped':
      return (
        <span title={title}>
          <StatusAborted>stopped</StatusAborted>
        </span>
      );
    default:
      return (
        <span title={title}>
          <StatusWarning>{health.status || 'unknown'}</StatusWarning>
        </span>
      );
  }
}
