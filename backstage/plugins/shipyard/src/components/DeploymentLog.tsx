import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import {
  Box,
  Button,
  Link,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  Typography,
} from '@material-ui/core';
import { makeStyles } from '@material-ui/core/styles';
import { useApi } from '@backstage/core-plugin-api';
import { shipyardApiRef } from '../api/ShipyardApi';
import { ErrorMessage } from './Messages';
import { DeploymentStatusLabel } from './StatusChips';
import { LogTiming, useDeploymentLog } from './hooks';

export interface DeploymentLogProps extends LogTiming {
  deploymentId: number;
  /** Called once the log is done (the deployment finished, or following it failed). */
  onDone?: () => void;
  /** Offer Cancel while it runs (the person may deploy this component). */
  canCancel?: boolean;
}

const useStyles = makeStyles(theme => ({
  log: {
    fontSize: '0.75rem',
    maxHeight: 320,
    overflow: 'auto',
    padding: theme.spacing(1),
    margin: 0,
    backgroundColor: theme.palette.action.hover,
    whiteSpace: 'pre-wrap',
    // long image digests and URLs wrap instead of widening the card
    overflowWrap: 'anywhere',
  },
}));

/** How near the end (px) still counts as at the end: a fractional scrollTop, a last pixel. */
export const FOLLOW_SLACK_PX = 24;

/**
 * Keeps a scrolled box at its end as content arrives, unless the person scrolled up to
 * read: then it stays where they are, and follows again once they are back at the end.
 */
export function useFollowEnd(changes: unknown) {
  const box = useRef<HTMLPreElement | null>(null);
  const [following, setFollowing] = useState(true);
  const followingRef = useRef(true);
  const setFollow = useCallback((value: boolean) => {
    followingRef.current = value;
    setFollowing(value);
  }, []);
  const onScroll = useCallback(() => {
    const el = box.current;
    if (!el) return;
    const atEnd = el.scrollHeight - el.scrollTop - el.clientHeight <= FOLLOW_SLACK_PX;
    if (atEnd !== followingRef.current) setFollow(atEnd);
  }, [setFollow]);
  const toEnd = useCallback(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
    setFollow(true);
  }, [setFollow]);
  // before the browser paints the new lines, so the box never shows them cut
  useLayoutEffect(() => {
    const el = box.current;
    if (el && followingRef.current) el.scrollTop = el.scrollHeight;
  }, [changes]);
  return { box, following, onScroll, toEnd };
}

/** A deployment's log, live: streamed while it runs, polled if the stream stalls. */
export function DeploymentLog(props: DeploymentLogProps) {
  const api = useApi(shipyardApiRef);
  const { deploymentId, stallMs, pollMs } = props;
  const log = useDeploymentLog(api, deploymentId, { stallMs, pollMs });
  const deployment = log.deployment;
  const [cancel, setCancel] = useState<{ busy: boolean; error?: Error }>({ busy: false });
  const requestCancel = async () => {
    setCancel({ busy: true });
    try {
      await api.cancel(deploymentId);
      setCancel({ busy: true });
    } catch (error) {
      setCancel({ busy: false, error: error as Error });
    }
  };
  const classes = useStyles();
  const follow = useFollowEnd(log.events.length);
  const onDone = useRef(props.onDone);
  onDone.current = props.onDone;
  useEffect(() => {
    if (log.mode === 'done') onDone.current?.();
  }, [log.mode]);

  return (
    <Box aria-label={`Log of deployment ${deploymentId}`} role="region">
      <Box display="flex" alignItems="center" style={{ gap: 8 }}>
        <Typography variant="subtitle2">Deployment {deploymentId}</Typography>
        {deployment && <DeploymentStatusLabel status={deployment.status} />}
        {log.mode === 'streaming' && <Typography variant="caption">live</Typography>}
        {props.canCancel && log.mode !== 'done' && (
          <Button
            size="small"
            variant="outlined"
            disabled={cancel.busy}
            onClick={requestCancel}
            aria-label={`Cancel deployment ${deploymentId}`}
            style={{ marginLeft: 8 }}
          >
            {cancel.busy ? 'Cancelling…' : 'Cancel'}
          </Button>
        )}
        {log.fallback && (
          <Typography variant="caption" role="status">
            {log.fallback === 'stalled'
              ? 'The live stream stalled (a proxy may buffer it): following by polling.'
              : 'The live stream was cut: following by polling.'}
          </Typography>
        )}
      </Box>
      {log.retrying && (
        <Typography variant="caption" color="error" role="status">
          {log.retrying}; retrying.
        </Typography>
      )}
      <Box position="relative">
        <pre
          ref={follow.box}
          className={classes.log}
          data-testid="shipyard-log"
          role="log"
          aria-live="polite"
          aria-label={`Events of deployment ${deploymentId}`}
          // a scrolling region must take the focus so a keyboard can scroll it (WCAG 2.1.1,
          // axe's scrollable-region-focusable); role=log is not in the rule's list
          // eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex
          tabIndex={0}
          onScroll={follow.onScroll}
        >
          {log.events.length === 0 && log.mode !== 'done' ? 'Waiting for the first event…' : null}
          {log.events.map(event => (
            <div key={event.seq} data-level={event.level}>
              {event.level === 'info' ? '' : `[${event.level}] `}
              {event.message}
            </div>
          ))}
        </pre>
        {!follow.following && (
          <Box position="absolute" right={16} bottom={8}>
            <Button size="small" variant="contained" onClick={follow.toEnd}>
              Follow the end
            </Button>
          </Box>
        )}
      </Box>
      {log.error && <ErrorMessage error={log.error} />}
      {cancel.error && <ErrorMessage error={cancel.error} />}
      {deployment?.status === 'failed' && deployment.error && (
        <Typography variant="body2" color="error" role="alert">
          Failed: {deployment.error}
        </Typography>
      )}
      {deployment?.status === 'succeeded' && deployment.url && (
        <Typography variant="body2">
          Running at{' '}
          <Link href={deployment.url} target="_blank" rel="noopener">
            {deployment.url}
          </Link>
        </Typography>
      )}
      {deployment?.diff && (
        <Box marginTop={1}>
          <Typography variant="subtitle2">
            {deployment.diff.length === 0
              ? 'The preview found no change.'
              : `The preview would change ${deployment.diff.length} resource(s):`}
          </Typography>
          {deployment.diff.length > 0 && (
            <Table size="small" aria-label="Preview diff">
              <TableHead>
                <TableRow>
                  <TableCell>Resource</TableCell>
                  <TableCell>Change</TableCell>
                  <TableCell>Changed inputs</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {deployment.diff.map(change => (
                  <TableRow key={change.urn}>
                    <TableCell title={change.type ?? undefined}>{change.resource}</TableCell>
                    <TableCell>{change.operation}</TableCell>
                    <TableCell>{change.changed_inputs.join(', ')}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </Box>
      )}
    </Box>
  );
}
