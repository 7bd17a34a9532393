import { useCallback, useEffect, useRef, useState } from 'react';
import { ShipyardApi } from '../api/ShipyardApi';
import { ShipyardError } from '../api/errors';
import { Deployment, DeploymentEvent, FINISHED_STATUSES } from '../api/types';

/** The state of something loaded: a tiny useAsyncRetry. */
export interface Loaded<T> {
  loading: boolean;
  value?: T;
  error?: Error;
  retry: () => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ loading: boolean; value?: T; error?: Error }>({
    loading: true,
  });
  const [attempt, setAttempt] = useState(0);
  const retry = useCallback(() => setAttempt(n => n + 1), []);
  useEffect(() => {
    let live = true;
    setState(previous => ({ ...previous, loading: true }));
    load().then(
      value => live && setState({ loading: false, value }),
      error => live && setState({ loading: false, error }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, attempt]);
  return { ...state, retry };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** How a deployment's log is being followed. */
export type LogMode = 'streaming' | 'polling' | 'done';

export interface DeploymentLogState {
  events: DeploymentEvent[];
  mode: LogMode;
  /** Why the stream was given up for polling. */
  fallback?: 'stalled' | 'cut';
  /** The deployment as the database last said: the truth about its status. */
  deployment?: Deployment;
  error?: ShipyardError | Error;
  /** A transient problem while polling (it goes on). */
  retrying?: string;
}

export interface LogTiming {
  /** Give the stream up after this long without a byte (default 20 s). */
  stallMs?: number;
  /** Poll this often once the stream was given up (default 2 s). */
  pollMs?: number;
}

/**
 * Follows a deployment's events: the SSE stream read through `fetchApi` (headers and
 * all), and when it stalls or is cut, polling the deployment and its stored events
 * until the database says it finished.
 */
export function useDeploymentLog(
  api: ShipyardApi,
  id: number,
  timing: LogTiming = {},
): DeploymentLogState {
  const [state, setState] = useState<DeploymentLogState>({ events: [], mode: 'streaming' });
  const timingRef = useRef(timing);
  timingRef.current = timing;

  useEffect(() => {
    const controller = new AbortController();
    const signal = controller.signal;
    let after: number | undefined;
    const update = (patch: Partial<DeploymentLogState>) => {
      if (!signal.aborted) setState(previous => ({ ...previous, ...patch }));
    };
    const push = (event: DeploymentEvent) => {
      if (signal.aborted || (after !== undefined && event.seq <= after)) return;
      after = event.seq;
      setState(previous => ({ ...previous, events: [...previous.events, event] }));
    };
    const pollMs = timingRef.current.pollMs ?? 2000;

    const poll = async () => {
      for (;;) {
        if (signal.aborted) return;
        try {
          const stored = await api.getEvents(id, { after });
          stored.events.forEach(push);
          const deployment = await api.getDeployment(id);
          update({ deployment, retrying: undefined });
          if (FINISHED_STATUSES.includes(deployment.status)) {
            if (!stored.end) (await api.getEvents(id, { after })).events.forEach(push);
            return;
          }
        } catch (error) {
          if (error instanceof ShipyardError && error.kind === 'unreachable') {
            update({ retrying: error.message });
          } else {
            throw error;
          }
        }
        await sleep(pollMs, signal);
      }
    };

    (async () => {
      try {
        setState({ events: [], mode: 'streaming' });
        const result = await api.streamEvents(id, {
          signal,
          stallMs: timingRef.current.stallMs,
          onEvent: push,
        });
        if (result.outcome === 'aborted') return;
        if (result.outcome !== 'end') {
          update({ mode: 'polling', fallback: result.outcome });
          await poll();
        }
        if (signal.aborted) return;
        // whatever the stream said, the database's status is the truth
        update({ deployment: await api.getDeployment(id), mode: 'done' });
      } catch (error) {
        update({ error: error as Error, mode: 'done' });
      }
    })();
    return () => controller.abort();
  }, [api, id]);

  return state;
}
