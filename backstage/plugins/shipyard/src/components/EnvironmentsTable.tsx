import {
  Button,
  Chip,
  Link,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Tooltip,
  Typography,
} from '@material-ui/core';
import { Permission } from '@backstage/plugin-permission-common';
import { ComponentDetail, EnvironmentStatus } from '../api/types';
import { ActionKind } from './ActionDialog';
import { DeploymentStatusLabel, HealthLabel } from './StatusChips';

/** What `usePermission` said for one action. */
export interface Allowed {
  loading: boolean;
  allowed: boolean;
  permission: Permission;
}

export interface EnvironmentsTableProps {
  component: ComponentDetail;
  isProduction: (environment: string) => boolean;
  permissions: Record<ActionKind, Allowed>;
  /** No action column (the card reads through the proxy). */
  readOnly?: boolean;
  onAction: (kind: ActionKind, environment: string, destination?: string) => void;
}

function ActionButton(props: {
  label: string;
  text: string;
  allowed: Allowed;
  disabledReason?: string;
  onClick: () => void;
}) {
  const { label, text, allowed, disabledReason, onClick } = props;
  const refused = !allowed.loading && !allowed.allowed;
  const reason = refused
    ? `You lack the Backstage permission ${allowed.permission.name}`
    : disabledReason;
  const button = (
    <Button
      size="small"
      variant="outlined"
      disabled={allowed.loading || refused || Boolean(disabledReason)}
      onClick={onClick}
      aria-label={label}
      style={{ marginRight: 4, marginBottom: 4 }}
    >
      {text}
    </Button>
  );
  return reason ? (
    <Tooltip title={reason}>
      <span>{button}</span>
    </Tooltip>
  ) : (
    button
  );
}

function Row(props: EnvironmentsTableProps & { stack: EnvironmentStatus; next?: string }) {
  const { stack, next, permissions, onAction, isProduction } = props;
  const env = stack.environment;
  const last = stack.last_deployment;
  const runs = stack.current_release !== null || Boolean(stack.current_tag);
  return (
    <TableRow data-testid={`env-${env}`}>
      <TableCell>
        <Typography variant="body2" component="span">
          <strong>{env}</strong>
        </Typography>
        {isProduction(env) && (
          <Chip size="small" label="production" color="secondary" style={{ marginLeft: 4 }} />
        )}
      </TableCell>
      <TableCell>
        {stack.current_tag ?? (runs ? `release ${stack.current_release}` : 'nothing')}
        {stack.current_tag && stack.current_release !== null && (
          <Typography variant="caption" color="textSecondary" component="div">
            release {stack.current_release}
          </Typography>
        )}
      </TableCell>
      <TableCell style={{ whiteSpace: 'nowrap' }}>
        {last ? (
          <span title={last.error ?? undefined}>
            <DeploymentStatusLabel status={last.status} />
            <Typography variant="caption" color="textSecondary" component="div">
              {last.reason}
              {last.tag ? ` ${last.tag}` : ''}
            </Typography>
          </span>
        ) : (
          '—'
        )}
      </TableCell>
      <TableCell style={{ whiteSpace: 'nowrap' }}>
        <HealthLabel health={stack.health} />
      </TableCell>
      <TableCell>
        {stack.url ? (
          <Link href={stack.url} target="_blank" rel="noopener">
            {stack.url}
          </Link>
        ) : (
          '—'
        )}
      </TableCell>
      {!props.readOnly && (
      <TableCell>
        <ActionButton
          label={`Deploy to ${env}`}
          text="Deploy"
          allowed={permissions.deploy}
          onClick={() => onAction('deploy', env)}
        />
        <ActionButton
          label={`Preview ${env}`}
          text="Preview"
          allowed={permissions.preview}
          onClick={() => onAction('preview', env)}
        />
        <ActionButton
          label={`Rollback ${env}`}
          text="Rollback"
          allowed={permissions.rollback}
          disabledReason={runs ? undefined : `Nothing runs in ${env} to roll back`}
          onClick={() => onAction('rollback', env)}
        />
        {next && (
          <ActionButton
            label={`Promote ${env} to ${next}`}
            text={`Promote to ${next}`}
            allowed={permissions.promote}
            disabledReason={runs ? undefined : `Nothing runs in ${env} to promote`}
            onClick={() => onAction('promote', env, next)}
          />
        )}
      </TableCell>
      )}
    </TableRow>
  );
}

/** Per environment: what runs (tag, release), the last deployment, health, URL, actions. */
export function EnvironmentsTable(props: EnvironmentsTableProps) {
  const envs = props.component.environments;
  return (
    <Table size="small" aria-label="Environments">
      <TableHead>
        <TableRow>
          <TableCell>Environment</TableCell>
          <TableCell>Running</TableCell>
          <TableCell>Last deployment</TableCell>
          <TableCell>Health</TableCell>
          <TableCell>URL</TableCell>
          {!props.readOnly && <TableCell>Actions</TableCell>}
        </TableRow>
      </TableHead>
      <TableBody>
        {envs.map((stack, index) => (
          <Row
            key={stack.environment}
            {...props}
            stack={stack}
            next={envs[index + 1]?.environment}
          />
        ))}
      </TableBody>
    </Table>
  );
}
