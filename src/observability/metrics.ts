/**
 * The Prometheus metrics of one process, in a Registry of its own (not prom-client's global one),
 * so several servers can run in one process (the tests do) without sharing counters. Every name
 * starts with `laneq_`; no label names a client or a request, so the number of series stays
 * bounded by the request types, routes and outcomes.
 */
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { QueueEngine } from '../queue/engine.js';
import type { AttemptOutcome, ClaimedRequest, CompletionResult } from '../queue/worker-ops.js';
import type { Runner } from '../worker/runner.js';
import { type CounterChild, type HistogramChild, HotCounter, HotHistogram } from './hot-metrics.js';
import type { Logger } from './logger.js';
import { QueueSnapshotReader, registerQueueGauges } from './queue-gauges.js';

/** Seconds a request waits from enqueue to start: from instant to hours behind a deep backlog. */
const WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** Seconds one attempt runs: sub-millisecond no-ops up to the longest timeouts. */
const RUN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const OUTCOMES: readonly CompletionResult[] = ['succeeded', 'failed', 'retrying', 'stale'];

/** The series of one request type, bound once so that observing costs no label lookup. */
interface TypeSeries {
  started: CounterChild;
  wait: HistogramChild;
  run: HistogramChild;
  finished: Record<CompletionResult, CounterChild>;
}

/** How often a failing queue reading is logged (every scrape tries it). */
const ERROR_LOG_EVERY_MS = 60_000;

export class Metrics {
  readonly registry = new Registry();
  private readonly http: Histogram<'method' | 'route' | 'status_code'>;
  private readonly enqueuedTotal: HotCounter;
  private readonly startedTotal: HotCounter;
  private readonly finishedTotal: HotCounter;
  private readonly waitSeconds: HotHistogram;
  private readonly runSeconds: HotHistogram;
  // Unlabelled: their one child exists from the start, so they are exposed at 0 before anything happens.
  private readonly redeliveries: CounterChild;
  private readonly leaseFailures: CounterChild;
  private readonly archivedTotal: CounterChild;
  private readonly byType = new Map<string, TypeSeries>();
  private readonly enqueuedByType = new Map<string, CounterChild>();

  constructor(private readonly log: Logger) {
    collectDefaultMetrics({ register: this.registry, prefix: 'laneq_' });
    // prom-client names these gauges like counters, which promtool's lint refuses; each is the sum
    // of its labelled twin (laneq_nodejs_active_handles{type} …), so nothing is lost.
    for (const total of ['handles', 'requests', 'resources']) this.registry.removeSingleMetric(`laneq_nodejs_active_${total}_total`);
    const registry = this.registry;
    this.http = new Histogram({
      name: 'laneq_http_request_duration_seconds',
      help: 'HTTP requests served by the API, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_BUCKETS,
      registers: [registry],
    });
    this.enqueuedTotal = new HotCounter('laneq_requests_enqueued_total', 'Requests accepted by the API, by type.', ['type'], registry);
    this.startedTotal = new HotCounter('laneq_requests_started_total', 'Attempts started by workers (retries and redeliveries included), by type.', ['type'], registry);
    this.finishedTotal = new HotCounter(
      'laneq_requests_finished_total',
      'Attempts ended, by type and outcome: succeeded, failed (dead-lettered), retrying (will run again), stale (lease lost, result refused).',
      ['type', 'outcome'],
      registry,
    );
    this.waitSeconds = new HotHistogram('laneq_request_wait_seconds', 'Time from enqueue to the first attempt\'s start, by type.', ['type'], WAIT_BUCKETS, registry);
    this.runSeconds = new HotHistogram('laneq_request_run_seconds', 'Duration of one attempt, start to completion recorded, by type.', ['type'], RUN_BUCKETS, registry);
    this.redeliveries = new HotCounter('laneq_redeliveries_total', 'Requests delivered again because their worker\'s lease expired.', [], registry).child();
    this.leaseFailures = new HotCounter('laneq_lease_expired_failures_total', 'Requests dead-lettered because their last attempt\'s lease expired.', [], registry).child();
    this.archivedTotal = new HotCounter('laneq_archived_records_total', 'Final records written to the PostgreSQL archive by this process.', [], registry).child();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Queue-wide gauges from Redis (every process can report them; aggregate with max()). */
  watchQueues(engine: QueueEngine): void {
    let lastLogged = 0;
    registerQueueGauges(this.registry, new QueueSnapshotReader(engine.redis, engine.keys.shards), (error) => {
      if (Date.now() - lastLogged < ERROR_LOG_EVERY_MS) return;
      lastLogged = Date.now();
      this.log.warn({ err: error }, 'could not read the queue gauges from Redis');
    });
  }

  /** This process's worker: its busy slots against its concurrency. */
  watchRunner(runner: Runner, concurrency: number): void {
    new Gauge({
      name: 'laneq_worker_requests_in_flight',
      help: 'Requests this worker process is running now.',
      registers: [this.registry],
      collect() {
        this.set(runner.inFlight);
      },
    });
    new Gauge({ name: 'laneq_worker_concurrency', help: 'Requests this worker process may run at once (WORKER_CONCURRENCY).', registers: [this.registry] }).set(
      concurrency,
    );
  }

  httpRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.http.observe({ method, route, status_code: statusCode }, seconds);
  }

  enqueued(type: string): void {
    let child = this.enqueuedByType.get(type);
    if (!child) {
      child = this.enqueuedTotal.child(type);
      this.enqueuedByType.set(type, child);
    }
    child.value += 1;
  }

  started(request: ClaimedRequest, waitMs: number): void {
    const series = this.series(request.type);
    series.started.value += 1;
    // Later attempts would count their earlier attempts and backoff as waiting.
    if (request.attempt === 1) series.wait.observe(waitMs / 1000);
  }

  finished(request: ClaimedRequest, result: CompletionResult, _outcome: AttemptOutcome, durationMs: number): void {
    const series = this.series(request.type);
    series.finished[result].value += 1;
    series.run.observe(durationMs / 1000);
  }

  leasesRecovered(redelivered: number, deadLettered: number): void {
    this.redeliveries.value += redelivered;
    this.leaseFailures.value += deadLettered;
  }

  archived(rows: number): void {
    this.archivedTotal.value += rows;
  }

  private series(type: string): TypeSeries {
    let series = this.byType.get(type);
    if (!series) {
      const finished = {} as Record<CompletionResult, CounterChild>;
      for (const outcome of OUTCOMES) finished[outcome] = this.finishedTotal.child(type, outcome);
      series = {
        started: this.startedTotal.child(type),
        wait: this.waitSeconds.child(type),
        run: this.runSeconds.child(type),
        finished,
      };
      this.byType.set(type, series);
    }
    return series;
  }
}
