/**
 * Where metrics and lifecycle lines meet the queue: the API's enqueue and the worker's runner.
 */
import type { Accepted, NewRequest } from '../queue/engine.js';
import type { RunnerHooks } from '../worker/runner.js';
import type { LifecycleLog } from './lifecycle.js';
import type { Metrics } from './metrics.js';

/**
 * The runner's observer: metrics and lifecycle lines on every attempt's start and end, plus the
 * hooks the caller passed (tests). The runner calls these for every request, so they compute the
 * wait once and skip what is switched off.
 */
export function observeRunner(metrics: Metrics | undefined, lifecycle: LifecycleLog, hooks: RunnerHooks): RunnerHooks {
  const logging = lifecycle.enabled;
  if (!metrics && !logging) return hooks;
  return {
    ...hooks,
    onStarted(request) {
      // enqueuedAt is Redis's clock, now is this host's: clock skew can make it slightly negative.
      const waitMs = Math.max(0, Date.now() - request.enqueuedAt);
      metrics?.started(request, waitMs);
      if (logging) lifecycle.started(request, waitMs);
      hooks.onStarted?.(request);
    },
    onFinished(request, result, outcome, durationMs) {
      metrics?.finished(request, result, outcome, durationMs);
      if (logging) lifecycle.finished(request, result, durationMs, outcome.ok ? undefined : outcome.error.code);
      hooks.onFinished?.(request, result, outcome, durationMs);
    },
  };
}

/** The enqueue route's observer: counts and logs new requests (not idempotent repeats). */
export function observeAccepted(
  metrics: Metrics | undefined,
  lifecycle: LifecycleLog | undefined,
): ((clientId: string, requests: readonly NewRequest[], accepted: readonly Accepted[]) => void) | undefined {
  const logging = lifecycle?.enabled === true;
  if (!metrics && !logging) return undefined;
  return (clientId, requests, accepted) => {
    accepted.forEach((one, n) => {
      if (!one.created) return;
      const type = requests[n]?.type ?? '';
      metrics?.enqueued(type);
      if (logging) lifecycle?.accepted(clientId, one.id, type, one.position);
    });
  };
}
