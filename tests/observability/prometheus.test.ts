/**
 * The monitoring files of deploy/: promtool accepts the Prometheus configuration and the alert
 * rules; Grafana's provisioning names the datasource the dashboard uses; and a real Prometheus
 * (Debian's binary), scraping a running laneq (an API and a worker process) every second while
 * requests flow, answers every query of every dashboard panel with data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { API_HANDLERS_MODULE } from '../helpers/api-handlers.js';
import { call } from '../helpers/http.js';
import { enqueue, newClient, type Client } from '../helpers/queue-api.js';
import { freePort } from '../helpers/process.js';
import { PROMETHEUS, promtool, startDeployment, type Deployment } from './helpers.js';

const ROOT = new URL('../../', import.meta.url);
const path = (relative: string) => new URL(relative, ROOT).pathname;
const PROMETHEUS_CONFIG = path('deploy/prometheus/prometheus.yml');
const ALERTS = path('deploy/prometheus/alerts.yml');
const DASHBOARD = path('deploy/grafana/dashboards/laneq.json');
const DATASOURCES = path('deploy/grafana/provisioning/datasources/prometheus.yml');
const DASHBOARD_PROVIDERS = path('deploy/grafana/provisioning/dashboards/laneq.yml');

interface Target {
  expr: string;
  refId: string;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  gridPos: { h: number; w: number; x: number; y: number };
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const queries = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel: panel.title, ...target })));

/**
 * A dashboard query as Grafana would send it at a 1 s scrape interval: $__rate_interval is at
 * least four scrape intervals; the other interval variables are the scrape interval itself.
 */
function asPrometheusQuery(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '5s')
    .replaceAll('$__interval', '1s')
    .replaceAll('$__range', '30s');
}

describe('promtool', () => {
  it('accepts the Prometheus configuration, with its rule file', () => {
    const result = promtool(['check', 'config', PROMETHEUS_CONFIG]);
    expect(result.output).toContain('SUCCESS: 1 rule files found');
    expect(result.status, result.output).toBe(0);
  });

  it('accepts the alert rules', () => {
    const result = promtool(['check', 'rules', ALERTS]);
    expect(result.status, result.output).toBe(0);
    const names = [...readFileSync(ALERTS, 'utf8').matchAll(/- alert: (\w+)/g)].map((match) => match[1]);
    expect(names).toEqual(
      expect.arrayContaining(['LaneqBacklogGrowing', 'LaneqDeadLetters', 'LaneqNoWorker', 'LaneqArchiveLagging', 'LaneqHttp5xx']),
    );
  });

  it('fires the alerts as their unit tests expect', () => {
    const result = promtool(['test', 'rules', path('deploy/prometheus/alerts.test.yml')]);
    expect(result.status, result.output).toBe(0);
  });
});

