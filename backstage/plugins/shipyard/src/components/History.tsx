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

/** The last deployments (every operation), newest first; a row opens its live log. */
export function History(props: HistoryProps) {
  const { page, openId, onOpen, paged } = props;
  // Shipyard's history names who asked only when the server says (newer servers)
  const who = page.items.some(item => item.requested_by);
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
              <TableCell>#</TableCell>
              <TableCell>Environment</TableCell>
              <TableCell>What</TableCell>
              <TableCell>Status</TableCell>
              {who && <TableCell>Who</TableCell>}
              <TableCell>When</TableCell>
              <TableCell />
            </TableRow>
          </TableHead>
          <TableBody>
            {page.items.map(deployment => (
              <Fragment key={deployment.id}>
                <TableRow data-testid={`deployment-${deployment.id}`}>
                  <TableCell>{deployment.id}</TableCell>
                  <TableCell>{deployment.environment}</TableCell>
                  <TableCell>
                    {deployment.reason}
                    {deployment.tag ? ` ${deployment.tag}` : ''}
                    {deployment.release ? ` (release ${deployment.release})` : ''}
                  </TableCell>
                  <TableCell>
                    <DeploymentStatusLabel status={deployment.status} />
                  </TableCell>
                  {who && <TableCell>{deployment.requested_by ?? ''}</TableCell>}
                  <TableCell>{when(deployment.created_at)}</TableCell>
                  <TableCell>
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
                    <TableCell colSpan={who ? 7 : 6}>
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
