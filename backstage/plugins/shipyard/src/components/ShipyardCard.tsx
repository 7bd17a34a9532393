import { useCallback, useMemo, useState } from 'react';
import { Box, Button, CircularProgress, Typography } from '@material-ui/core';
import { Alert } from '@material-ui/lab';
import { InfoCard } from '@backstage/core-components';
import { configApiRef, useApi } from '@backstage/core-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import { usePermission } from '@backstage/plugin-permission-react';
import { ResourcePermission } from '@backstage/plugin-permission-common';
import { shipyardApiRef } from '../api/ShipyardApi';
import { Deployment } from '../api/types';
import { isShipyardAvailable, shipyardRef } from '../annotations';
import {
  shipyardComponentDeployPermission,
  shipyardComponentPromotePermission,
  shipyardComponentRollbackPermission,
} from '../permissions';
import { ActionDialog, ActionKind } from './ActionDialog';
import { DeploymentLog } from './DeploymentLog';
import { Allowed, EnvironmentsTable } from './EnvironmentsTable';
import { History } from './History';
import { ErrorMessage, NotOnboarded } from './Messages';
import { LogTiming, useLoad } from './hooks';

/** @public */
export interface ShipyardCardProps extends LogTiming {
  /** `card` (the overview card, last 5 deployments) or `page` (the tab: paged history). */
  variant?: 'card' | 'page';
}

export const DEFAULT_PRODUCTION_ENVIRONMENTS = ['prod', 'production'];

function useAllowed(permission: ResourcePermission, resourceRef: string): Allowed {
  const { loading, allowed } = usePermission({ permission, resourceRef });
  return { loading, allowed, permission };
}

