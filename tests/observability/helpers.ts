/**
 * A laneq deployment in miniature for the metrics tests: an API process (ROLE=api) and a worker
 * process (ROLE=worker, with its own metrics port) sharing one key prefix and database, plus
 * scraping, parsing and promtool.
 */
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startTestServer, testConfig, type TestServer } from '../helpers/context.js';
import { freePort } from '../helpers/process.js';

export const PROMTOOL = '/usr/bin/promtool';
export const PROMETHEUS = '/usr/bin/prometheus';

export interface Deployment {
  api: TestServer;
  worker: RunningServer;
  workerToken: string;
  stop(): Promise<void>;
}

/** An API and a worker process on one queue; the worker's /metrics needs `workerToken`. */
export async function startDeployment(overrides: Record<string, string> = {}): Promise<Deployment> {
  const api = await startTestServer({ ROLE: 'api', ...overrides });
  const workerToken = `metrics-token-${Math.random().toString(36).slice(2)}`;
  let worker: RunningServer;
  try {
    const config = testConfig({
      ROLE: 'worker',
      KEY_PREFIX: api.config.KEY_PREFIX,
      DATABASE_URL: api.config.DATABASE_URL,
      WORKER_METRICS_PORT: String(await freePort()),
      METRICS_TOKEN: workerToken,
      ...overrides,
    });
    worker = await startServer(config, createLogger(config.LOG_LEVEL));
  } catch (error) {
    await api.stop();
    throw error;
  }
  return {
    api,
    worker,
    workerToken,
    stop: async () => {
      // The worker first: stopping the API drops the shared database and keys.
      await worker.close();
      await api.stop();
    },
  };
}

export async function scrape(url: string, token?: string): Promise<string> {
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** Samples by series (`name{label="value",…}` exactly as exposed, or `name` alone). */
export function parseSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** A sample's value, 0 when the series is not exposed (yet). */
export function sample(samples: Map<string, number>, series: string): number {
  return samples.get(series) ?? 0;
}

/** Runs promtool with `input` on stdin; returns its exit status and output. */
export function promtool(args: string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { input, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
