/** The environment of the laneq worker processes a benchmark starts (bench/engine.ts, bench/peers). */

export interface BenchWorkerOptions {
  /** names the run's key prefix (`_` → `-`) and its PostgreSQL database */
  tag: string;
  redisUrl: string;
  /** the PostgreSQL server, without a database name */
  postgresUrl: string;
  concurrency: string;
  secret: string;
  /** requests per client: every result stays readable in Redis until the run is checked */
  perClient: number;
}

export function benchWorkerEnv(options: BenchWorkerOptions): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NODE_ENV: 'production',
    ROLE: 'worker',
    LOG_LEVEL: 'warn',
    REDIS_URL: options.redisUrl,
    DATABASE_URL: `${options.postgresUrl}/${options.tag}`,
    KEY_PREFIX: options.tag.replace(/_/g, '-'),
    WORKER_CONCURRENCY: options.concurrency,
    JWT_SECRET: options.secret,
    RESULT_RETENTION_COUNT: String(Math.min(1_000_000, Math.max(options.perClient, 1))),
  };
}
