/**
 * The one place that reads `process.env`. Every setting is declared in one schema, validated at
 * start-up, and the result is deep-frozen so no component can change it behind another's back.
 * `.env.example` documents the same variables; a test keeps the two in step.
 */
import { randomBytes } from 'node:crypto';
import { Ajv, type ErrorObject } from 'ajv';

// The schema is plain JSON Schema checked by Ajv (which coerces the environment's strings and
// fills defaults), not TypeBox: a worker process would otherwise load TypeBox only for this, and
// it weighs about 20 MB of resident memory.
const Int = (minimum: number, maximum: number, defaultValue: number, description: string) =>
  ({ type: 'integer', minimum, maximum, default: defaultValue, description }) as const;
const Text = (defaultValue: string, description: string, pattern?: string) =>
  ({ type: 'string', default: defaultValue, description, ...(pattern ? { pattern } : {}) }) as const;
const OneOf = <const Values extends readonly string[]>(values: Values, defaultValue: Values[number], description: string) =>
  ({ type: 'string', enum: values, default: defaultValue, description }) as const;
const Flag = (defaultValue: boolean, description: string) => ({ type: 'boolean', default: defaultValue, description }) as const;

export const ConfigSchema = {
  type: 'object',
  properties: {
    NODE_ENV: OneOf(['development', 'production', 'test'], 'development', 'development | production | test. production requires JWT_SECRET.'),
    ROLE: OneOf(['all', 'api', 'worker'], 'all', 'all (API and workers in one process), api, or worker.'),
    HOST: Text('127.0.0.1', 'Interface the API (and a worker\'s metrics server) listens on.', '^\\S+$'),
    PORT: Int(0, 65535, 3000, 'TCP port of the API.'),
    LOG_LEVEL: OneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info', 'pino log level.'),
    LOG_LIFECYCLE: OneOf(['off', 'sampled', 'all'], 'sampled', 'Lifecycle lines per request (accepted, started, finished; level info): off, sampled (1 in LOG_LIFECYCLE_SAMPLE requests, all lines of a sampled request), or all.'),
    LOG_LIFECYCLE_SAMPLE: Int(1, 1_000_000, 100, 'With LOG_LIFECYCLE=sampled, one request in this many is logged.'),
    METRICS_ENABLED: Flag(true, 'Serve Prometheus metrics: GET /metrics on the API port and, with ROLE=worker, on WORKER_METRICS_PORT.'),
    METRICS_TOKEN: Text('', 'When set, /metrics answers only `Authorization: Bearer <this>`; empty = unauthenticated (keep /metrics off the public network).'),
    WORKER_METRICS_PORT: Int(0, 65535, 0, 'TCP port (on HOST) of a ROLE=worker process\'s /metrics and /health/live; 0 = no such server.'),
    REDIS_URL: Text('redis://127.0.0.1:6379', 'Redis server (ignored when REDIS_CLUSTER_NODES is set).', '^rediss?://'),
    REDIS_CLUSTER_NODES: Text('', 'Comma-separated host:port seeds of a Redis Cluster; switches cluster mode on.', '^$|^[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*$'),
    DATABASE_URL: Text('postgres://root@127.0.0.1:5432/laneq', 'PostgreSQL database; created at start-up if missing.', '^postgres(ql)?://'),
    DATABASE_POOL_SIZE: Int(1, 200, 10, 'Connections in the PostgreSQL pool of each process.'),
    KEY_PREFIX: Text('laneq', 'Namespace of every Redis key.', '^[A-Za-z0-9_.-]{1,32}$'),
    JWT_SECRET: Text('', 'HMAC secret for access tokens, at least 32 characters. Required in production.'),
    JWT_ISSUER: Text('laneq', 'iss claim of access tokens.', '^.+$'),
    ACCESS_TOKEN_TTL_S: Int(30, 86_400, 900, 'Lifetime of an access token, in seconds.'),
    REFRESH_TOKEN_TTL_S: Int(60, 31_536_000, 2_592_000, 'Lifetime of a refresh token, in seconds.'),
    RATE_LIMIT_AUTH_PER_IP: Int(1, 1_000_000, 300, 'Register + login calls allowed per IP per minute.'),
    RATE_LIMIT_LOGIN_FAILURES: Int(1, 1_000_000, 10, 'Failed logins allowed per username per window.'),
    RATE_LIMIT_LOGIN_WINDOW_S: Int(1, 86_400, 900, 'Window of the failed-login limit, in seconds.'),
    BODY_LIMIT_BYTES: Int(1024, 64 * 1024 * 1024, 1_048_576, 'Largest accepted HTTP request body.'),
    TRUST_PROXY: Flag(false, 'Take the client IP from X-Forwarded-For (set behind a load balancer).'),
    SHUTDOWN_GRACE_MS: Int(0, 600_000, 10_000, 'How long shutdown waits for in-flight HTTP requests and handlers.'),

    // 2 rather than 8: on one Redis, fewer shards put more clients' completions and claims in each
    // script call; with 10 clients a drain went from ~20,000 to ~27,500/s and with 1,000 from
    // ~31,500 to ~35,000/s (bench/README.md). A Cluster wants a few shards per master instead.
    QUEUE_SHARDS: Int(1, 1024, 2, 'Hash-tagged shards the clients are spread over (on Redis Cluster: a few per master).'),
    // 128 rather than 32: with more slots each complete-and-claim call carries more requests, which
    // cut the CPU of a no-op drain by a quarter (worker 1.9 → 1.2 s, Redis 3.1 → 2.6 s per 100,000,
    // bench/README.md); an idle slot costs nothing.
    WORKER_CONCURRENCY: Int(1, 10_000, 512, 'Requests one worker process runs at once (each of a different client); lower it for CPU-bound handlers.'),
    // Runs: with no other client waiting, a claim brings up to this many of a client's requests, run
    // in order without a round trip between them. 10 clients × 10,000 no-ops drained ~16,000/s with
    // 1, ~24,000/s with 16, ~38,000/s with 64, and slower again with 128 or more (bench/README.md).
    // Off by default: a worker that dies mid-run has its run replayed from the request Redis last
    // knew, so requests it already ran may run again after their successors ran once
    // (docs/architecture.md, "Runs"); the chaos suite counts that as an order violation.
    WORKER_TURN_LENGTH: Int(1, 64, 2, 'Most requests of one client started in a row while other clients wait: a client ending one may start its next at once, up to this many, then goes to the back of the ring (1: strict round-robin, one each).'),
    WORKER_RUN_LENGTH: Int(1, 1_000, 1, 'Most requests of one client a worker runs in a row while no other client waits (1: off; 64 for throughput with few clients, see docs).'),
    LEASE_MS: Int(1_000, 3_600_000, 30_000, 'Lease of a claimed request; a worker silent this long loses it.'),
    HEARTBEAT_MS: Int(100, 1_200_000, 10_000, 'How often a worker extends the leases of its running requests.'),
    DEFAULT_MAX_ATTEMPTS: Int(1, 100, 3, 'Attempts of a request that does not set maxAttempts.'),
    MAX_ATTEMPTS_LIMIT: Int(1, 100, 25, 'Largest maxAttempts a request may ask for.'),
    DEFAULT_TIMEOUT_MS: Int(1, 86_400_000, 60_000, 'Timeout of one attempt when the request sets none.'),
    MAX_TIMEOUT_MS: Int(1, 86_400_000, 600_000, 'Largest timeoutMs a request may ask for.'),
    RETRY_BASE_MS: Int(0, 3_600_000, 1_000, 'First retry backoff; doubles per attempt, with full jitter.'),
    RETRY_MAX_MS: Int(0, 86_400_000, 300_000, 'Longest retry backoff.'),
    RESULT_RETENTION_S: Int(1, 31_536_000, 86_400, 'How long a client\'s finished requests stay readable in Redis after its queue drains.'),
    RESULT_RETENTION_COUNT: Int(1, 1_000_000, 10_000, 'Most finished requests kept in Redis per client.'),
    IDEMPOTENCY_TTL_S: Int(1, 31_536_000, 86_400, 'How long an idempotency key is remembered per client.'),
    PAYLOAD_LIMIT_BYTES: Int(16, 64 * 1024 * 1024, 262_144, 'Largest request payload (JSON text bytes).'),
    MAX_QUEUE_DEPTH: Int(1, 100_000_000, 100_000, 'Most pending requests one client may have.'),
    PAYLOAD_MAX_DEPTH: Int(1, 1_000, 32, 'Deepest nesting of arrays and objects allowed in a request payload.'),
    ENQUEUE_BODY_LIMIT_BYTES: Int(1024, 1024 * 1024 * 1024, 33_554_432, 'Largest body of POST /api/queue/enqueue (a batch of up to 1,000 requests); each payload is still bounded by PAYLOAD_LIMIT_BYTES.'),
    RATE_LIMIT_ENQUEUE_PER_S: Int(1, 10_000_000, 1_000, 'Enqueue calls (a batch counts as one) allowed per client per second, shared by all API instances.'),
    HANDLERS: Text('', 'Comma-separated module paths exporting `handlers` (type -> handler) to run besides the built-ins.'),
    HTTP_ALLOWED_HOSTS: Text('', 'Hosts (name or name:port, comma-separated) the built-in `http` handler may call; empty = none.'),
    ARCHIVE_BATCH: Int(1, 10_000, 500, 'Final records written to PostgreSQL per INSERT.'),
  },
} as const;

