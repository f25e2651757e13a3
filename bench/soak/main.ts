/**
 * Soak test: `npm run soak -- --minutes N [--rate 1000] [--clients 500] [--workers 1]`.
 *
 * Starts laneq as an operator would (`node dist/main.js`: one ROLE=api process and `--workers`
 * ROLE=worker processes) on a redis-server of its own (spare port, no persistence) and its own
 * database, signs in `--clients` users, and offers a steady `--rate` of single-request enqueues
 * (`{type: "noop"}`, each user with its own token, round-robin over the users, open loop: a slow
 * answer does not slow the offered rate) for N minutes. Every `--sample-s` seconds it records, per
 * laneq process, the resident memory (/proc/<pid>/status VmRSS) and the event-loop delay (p50,
 * p99, max since the previous sample, from perf_hooks.monitorEventLoopDelay preloaded into the
 * process by bench/soak/probe.mjs), and on the client side the calls, errors and latency
 * percentiles of the interval (latency counted from when the call was due), plus the queue
 * backlog. Writes bench/soak/results/soak-<time>.json and .svg and prints a summary; exits 1 when
 * the targets (RSS growth < 10% from the first sample after warm-up to the last, 0 errors) are
 * missed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  abandonEverything,
  archiveBacklog,
  freePort,
  isolate,
  now,
  PROJECT_ROOT,
  RedisServer,
  signInUsers,
  sleep,
  spawnLaneq,
  subscribedWorkers,
  unfinished,
  waitFor,
  waitUntilLive,
  type Entry,
  type Proc,
  type User,
} from '../chaos/harness.js';
import { lineChart } from './svg.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '1000' },
    clients: { type: 'string', default: '500' },
    workers: { type: 'string', default: '1' },
    'sample-s': { type: 'string', default: '10' },
    /** samples before this are warm-up: the RSS growth is measured from the first sample after it */
    'warmup-s': { type: 'string', default: '60' },
    entry: { type: 'string', default: 'dist' },
    out: { type: 'string', default: 'bench/soak/results' },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const clientCount = Number(values.clients);
const workerCount = Number(values.workers);
const sampleMs = Number(values['sample-s']) * 1000;
const warmupMs = Math.min(Number(values['warmup-s']) * 1000, (minutes * 60_000) / 4);
const entry = values.entry as Entry;
const MAX_SOCKETS = 64;
const MAX_IN_FLIGHT = 5_000;
const log = (line: string) => console.log(line);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping every process and removing this run's data`);
    void abandonEverything().finally(() => process.exit(130));
  });
}

interface ProcessSample {
  name: string;
  pid: number;
  rssMb: number;
  eventLoopDelayMs?: { p50: number; p99: number; max: number };
}

interface Sample {
  atS: number;
  calls: number;
  ok: number;
  errors: number;
  ratePerS: number;
  latencyMs: { p50: number; p99: number; max: number };
  backlog: number;
  archiveBacklog: number;
  redisUsedMb: number;
  driverEventLoopP99Ms: number;
  /** the machine's 1-minute load average: other jobs on the machine show here */
  loadAverage: number;
  processes: ProcessSample[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number((Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024).toFixed(1));
  } catch {
    return 0;
  }
}

