import { Box, Button, Typography } from '@material-ui/core';
import { Alert } from '@material-ui/lab';
import { Entity } from '@backstage/catalog-model';
import { ShipyardError, whatToDo } from '../api/errors';

const TITLES: Record<string, string> = {
  unreachable: 'Shipyard cannot be reached',
  'not-configured': 'Shipyard is not configured in this Backstage',
  'not-found': 'Shipyard does not know this component yet',
  unauthorized: 'Not signed in',
  forbidden: 'Not allowed',
  conflict: 'Refused for now',
  invalid: 'Refused',
  server: 'Shipyard failed',
};

/** An error as a message a person can act on: what happened, and what to do. */
export function ErrorMessage(props: { error: Error; onRetry?: () => void }) {
  const { error, onRetry } = props;
  const shipyard = error instanceof ShipyardError ? error : undefined;
  const title = shipyard ? TITLES[shipyard.kind] : 'Something went wrong';
  const severity = shipyard?.kind === 'forbidden' || shipyard?.kind === 'not-found' ? 'warning' : 'error';
  return (
    <Alert
      severity={severity}
      role="alert"
      action={
        onRetry ? (
          <Button color="inherit" size="small" onClick={onRetry}>
            Retry
          </Button>
        ) : undefined
      }
    >
      <Typography variant="subtitle2" component="p">
        {title}
      </Typography>
      <Typography variant="body2" component="p">
        {error.message}
      </Typography>
      {shipyard?.configKey && (
        <Typography variant="body2" component="p">
          Missing config key: <code>{shipyard.configKey}</code>
        </Typography>
      )}
      {shipyard?.permission && (
        <Typography variant="body2" component="p">
          Permission needed: <code>{shipyard.permission}</code>
        </Typography>
      )}
      <Typography variant="body2" component="p">
        {shipyard ? whatToDo(shipyard) : 'Retry; if it persists, check the browser console.'}
      </Typography>
    </Alert>
  );
}

/** The component carries no `shipyard.dev/*` annotation: how to onboard it. */
export function NotOnboarded(props: { entity: Entity }) {
  const name = props.entity.metadata.name;
  return (
    <Box role="status">
      <Typography variant="subtitle1" component="p">
        {name} is not onboarded to Shipyard
      </Typography>
      <Typography variant="body2" component="p">
        Add <code>shipyard.dev/*</code> annotations to its <code>catalog-info.yaml</code>, for
        example:
      </Typography>
      <Box component="pre" fontSize="0.8rem" padding={1} bgcolor="action.hover">
        {`metadata:
  annotations:
    shipyard.dev/template: web-service
    shipyard.dev/tag-pattern: '^v\\d+\\.\\d+\\.\\d+$'`}
      </Box>
      <Typography variant="body2" component="p">
        Then let Shipyard read it (<code>shipyard component sync</code>, or the catalog
        webhook). The keys are described in Shipyard's docs/annotations.md.
      </Typography>
    </Box>
  );
}
