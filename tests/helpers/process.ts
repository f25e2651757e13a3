/**
 * Running laneq's real entry points (`node --import tsx src/...`) as child processes, for what
 * only a process shows: exit codes, stderr, signals, several processes at once.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ConfigSchema, type Config } from '../../src/config.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `node --import tsx <script>` in the project root, with `env` on top of this process's. */
export function spawnScript(script: string, args: string[] = [], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
  });
}

/** Collects a child's output and resolves when it exits. Call it right after spawning. */
export function finished(child: ChildProcessWithoutNullStreams): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs a script to completion, optionally writing `stdin` to it. */
export function runScript(
  script: string,
  args: string[] = [],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<Finished> {
  const child = spawnScript(script, args, options.env);
  const result = finished(child);
  child.stdin.end(options.stdin ?? '');
  return result;
}

/**
 * Resolves with the first stdout line that satisfies `matches`; rejects if the process exits
 * first, quoting what it printed.
 */
export function waitForLine(child: ChildProcessWithoutNullStreams, matches: (line: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let seen = '';
    const onData = (chunk: Buffer | string) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        seen += `${line}\n`;
        if (matches(line)) {
          cleanUp();
          resolve(line);
          return;
        }
      }
    };
    const onExit = (code: number | null) => {
      cleanUp();
      reject(new Error(`process exited (${code}) before the awaited line; it printed:\n${seen}${buffered}`));
    };
    const cleanUp = () => {
      child.stdout.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout.on('data', onData);
    child.once('exit', onExit);
  });
}

/** A JSON log line's fields, or undefined for a line that is not JSON. */
export function parseLogLine(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The environment variables that reproduce `config` in a child process. */
export function configEnv(config: Config): Record<string, string> {
  return Object.fromEntries(
    Object.keys(ConfigSchema.properties).map((name) => [name, String(config[name as keyof Config])]),
  );
}

/** A TCP port the OS picked, held by a listening server until `release()`. */
export async function takenPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const release = async () => {
    server.close();
    await once(server, 'close');
  };
  if (address === null || typeof address === 'string') {
    await release();
    throw new Error('no TCP address');
  }
  return { port: address.port, release };
}

/** A TCP port that was free a moment ago (the OS picks it; we release it for the child to take). */
export async function freePort(): Promise<number> {
  const { port, release } = await takenPort();
  await release();
  return port;
}

/** A stack trace has lines like "    at main (file.ts:1:2)". */
export const STACK_TRACE = /^\s+at .+/m;
