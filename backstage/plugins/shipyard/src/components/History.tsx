import { Fragment } from 'react';
import {
  Box,
  Button,
  MenuItem,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@material-ui/core';
import { makeStyles } from '@material-ui/core/styles';
import { Deployment, Page } from '../api/types';
import { DeploymentLog } from './DeploymentLog';
import { DeploymentStatusLabel } from './StatusChips';
import { LogTiming } from './hooks';

export interface HistoryProps extends LogTiming {
  page: Page<Deployment>;
  environments: string[];
  /** The deployment whose log is open. */
  openId?: number;
  onOpen: (id: number | undefined) => void;
  onLogDone?: () => void;
  /** Offer Cancel in the log of a running deployment. */
  canCancel?: boolean;
  /** The full tab pages and filters; the card shows the last few. */
  paged?: boolean;
  environment?: string;
  onEnvironment?: (environment: string) => void;
  onOffset?: (offset: number) => void;
}

function when(iso: string | null): string {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

const useStyles = makeStyles({
  // Backstage's theme breaks table cells anywhere (wordBreak: break-word): not in these
  nowrap: { whiteSpace: 'nowrap', wordBreak: 'normal' },
  words: { wordBreak: 'normal', overflowWrap: 'break-word' },
});

/**
 * The last deployments (every operation), newest first; a row opens its live log. The
 * card (not `paged`, half the overview's width) puts when and who under what.
 */
export function History(props: HistoryProps) {
  const { page, openId, onOpen, paged } = props;
  const classes = useStyles();
  // Shipyard's history names who asked only when the server says (newer servers)
  const who = page.items.some(item => item.requested_by);
  const compact = !paged;
  const columns = 4 + (compact ? 0 : 1 + (who ? 1 : 0)) + 1;
  return (
    <Box marginTop={2}>
      <Box display="flex" alignItems="center" justifyContent="space-between">
        <Typography variant="subtitle1" component="h3">
          {paged ? 'History' : 'Last deployments'}
        </Typography>
        {paged && props.onEnvironment && (
          <TextField
            select
            label="Environment"
            value={props.environment ?? ''}
            onChange={event => props.onEnvironment!(event.target.value)}
            margin="dense"
            style={{ minWidth: 160 }}
          >
            <MenuItem value="">every environment</MenuItem>
            {props.environments.map(env => (
              <MenuItem key={env} value={env}>
                {env}
              </MenuItem>
            ))}
          </TextField>
        )}
      </Box>
      {page.items.length === 0 ? (
        <Typography variant="body2" role="status">
          No deployment yet.
        </Typography>
      ) : (
        <Table size="small" aria-label="Deployments">
          <TableHead>
            <TableRow>
              <TableCell className={classes.nowrap}>#</TableCell>
              <TableCell className={classes.nowrap}>Environment</TableCell>
              <TableCell className={classes.nowrap}>What</TableCell>
              <TableCell className={classes.nowrap}>Status</TableCell>
              {!compact && who && <TableCell className={classes.nowrap}>Who</TableCell>}
              {!compact && <TableCell className={classes.nowrap}>When</TableCell>}
              <TableCell />
            </TableRow>
          </TableHead>
          <TableBody>
            {page.items.map(deployment => (
              <Fragment key={deployment.id}>
                <TableRow data-testid={`deployment-${deployment.id}`}>
                  <TableCell className={classes.nowrap}>{deployment.id}</TableCell>
                  <TableCell className={classes.nowrap}>{deployment.environment}</TableCell>
                  <TableCell className={classes.words}>
                    <span>
                      {deployment.reason}
                      {deployment.tag ? ` ${deployment.tag}` : ''}
                      {deployment.release ? ` (release ${deployment.release})` : ''}
                    </span>
                    {compact && (
                      <Typography variant="caption" color="textSecondary" component="div">
                        {when(deployment.created_at)}
                        {deployment.requested_by ? ` by ${deployment.requested_by}` : ''}
                      </Typography>
                    )}
                  </TableCell>
                  <TableCell className={classes.nowrap}>
                    <DeploymentStatusLabel status={deployment.status} />
                  </TableCell>
                  {!compact && who && <TableCell>{deployment.requested_by ?? ''}</TableCell>}
                  {!compact && (
                    <TableCell className={classes.nowrap}>{when(deployment.created_at)}</TableCell>
                  )}
                  <TableCell className={classes.nowrap}>
                    <Button
                      size="small"
                      onClick={() => onOpen(openId === deployment.id ? undefined : deployment.id)}
                      aria-label={`${openId === deployment.id ? 'Hide' : 'Show'} log of deployment ${deployment.id}`}
                    >
                      {openId === deployment.id ? 'Hide log' : 'Log'}
                    </Button>
                  </TableCell>
                </TableRow>
                {openId === deployment.id && (
                  <TableRow>
                    <TableCell colSpan={columns}>
                      <DeploymentLog
                        deploymentId={deployment.id}
                        stallMs={props.stallMs}
                        pollMs={props.pollMs}
                        onDone={props.onLogDone}
                        canCancel={props.canCancel}
                      />
                    </TableCell>
                  </TableRow>
                )}
              </Fragment>
            ))}
          </TableBody>
        </Table>
      )}
      {paged && props.onOffset && (page.offset > 0 || page.next_offset !== null) && (
        <Box display="flex" justifyContent="space-between" marginTop={1}>
          <Button
            size="small"
            disabled={page.offset === 0}
            onClick={() => props.onOffset!(Math.max(0, page.offset - page.limit))}
          >
            Newer
          </Button>
          <Button
            size="small"
            disabled={page.next_offset === null}
            onClick={() => props.onOffset!(page.next_offset ?? page.offset)}
          >
            Older
          </Button>
        </Box>
      )}
    </Box>
  );
}