function lastProbe(dir: string, pid: number): ProcessSample['eventLoopDelayMs'] {
  try {
    const lines = readFileSync(join(dir, `${pid}.jsonl`), 'utf8').trim().split('\n');
    return (JSON.parse(lines.at(-1) as string) as { eventLoopDelayMs: ProcessSample['eventLoopDelayMs'] }).eventLoopDelayMs;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const redis = await RedisServer.start(['--appendonly', 'no']);
  const iso = await isolate('soak', {
    redisUrl: redis.url,
    // Finished requests stay readable 5 minutes: a steady state well inside a 10-minute run.
    env: { RESULT_RETENTION_S: '300', LOG_LEVEL: 'warn' },
  });
  const probeDir = join(iso.logDir, 'probe');
  const probeEnv = { SOAK_PROBE_DIR: probeDir, SOAK_PROBE_EVERY_MS: String(sampleMs) };
  const probe = ['--import', pathToFileURL(join(PROJECT_ROOT, 'bench/soak/probe.mjs')).href];
  const processes: Proc[] = [];
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const api = spawnLaneq(entry, 'api', { ...iso.env, ...probeEnv, ROLE: 'api', PORT: String(port) }, probe);
    processes.push(api);
    for (let n = 0; n < workerCount; n += 1) {
      processes.push(spawnLaneq(entry, `worker-${n}`, { ...iso.env, ...probeEnv, ROLE: 'worker' }, probe));
    }
    await waitUntilLive(base, api);
    await waitFor(async () => (await subscribedWorkers(iso)) >= workerCount, 'the workers to subscribe', 60_000, 100);
    log(`signing in ${clientCount} users…`);
    const users: User[] = await signInUsers(base, clientCount, 'soak');
    log(`offering ${rate} enqueues/s from ${clientCount} users for ${minutes} min (API + ${workerCount} worker process(es), sampled every ${sampleMs / 1000} s)`);

    const driverDelay = monitorEventLoopDelay({ resolution: 10 });
    driverDelay.enable();
    let latencies: number[] = [];
    let calls = 0;
    let ok = 0;
    let errors = 0;
    let totalCalls = 0;
    let totalErrors = 0;
    const errorKinds: Record<string, number> = {};
    let next = 0;
    const body = JSON.stringify({ type: 'noop' });
    // Keep-alive connections, at most MAX_SOCKETS of them: calls beyond wait for a free one (that
    // wait counts in their latency). Calls due while MAX_IN_FLIGHT are unanswered are not sent and
    // count as errors ("overloaded"): an open loop against a server that falls behind would
    // otherwise pile up without bound in this process.
    const agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
    const url = new URL(`${base}/api/queue/enqueue`);
    const post = (token: string) =>
      new Promise<number>((resolve, reject) => {
        const call = request(
          {
            agent,
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
            timeout: 10_000,
          },
          (response) => {
            response.resume();
            response.once('end', () => resolve(response.statusCode ?? 0));
            response.once('error', reject);
          },
        );
        call.once('timeout', () => call.destroy(new Error('timeout')));
        call.once('error', reject);
        call.end(body);
      });
    const fail = (kind: string) => {
      errors += 1;
      totalErrors += 1;
      errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
    };
    let pending = 0;
    const send = async (user: User, due: number) => {
      calls += 1;
      totalCalls += 1;
      if (pending >= MAX_IN_FLIGHT) {
        fail('overloaded (not sent)');
        return;
      }
      pending += 1;
      try {
        const status = await post(user.token);
        latencies.push(now() - due);
        if (status === 202) ok += 1;
        else fail(String(status));
      } catch (error) {
        fail(`network:${(error as { code?: string }).code ?? (error as Error).message}`);
      } finally {
        pending -= 1;
      }
    };

    const started = now();
    const end = started + minutes * 60_000;
    const samples: Sample[] = [];
    let nextSample = started + sampleMs;
    let windowStart = started;
    const inFlight = new Set<Promise<void>>();
    let offered = 0;
    // Open loop: every 5 ms, send the calls that have come due since the start.
    while (now() < end) {
      const due = Math.floor(((now() - started) / 1000) * rate);
      for (; offered < due; offered += 1) {
        const user = users[next++ % users.length] as User;
        const dueAt = started + (offered / rate) * 1000;
        const call = send(user, dueAt);
        inFlight.add(call);
        void call.finally(() => inFlight.delete(call));
      }
      if (now() >= nextSample) {
        const sorted = latencies.sort((a, b) => a - b);
        const windowS = (now() - windowStart) / 1000;
        const info = await iso.redis.info('memory');
        const sample: Sample = {
          atS: Number(((now() - started) / 1000).toFixed(1)),
          calls,
          ok,
          errors,
          ratePerS: Math.round(ok / windowS),
          latencyMs: {
            p50: Number(percentile(sorted, 50).toFixed(2)),
            p99: Number(percentile(sorted, 99).toFixed(2)),
            max: Number((sorted.at(-1) ?? 0).toFixed(2)),
          },
          backlog: await unfinished(iso),
          archiveBacklog: await archiveBacklog(iso),
          redisUsedMb: Number((Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0) / 1048576).toFixed(1)),
          driverEventLoopP99Ms: Number((driverDelay.percentile(99) / 1e6).toFixed(2)),
          loadAverage: Number((loadavg()[0] ?? 0).toFixed(2)),
          processes: processes.map((proc) => ({
            name: proc.name,
            pid: proc.pid,
            rssMb: rssMb(proc.pid),
            ...(lastProbe(probeDir, proc.pid) ? { eventLoopDelayMs: lastProbe(probeDir, proc.pid) } : {}),
          })),
        };
        samples.push(sample);
        driverDelay.reset();
        log(
          `${String(sample.atS).padStart(6)} s  load ${sample.loadAverage}  ${sample.ratePerS}/s  p99 ${sample.latencyMs.p99} ms  errors ${errors}  backlog ${sample.backlog}  ` +
            sample.processes.map((proc) => `${proc.name} ${proc.rssMb} MB eld p99 ${proc.eventLoopDelayMs?.p99 ?? '?'} ms`).join('  '),
        );
        latencies = [];
        calls = 0;
        ok = 0;
        errors = 0;
        windowStart = now();
        nextSample += sampleMs;
        for (const proc of processes) if (!proc.alive) throw new Error(`${proc.name} exited:\n${proc.output()}`);
      }
      await sleep(5);
    }
    await Promise.all(inFlight);
    agent.destroy();

    // RSS growth from the first sample after warm-up to the last one, per process.
    const baseline = samples.find((sample) => sample.atS * 1000 >= warmupMs) ?? samples[0];
    const last = samples.at(-1);
    const growth = processes.map((proc, n) => {
      const from = baseline?.processes[n]?.rssMb ?? 0;
      const to = last?.processes[n]?.rssMb ?? 0;
      const peak = Math.max(...samples.map((sample) => sample.processes[n]?.rssMb ?? 0));
      return { name: proc.name, fromMb: from, toMb: to, peakMb: peak, growthPct: from > 0 ? Number((((to - from) / from) * 100).toFixed(1)) : 0 };
    });
    const summary = {
      minutes,
      offeredRate: rate,
      clients: clientCount,
      workers: workerCount,
      calls: totalCalls,
      errors: totalErrors,
      errorKinds,
      achievedRate: Math.round((totalCalls - totalErrors) / ((now() - started) / 1000)),
      worstIntervalP99Ms: Math.max(...samples.map((sample) => sample.latencyMs.p99)),
      medianIntervalP99Ms: percentile(samples.map((sample) => sample.latencyMs.p99).sort((a, b) => a - b), 50),
      worstEventLoopP99Ms: Object.fromEntries(
        processes.map((proc, n) => [proc.name, Math.max(...samples.map((sample) => sample.processes[n]?.eventLoopDelayMs?.p99 ?? 0))]),
      ),
      maxBacklog: Math.max(...samples.map((sample) => sample.backlog)),
      rss: growth,
      warmupS: warmupMs / 1000,
      targetsMet: totalErrors === 0 && growth.every((one) => one.growthPct < 10),
    };

    const folder = resolve(PROJECT_ROOT, values.out);
    mkdirSync(folder, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const jsonFile = join(folder, `soak-${minutes}min-${stamp}.json`);
    const svgFile = join(folder, `soak-${minutes}min-${stamp}.svg`);
    writeFileSync(jsonFile, `${JSON.stringify({ command: `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim(), date: new Date().toISOString(), summary, samples }, null, 2)}\n`);
    const minutesOf = (sample: Sample) => sample.atS / 60;
    writeFileSync(
      svgFile,
      lineChart(`laneq soak: ${rate} enqueues/s offered from ${clientCount} clients, ${minutes} min`, 'minutes', [
        {
          title: 'Resident memory',
          unit: 'MB',
          series: processes.map((proc, n) => ({ name: proc.name, points: samples.map((sample) => [minutesOf(sample), sample.processes[n]?.rssMb ?? 0]) })),
        },
        {
          title: 'Event-loop delay p99 per interval',
          unit: 'ms',
          series: processes.map((proc, n) => ({
            name: proc.name,
            points: samples.map((sample) => [minutesOf(sample), sample.processes[n]?.eventLoopDelayMs?.p99 ?? 0]),
          })),
        },
        {
          title: 'Client-observed enqueue latency per interval',
          unit: 'ms',
          series: [
            { name: 'p50', points: samples.map((sample) => [minutesOf(sample), sample.latencyMs.p50]) },
            { name: 'p99', points: samples.map((sample) => [minutesOf(sample), sample.latencyMs.p99]) },
          ],
        },
        {
          title: 'Throughput and errors',
          unit: 'per s / count',
          series: [
            { name: 'accepted/s', points: samples.map((sample) => [minutesOf(sample), sample.ratePerS]) },
            { name: 'errors', points: samples.map((sample) => [minutesOf(sample), sample.errors]) },
            { name: 'queue backlog', points: samples.map((sample) => [minutesOf(sample), sample.backlog]) },
          ],
        },
      ]),
    );
    log(`\n${JSON.stringify(summary, null, 2)}`);
    log(`results: ${jsonFile}\nchart:   ${svgFile}`);
    await Promise.all(processes.map((proc) => proc.stop(10_000)));
    process.exitCode = summary.targetsMet ? 0 : 1;
  } finally {
    await Promise.all(processes.map((proc) => proc.kill()));
    await iso.cleanup();
    await redis.stop();
  }
}

try {
  await main();
} catch (error) {
  console.error(error);
  await abandonEverything();
  process.exit(2);
}