function Body(props: ShipyardCardProps) {
  const { entity } = useEntity();
  const api = useApi(shipyardApiRef);
  const config = useApi(configApiRef);
  const ref = useMemo(() => shipyardRef(entity), [entity]);
  const entityRef = stringifyEntityRef(entity);
  const page = props.variant === 'page';
  const limit = page ? 20 : 5;

  const production = useMemo(
    () =>
      new Set(
        config.getOptionalStringArray('shipyard.productionEnvironments') ??
          DEFAULT_PRODUCTION_ENVIRONMENTS,
      ),
    [config],
  );
  const deploy = useAllowed(shipyardComponentDeployPermission, entityRef);
  const permissions: Record<ActionKind, Allowed> = {
    deploy,
    preview: deploy,
    rollback: useAllowed(shipyardComponentRollbackPermission, entityRef),
    promote: useAllowed(shipyardComponentPromotePermission, entityRef),
  };

  const [environment, setEnvironment] = useState('');
  const [offset, setOffset] = useState(0);
  const [openId, setOpenId] = useState<number | undefined>();
  const [active, setActive] = useState<Deployment | undefined>();
  const [action, setAction] = useState<
    { kind: ActionKind; environment: string; destination?: string } | undefined
  >();

  const component = useLoad(() => api.getComponent(ref), [api, ref.namespace, ref.name]);
  const history = useLoad(
    () =>
      api.listDeployments(ref, {
        limit,
        offset,
        environment: environment || undefined,
      }),
    [api, ref.namespace, ref.name, limit, offset, environment],
  );
  const { retry: retryComponent } = component;
  const { retry: retryHistory } = history;
  const refresh = useCallback(() => {
    retryComponent();
    retryHistory();
  }, [retryComponent, retryHistory]);

  if (component.loading && !component.value) {
    return (
      <Box display="flex" alignItems="center" style={{ gap: 8 }} role="progressbar" aria-label="Loading Shipyard">
        <CircularProgress size={20} />
        <Typography variant="body2">Asking Shipyard about {ref.name}…</Typography>
      </Box>
    );
  }
  if (component.error) {
    return <ErrorMessage error={component.error} onRetry={component.retry} />;
  }
  const detail = component.value!;
  const nothingDeployed =
    detail.environments.every(env => !env.current_release && !env.current_tag && !env.last_deployment) &&
    (history.value?.items.length ?? 0) === 0;
  const allRefused = Object.values(permissions).every(p => !p.loading && !p.allowed);

  const started = (deployment: Deployment) => {
    setAction(undefined);
    setOffset(0);
    setOpenId(undefined);
    setActive(deployment);
    refresh();
  };

  return (
    <Box>
      {detail.environments.length === 0 && (
        <Alert severity="warning" role="status">
          Shipyard has no environment for {detail.ref}: the platform (platform.yaml) defines
          none, or the component's template excludes them all.
        </Alert>
      )}
      {nothingDeployed && detail.environments.length > 0 && (
        <Alert severity="info" role="status">
          Nothing deployed yet: pick an environment and Deploy a tag.
        </Alert>
      )}
      {api.readOnly && (
        <Alert severity="info" role="status">
          Read-only: this Backstage reads Shipyard through its proxy (shipyard.proxyPath). To
          deploy from here, install the Shipyard backend plugin.
        </Alert>
      )}
      {!api.readOnly && allRefused && (
        <Alert severity="info" role="status">
          You can look but not act: deploying needs the Backstage permission{' '}
          <code>{shipyardComponentDeployPermission.name}</code> on {entityRef}.
        </Alert>
      )}
      {detail.environments.length > 0 && (
        <EnvironmentsTable
          component={detail}
          isProduction={env => production.has(env)}
          permissions={permissions}
          readOnly={api.readOnly}
          compact={!page}
          onAction={(kind, env, destination) =>
            setAction({ kind, environment: env, destination })
          }
        />
      )}
      {active && (
        <Box marginTop={2} padding={1} border={1} borderColor="divider" borderRadius={4}>
          <Box display="flex" justifyContent="space-between" alignItems="center">
            <Typography variant="subtitle1" component="h3">
              {active.reason} in {active.environment}
              {active.tag ? `: ${active.tag}` : ''}
            </Typography>
            <Button size="small" onClick={() => setActive(undefined)}>
              Close
            </Button>
          </Box>
          <DeploymentLog
            key={active.id}
            deploymentId={active.id}
            stallMs={props.stallMs}
            pollMs={props.pollMs}
            onDone={refresh}
            canCancel={!api.readOnly && deploy.allowed}
          />
        </Box>
      )}
      {history.error && <ErrorMessage error={history.error} onRetry={history.retry} />}
      {history.value && (
        <History
          page={history.value}
          environments={detail.environments.map(env => env.environment)}
          openId={openId}
          onOpen={setOpenId}
          onLogDone={refresh}
          canCancel={!api.readOnly && deploy.allowed}
          paged={page}
          environment={environment}
          onEnvironment={env => {
            setEnvironment(env);
            setOffset(0);
          }}
          onOffset={setOffset}
          stallMs={props.stallMs}
          pollMs={props.pollMs}
        />
      )}
      {action && (
        <ActionDialog
          kind={action.kind}
          componentRef={ref}
          component={detail}
          environment={action.environment}
          destination={action.destination}
          production={production.has(
            action.kind === 'promote' ? action.destination ?? '' : action.environment,
          )}
          onClose={() => setAction(undefined)}
          onStarted={started}
        />
      )}
    </Box>
  );
}

/** Shipyard on a Component's page: per environment what runs and the actions. @public */
export function ShipyardCard(props: ShipyardCardProps) {
  const { entity } = useEntity();
  const content = isShipyardAvailable(entity) ? <Body {...props} /> : <NotOnboarded entity={entity} />;
  if (props.variant === 'page') {
    return <InfoCard title="Shipyard">{content}</InfoCard>;
  }
  return (
    <InfoCard title="Shipyard" subheader="Deployments by environment">
      {content}
    </InfoCard>
  );
}

/** The full tab: the same, with the paged and filtered history. @public */
export function ShipyardContent(props: Omit<ShipyardCardProps, 'variant'>) {
  return <ShipyardCard {...props} variant="page" />;
}