type Property = (typeof ConfigSchema.properties)[keyof typeof ConfigSchema.properties];
/** The TypeScript type of one schema property: enum values, number, boolean or string. */
type ValueOf<P> = P extends { enum: readonly (infer E)[] }
  ? E
  : P extends { type: 'integer' }
    ? number
    : P extends { type: 'boolean' }
      ? boolean
      : string;
type RawConfig = { -readonly [K in keyof typeof ConfigSchema.properties]: ValueOf<(typeof ConfigSchema.properties)[K]> };
export type ConfigVariable = keyof RawConfig;
export type Config = Readonly<RawConfig & { jwtSecretGenerated: boolean }>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const MIN_SECRET_LENGTH = 32;
/** Room for an enqueued request's fields besides its payload (type, idempotency key, limits). */
const ENQUEUE_ENVELOPE_BYTES = 4096;

/** Parses the environment into a frozen Config, or throws one ConfigError naming every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.keys(ConfigSchema.properties);
  const input: Record<string, unknown> = {};
  for (const name of known) {
    const value = env[name];
    if (value !== undefined && value !== '') input[name] = value;
  }
  const raw = input as RawConfig;
  // Ajv fills defaults and turns the environment's strings into numbers and booleans in place.
  const problems = validateConfig(raw) ? [] : (validateConfig.errors ?? []).map((error) => describe(error, input));
  problems.push(...crossFieldProblems(raw));
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);

  const jwtSecretGenerated = raw.JWT_SECRET === '';
  const config = {
    ...raw,
    JWT_SECRET: jwtSecretGenerated ? randomBytes(48).toString('base64url') : raw.JWT_SECRET,
    jwtSecretGenerated,
  };
  return Object.freeze(config);
}

const validateConfig = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, strict: false }).compile(
  ConfigSchema,
);

function describe(error: ErrorObject, input: Record<string, unknown>): string {
  const name = error.instancePath.replace(/^\//, '');
  const schema = ConfigSchema.properties[name as ConfigVariable] as Property | undefined;
  const reason = schema && 'enum' in schema ? `must be one of ${schema.enum.join(', ')}` : error.message;
  return `${name}: ${reason} (got ${JSON.stringify(input[name])})`;
}

function crossFieldProblems(config: RawConfig): string[] {
  const problems: string[] = [];
  if (config.NODE_ENV === 'production' && config.JWT_SECRET === '') {
    problems.push('JWT_SECRET: required when NODE_ENV=production');
  }
  if (config.JWT_SECRET !== '' && config.JWT_SECRET.length < MIN_SECRET_LENGTH) {
    problems.push(`JWT_SECRET: must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  if (config.LEASE_MS < config.HEARTBEAT_MS * 2) {
    problems.push('LEASE_MS: must be at least twice HEARTBEAT_MS, so one late heartbeat does not lose the lease');
  }
  if (config.DEFAULT_MAX_ATTEMPTS > config.MAX_ATTEMPTS_LIMIT) {
    problems.push('DEFAULT_MAX_ATTEMPTS: must not exceed MAX_ATTEMPTS_LIMIT');
  }
  if (config.DEFAULT_TIMEOUT_MS > config.MAX_TIMEOUT_MS) {
    problems.push('DEFAULT_TIMEOUT_MS: must not exceed MAX_TIMEOUT_MS');
  }
  if (config.ENQUEUE_BODY_LIMIT_BYTES < config.PAYLOAD_LIMIT_BYTES + ENQUEUE_ENVELOPE_BYTES) {
    problems.push(
      `ENQUEUE_BODY_LIMIT_BYTES: must be at least PAYLOAD_LIMIT_BYTES + ${ENQUEUE_ENVELOPE_BYTES}, so one request with the largest payload fits`,
    );
  }
  if (config.REFRESH_TOKEN_TTL_S <= config.ACCESS_TOKEN_TTL_S) {
    problems.push('REFRESH_TOKEN_TTL_S: must be longer than ACCESS_TOKEN_TTL_S');
  }
  return problems;
}
