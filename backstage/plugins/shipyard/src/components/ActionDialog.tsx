import { useCallback, useState } from 'react';
import {
  Box,
  Button,
  Dialog,
  DialogActions,
  DialogContent,
  DialogTitle,
  TextField,
  Typography,
} from '@material-ui/core';
import { useApi } from '@backstage/core-plugin-api';
import { shipyardApiRef } from '../api/ShipyardApi';
import { ComponentDetail, ComponentRef, Deployment } from '../api/types';
import { ErrorMessage } from './Messages';
import { TagPicker } from './TagPicker';

export type ActionKind = 'deploy' | 'preview' | 'rollback' | 'promote';

export interface ActionDialogProps {
  kind: ActionKind;
  componentRef: ComponentRef;
  component: ComponentDetail;
  /** deploy, preview, rollback: the environment; promote: the one promoted from. */
  environment: string;
  /** promote: the environment promoted to. */
  destination?: string;
  /** The environment changed is a production one: ask for a typed confirmation. */
  production: boolean;
  onClose: () => void;
  onStarted: (deployment: Deployment) => void;
}

const VERBS: Record<ActionKind, string> = {
  deploy: 'Deploy',
  preview: 'Preview',
  rollback: 'Roll back',
  promote: 'Promote',
};

export function ActionDialog(props: ActionDialogProps) {
  const { kind, componentRef, component, environment, destination, production } = props;
  const api = useApi(shipyardApiRef);
  const needsTag = kind === 'deploy' || kind === 'preview';
  const { namespace, name } = componentRef;
  const loadTags = useCallback(
    (query: { q: string; limit: number; offset: number }) =>
      api.listTags({ namespace, name }, query),
    [api, namespace, name],
  );
  const [tag, setTag] = useState<string | undefined>();
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();

  const stack = component.environments.find(env => env.environment === environment);
  const target = kind === 'promote' ? destination ?? 'the next environment' : environment;
  const confirmWord = component.name;
  const confirmed = !production || typed.trim() === confirmWord;
  const ready = confirmed && !busy && (kind !== 'deploy' || Boolean(tag));
  const verb = VERBS[kind];

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      let deployment: Deployment;
      if (kind === 'deploy') {
        deployment = await api.deploy(componentRef, { environment, tag: tag! });
      } else if (kind === 'preview') {
        deployment = await api.preview(componentRef, { environment, tag });
      } else if (kind === 'rollback') {
        deployment = await api.rollback(componentRef, { environment });
      } else {
        deployment = await api.promote(componentRef, { from: environment, to: destination });
      }
      props.onStarted(deployment);
    } catch (e) {
      setError(e as Error);
      setBusy(false);
    }
  };

  return (
    <Dialog open onClose={props.onClose} fullWidth maxWidth="sm" aria-labelledby="shipyard-action-title">
      <DialogTitle id="shipyard-action-title">
        {kind === 'promote'
          ? `Promote ${component.name} from ${environment} to ${target}`
          : `${verb} ${component.name} in ${environment}`}
      </DialogTitle>
      <DialogContent>
        {kind === 'rollback' && (
          <Typography variant="body2" paragraph>
            {environment} runs {stack?.current_tag ?? 'nothing'}
            {stack?.current_release ? ` (release ${stack.current_release})` : ''}. Rolling back
            deploys the release that ran before it.
          </Typography>
        )}
        {kind === 'promote' && (
          <Typography variant="body2" paragraph>
            Deploys the image running in {environment} ({stack?.current_tag ?? 'nothing'}) to{' '}
            {target}, unchanged.
          </Typography>
        )}
        {kind === 'preview' && (
          <Typography variant="body2" paragraph>
            Shows what deploying would change (the Pulumi diff), changing nothing. Without a
            tag: the running release.
          </Typography>
        )}
        {needsTag && (
          <TagPicker
            load={loadTags}
            environment={environment}
            environments={component.environments.map(env => env.environment)}
            selected={tag}
            onSelect={setTag}
          />
        )}
        {needsTag && tag && (
          <Typography variant="body2">
            Selected: <strong>{tag}</strong>
          </Typography>
        )}
        {production && (
          <Box marginTop={2}>
            <Typography variant="body2" color="error" paragraph>
              {target} is a production environment.
            </Typography>
            <TextField
              label={`Type ${confirmWord} to confirm`}
              value={typed}
              onChange={event => setTyped(event.target.value)}
              fullWidth
              variant="outlined"
              margin="dense"
              inputProps={{ 'aria-label': `Type ${confirmWord} to confirm` }}
            />
          </Box>
        )}
        {error && (
          <Box marginTop={2}>
            <ErrorMessage error={error} />
          </Box>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={props.onClose}>Cancel</Button>
        <Button color="primary" variant="contained" disabled={!ready} onClick={submit}>
          {kind === 'deploy' && tag ? `Deploy ${tag} to ${environment}` : verb}
        </Button>
      </DialogActions>
    </Dialog>
  );
}
