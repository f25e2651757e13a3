/**
 * Private Redis servers for tests that must not touch the shared Redis: a throw-away 3-master
 * Redis Cluster, or one extra `redis-server` with its own settings (e.g. an eviction policy).
 * Each runs on free ports with its data in a temporary directory that `stop()` removes.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './process.js';

const run = promisify(execFile);

/** Cluster nodes listen on `port` and on `port + 10000` (the cluster bus). */
const BUS_OFFSET = 10_000;
const START_TIMEOUT_MS = 10_000;
const CLUSTER_CREATE_TIMEOUT_MS = 40_000;

export interface RedisServer {
  host: string;
  port: number;
  /** redis://127.0.0.1:<port> */
  url: string;
  /** the server's working directory (removed by stop) */
  dir: string;
  /** Kills the server and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

export interface RedisCluster {
  /** 'host:port,host:port,host:port': the value of REDIS_CLUSTER_NODES */
  nodes: string;
  ports: number[];
  /** Kills every node and removes the temporary directory; safe to call twice. */
  stop(): Promise<void>;
}

/** Processes started here, killed if the test process exits without stopping them. */
const started = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  started.add(child);
  child.once('exit', () => started.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const orphan of started) orphan.kill('SIGKILL');
    });
  }
}

async function portIsFree(port: number): Promise<boolean> {
  const probe = createServer();
  try {
    probe.listen(port, '127.0.0.1');
    await Promise.race([
      once(probe, 'listening'),
      once(probe, 'error').then(([error]) => {
        throw error;
      }),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    if (probe.listening) {
      probe.close();
      await once(probe, 'close');
    }
  }
}

/** A port the OS just gave out (bound to port 0, then released), whose bus port is free too when asked. */
async function freeNodePort(withBus: boolean): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await freePort();
    if (!withBus) return port;
    if (port + BUS_OFFSET <= 65_535 && (await portIsFree(port + BUS_OFFSET))) return port;
  }
  throw new Error('found no free port pair for a Redis Cluster node');
}

/** The process id of the redis-server answering on `port`, or undefined when none answers. */
async function serverPid(port: number): Promise<number | undefined> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = await client.info('server');
    return Number(/^process_id:(\d+)/m.exec(info)?.[1]);
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts one redis-server in `dir` on `port`; resolves once it answers, rejects (with its output)
 * if it exits first, e.g. because another process took the port meanwhile.
 */
async function spawnServer(port: number, dir: string, extraArgs: string[]): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no'];
  args.push('--dir', dir, ...extraArgs);
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (spawnError) throw new Error(`could not start redis-server: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited (${child.exitCode ?? child.signalCode}):\n${output}`);
    }
    // Our own process must answer: another server may have taken the port meanwhile.
    if ((await serverPid(port)) === child.pid) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await kill(child);
  throw new Error(`redis-server on port ${port} did not answer within ${START_TIMEOUT_MS} ms:\n${output}`);
}

/** Starts a server on a free port, choosing another port if the chosen one was taken meanwhile. */
async function startOnFreePort(dir: string, extraArgs: (port: number) => string[], withBus: boolean) {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const port = await freeNodePort(withBus);
    try {
      return { port, child: await spawnServer(port, dir, extraArgs(port)) };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** One extra redis-server (not a cluster) on a free port, e.g. `startRedisServer(['--maxmemory-policy', 'allkeys-lru'])`. */
export async function startRedisServer(extraArgs: string[] = []): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'laneq-redis-'));
  try {
    const { port, child } = await startOnFreePort(dir, () => extraArgs, false);
    let stopping: Promise<void> | undefined;
    return {
      host: '127.0.0.1',
      port,
      url: `redis://127.0.0.1:${port}`,
      dir,
      stop: () =>
        (stopping ??= (async () => {
          await kill(child);
          await rm(dir, { recursive: true, force: true });
        })()),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function clusterInfo(port: number): Promise<Record<string, string>> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const text = (await client.call('CLUSTER', 'INFO')) as string;
    return Object.fromEntries(
      text
        .split(/\r?\n/)
        .filter((line) => line.includes(':'))
        .map((line) => line.split(':', 2) as [string, string]),
    );
  } catch {
    return {};
  } finally {
    client.disconnect();
  }
}

/**
 * A fresh Redis Cluster of three masters (no replicas) on free ports, every slot assigned and
 * every node agreeing that the cluster is ok before this resolves.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'laneq-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(children.map((child) => kill(child)));
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    for (let n = 0; n < masters; n += 1) {
      const { port, child } = await startOnFreePort(
        dir,
        (candidate) => [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', join(dir, `nodes-${candidate}.conf`),
          '--cluster-node-timeout', '5000',
          '--maxmemory-policy', 'noeviction',
        ],
        true,
      );
      children.push(child);
      ports.push(port);
    }
    const seeds = ports.map((port) => `127.0.0.1:${port}`);
    // Joining waits for the nodes' gossip, which a loaded box (the whole suite at once) can slow
    // well past a start-up: once it took over 10 s here.
    await run('redis-cli', ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: CLUSTER_CREATE_TIMEOUT_MS,
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const infos = await Promise.all(ports.map((port) => clusterInfo(port)));
      const ready = infos.every(
        (info) =>
          info.cluster_state === 'ok' &&
          info.cluster_slots_ok === '16384' &&
          info.cluster_known_nodes === String(masters),
      );
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`cluster not ok within ${START_TIMEOUT_MS} ms: ${JSON.stringify(infos)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { nodes: seeds.join(','), ports, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