describe('Grafana provisioning and the dashboard', () => {
  it('provisions the datasource every panel names, and the folder the dashboard is in', () => {
    const datasources = parseYaml(readFileSync(DATASOURCES, 'utf8')) as { datasources: { uid: string; type: string; url: string }[] };
    const providers = parseYaml(readFileSync(DASHBOARD_PROVIDERS, 'utf8')) as { providers: { options: { path: string } }[] };
    expect(datasources.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090' })]);
    expect(providers.providers[0]?.options.path).toBe('/var/lib/grafana/dashboards');
    const uid = datasources.datasources[0]?.uid;
    for (const panel of dashboard.panels.filter((one) => one.type !== 'row')) {
      expect(panel.datasource?.uid, panel.title).toBe(uid);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
    }
  });

  it('is a dashboard with unique panel ids and the panels the issue asks for', () => {
    expect(dashboard.uid).toBe('laneq-overview');
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const exprs = queries.map((query) => query.expr).join('\n');
    for (const metric of [
      'laneq_requests_finished_total', // throughput, failures
      'laneq_request_wait_seconds_bucket',
      'laneq_request_run_seconds_bucket',
      'laneq_requests_pending', // queue depth
      'laneq_redeliveries_total',
      'laneq_http_request_duration_seconds_count', // HTTP errors
      'laneq_archive_oldest_age_seconds',
    ]) {
      expect(exprs).toContain(metric);
    }
  });
});

describe('a real Prometheus scraping a running laneq', () => {
  let deployment: Deployment;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl = '';
  let storage = '';
  let traffic: Promise<void> | undefined;
  let trafficOn = true;
  let prometheusLog = '';

  /** Requests of every kind the dashboard shows: successes, retries and dead letters, HTTP 4xx. */
  async function sendTraffic(client: Client): Promise<void> {
    const app = deployment.api.app;
    for (let round = 0; trafficOn; round += 1) {
      await enqueue(app, client, { requests: [{ type: 'echo', payload: round }, { type: 'sleep', payload: { ms: 5 } }] });
      if (round % 10 === 0) await enqueue(app, client, { type: 'always_fail', maxAttempts: 2 });
      await call(app, 'GET', '/api/queue/requests/unknown', { token: client.token });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function query(expr: string): Promise<unknown[]> {
    const url = `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`;
    const answer = (await (await fetch(url)).json()) as { status: string; error?: string; data?: { result: unknown[] } };
    if (answer.status !== 'success') throw new Error(`${expr}: ${answer.error}`);
    return answer.data?.result ?? [];
  }

  beforeAll(async () => {
    deployment = await startDeployment({ HANDLERS: API_HANDLERS_MODULE, RETRY_BASE_MS: '10', RETRY_MAX_MS: '20' });
    const client = await newClient(deployment.api.app);
    traffic = sendTraffic(client);

    storage = mkdtempSync(join(tmpdir(), 'laneq-prometheus-'));
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    const hostOf = (url: string) => new URL(url).host;
    // JSON is YAML: the deployment's jobs, with static targets instead of Docker DNS, and the real rules.
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [ALERTS],
      scrape_configs: [
        { job_name: 'laneq-api', static_configs: [{ targets: [hostOf(deployment.api.metricsUrl)] }] },
        {
          job_name: 'laneq-worker',
          authorization: { credentials: deployment.workerToken },
          static_configs: [{ targets: [hostOf(deployment.worker.metricsUrl)] }],
        },
      ],
    };
    writeFileSync(join(storage, 'prometheus.yml'), JSON.stringify(config));
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(storage, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(storage, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr?.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
    for (let tries = 0; ; tries += 1) {
      const ready = await fetch(`${prometheusUrl}/-/ready`).then((response) => response.ok, () => false);
      if (ready) break;
      if (tries > 100 || prometheus.exitCode !== null) throw new Error(`Prometheus did not start:\n${prometheusLog}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(async () => {
    trafficOn = false;
    await traffic?.catch(() => undefined);
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
    }
    if (storage) rmSync(storage, { recursive: true, force: true });
    await deployment?.stop();
  });

  it('scrapes the API and the worker', async () => {
    let up: unknown[] = [];
    for (let tries = 0; up.length < 2 && tries < 100; tries += 1) {
      up = await query('up == 1');
      if (up.length < 2) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(up).toHaveLength(2);
  });

  it('loads the alert rules', async () => {
    const answer = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { name: string; health: string }[] }[] };
    };
    const rules = answer.data.groups.flatMap((group) => group.rules);
    expect(rules.length).toBeGreaterThanOrEqual(5);
    expect(rules.filter((rule) => rule.health === 'err')).toEqual([]);
  });

  it('answers every dashboard query with data', { timeout: 40_000 }, async () => {
    // Rates need two scrapes in their window after the series appear: poll until each answers.
    const empty = new Map(queries.map((one) => [`${one.panel} [${one.refId}]: ${one.expr}`, one.expr]));
    const deadline = Date.now() + 25_000;
    while (empty.size > 0 && Date.now() < deadline) {
      for (const [name, expr] of empty) if ((await query(asPrometheusQuery(expr))).length > 0) empty.delete(name);
      if (empty.size > 0) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect([...empty.keys()], 'dashboard queries without data').toEqual([]);
    expect(queries.length).toBeGreaterThanOrEqual(20);
  });
});
