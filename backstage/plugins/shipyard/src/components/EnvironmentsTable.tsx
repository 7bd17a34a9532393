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
import { makeStyles, useTheme } from '@material-ui/core/styles';
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
  /**
   * Two lines per environment (facts, then URL and actions) for a narrow column such as
   * the overview's half width; otherwise one line with a column each.
   */
  compact?: boolean;
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
      style={{ whiteSpace: 'nowrap' }}
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

const useStyles = makeStyles(theme => ({
  // Backstage's theme breaks table cells anywhere (wordBreak: break-word): not in these
  head: { whiteSpace: 'nowrap', wordBreak: 'normal' },
  nowrap: { whiteSpace: 'nowrap', wordBreak: 'normal' },
  url: {
    display: 'inline-block',
    maxWidth: '100%',
    overflow: 'hidden',
    textOverflow: 'ellipsis',
    whiteSpace: 'nowrap',
    verticalAlign: 'bottom',
  },
  urlCell: { maxWidth: 260 },
  // the card's second line per environment: its URL, then its actions, wrapping between
  // whole buttons when the column is narrow
  actionsLine: {
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    gap: theme.spacing(0.5, 1),
    minWidth: 0,
  },
  actionsLineUrl: { flex: '0 1 auto', minWidth: 0, maxWidth: '100%', marginRight: theme.spacing(1) },
  buttons: { display: 'flex', flexWrap: 'wrap', gap: theme.spacing(0.5) },
  // the two lines of one environment read as one block: no line between them
  firstLine: { '& > td': { paddingBottom: theme.spacing(0.5) } },
  secondLine: { '& > td': { paddingTop: 0 } },
}));

function Url(props: { url: string | null }) {
  const classes = useStyles();
  if (!props.url) return <>—</>;
  return (
    <Link href={props.url} target="_blank" rel="noopener" title={props.url} className={classes.url}>
      {props.url}
    </Link>
  );
}

function EnvironmentName(props: { env: string; production: boolean }) {
  return (
    <>
      <Typography variant="body2" component="span">
        <strong>{props.env}</strong>
      </Typography>
      {props.production && (
        <Chip size="small" label="production" color="secondary" style={{ marginLeft: 4 }} />
      )}
    </>
  );
}

function Running(props: { stack: EnvironmentStatus; runs: boolean }) {
  const { stack, runs } = props;
  return (
    <>
      {stack.current_tag ?? (runs ? `release ${stack.current_release}` : 'nothing')}
      {stack.current_tag && stack.current_release !== null && (
        <Typography variant="caption" color="textSecondary" component="div">
          release {stack.current_release}
        </Typography>
      )}
    </>
  );
}

function LastDeployment(props: { stack: EnvironmentStatus }) {
  const last = props.stack.last_deployment;
  if (!last) return <>—</>;
  return (
    <span title={last.error ?? undefined}>
      <DeploymentStatusLabel status={last.status} />
      <Typography variant="caption" color="textSecondary" component="div">
        {last.reason}
        {last.tag ? ` ${last.tag}` : ''}
      </Typography>
    </span>
  );
}

function Actions(props: EnvironmentsTableProps & { env: string; runs: boolean; next?: string }) {
  const { env, runs, next, permissions, onAction } = props;
  const classes = useStyles();
  return (
    <div className={classes.buttons} role="group" aria-label={`Actions on ${env}`}>
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
    </div>
  );
}

/** The card's columns: environment, running, last deployment, health. */
const COMPACT_COLUMNS = 4;

type RowProps = EnvironmentsTableProps & { stack: EnvironmentStatus; next?: string };

/** An environment's facts, a cell each: its name, what runs, the last deployment, health. */
function FactCells(props: { stack: EnvironmentStatus; production: boolean; runs: boolean }) {
  const { stack, production, runs } = props;
  const classes = useStyles();
  return (
    <>
      <TableCell className={classes.nowrap}>
        <EnvironmentName env={stack.environment} production={production} />
      </TableCell>
      <TableCell className={classes.nowrap}>
        <Running stack={stack} runs={runs} />
      </TableCell>
      <TableCell className={classes.nowrap}>
        <LastDeployment stack={stack} />
      </TableCell>
      <TableCell className={classes.nowrap}>
        <HealthLabel health={stack.health} />
      </TableCell>
    </>
  );
}

/** The full width (the tab): one line per environment, a column each. */
function WideRow(props: RowProps) {
  const { stack, isProduction } = props;
  const classes = useStyles();
  const env = stack.environment;
  const runs = stack.current_release !== null || Boolean(stack.current_tag);
  return (
    <TableRow data-testid={`env-${env}`}>
      <FactCells stack={stack} production={isProduction(env)} runs={runs} />
      <TableCell className={classes.urlCell}>
        <Url url={stack.url} />
      </TableCell>
      {!props.readOnly && (
        <TableCell>
          <Actions {...props} env={env} runs={runs} />
        </TableCell>
      )}
    </TableRow>
  );
}

/**
 * The card (half the overview's width): per environment a line of facts, then a line
 * with its URL and actions, each environment its own row group.
 */
function CompactRows(props: RowProps & { index: number }) {
  const { stack, isProduction, index } = props;
  const classes = useStyles();
  const theme = useTheme();
  const env = stack.environment;
  const runs = stack.current_release !== null || Boolean(stack.current_tag);
  // Backstage stripes odd rows: stripe per environment instead, both its lines alike
  const background =
    index % 2 === 0 ? theme.palette.background.default : theme.palette.background.paper;
  return (
    <TableBody data-testid={`env-${env}`}>
      <TableRow className={classes.firstLine} style={{ backgroundColor: background }}>
        <FactCells stack={stack} production={isProduction(env)} runs={runs} />
      </TableRow>
      <TableRow className={classes.secondLine} style={{ backgroundColor: background }}>
        <TableCell colSpan={COMPACT_COLUMNS}>
          <div className={classes.actionsLine}>
            {stack.url && (
              <span className={classes.actionsLineUrl}>
                <Url url={stack.url} />
              </span>
            )}
            {!props.readOnly && <Actions {...props} env={env} runs={runs} />}
          </div>
        </TableCell>
      </TableRow>
    </TableBody>
  );
}

/** The heads of the fact cells. */
function FactHeads() {
  const classes = useStyles();
  return (
    <>
      <TableCell className={classes.head}>Environment</TableCell>
      <TableCell className={classes.head}>Running</TableCell>
      <TableCell className={classes.head}>Last deployment</TableCell>
      <TableCell className={classes.head}>Health</TableCell>
    </>
  );
}

/** Per environment: what runs (tag, release), the last deployment, health, URL, actions. */
export function EnvironmentsTable(props: EnvironmentsTableProps) {
  const envs = props.component.environments;
  const classes = useStyles();
  if (props.compact) {
    return (
      <Table size="small" aria-label="Environments">
        <TableHead>
          <TableRow>
            <FactHeads />
          </TableRow>
        </TableHead>
        {envs.map((stack, index) => (
          <CompactRows
            key={stack.environment}
            {...props}
            index={index}
            stack={stack}
            next={envs[index + 1]?.environment}
          />
        ))}
      </Table>
    );
  }
  return (
    <Table size="small" aria-label="Environments">
      <TableHead>
        <TableRow>
          <FactHeads />
          <TableCell className={classes.head}>URL</TableCell>
          {!props.readOnly && <TableCell className={classes.head}>Actions</TableCell>}
        </TableRow>
      </TableHead>
      <TableBody>
        {envs.map((stack, index) => (
          <WideRow
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
