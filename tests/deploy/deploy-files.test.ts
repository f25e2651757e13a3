/**
 * The deployment files say what the rest of the repository says: the Dockerfile builds with the
 * README's own commands and runs what `npm start` runs, the compose file is valid (checked by
 * docker-compose itself) and sets only variables that src/config.ts knows. No Docker engine is
 * needed: nothing is built or started here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema, loadConfig } from '../../src/config.js';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');
const COMPOSE_FILE = 'deploy/docker-compose.yml';

// ---------------------------------------------------------------- Dockerfile

interface Instruction {
  stage: string;
  keyword: string;
  args: string;
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped, each tagged with its stage. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*(#|$)/.test(line)) continue;
    if (current !== '' && /^\s*#/.test(line)) continue; // comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push((current + line.trim()).trim());
    current = '';
  }
  let stage = '';
  return logical.map((line) => {
    const match = /^(\w+)\s+(.*)$/s.exec(line);
    if (!match) throw new Error(`not a Dockerfile instruction: ${line}`);
    const keyword = (match[1] as string).toUpperCase();
    const args = (match[2] as string).trim();
    if (keyword === 'FROM') stage = /\sAS\s+(\S+)$/i.exec(args)?.[1] ?? args;
    return { stage, keyword, args };
  });
}

/** The commands of a shell command line joined by `&&`. */
const commands = (line: string) =>
  line
    .split('&&')
    .map((part) => part.trim().replace(/\s+/g, ' '))
    .filter((part) => part !== '');

/** An exec-form (JSON array) argument list, joined as a command line. */
function execForm(args: string): string {
  const list = JSON.parse(args) as unknown;
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    throw new Error(`not an exec-form argument list: ${args}`);
  }
  return list.join(' ');
}

/** The first two ```sh blocks of the README: "run the service" and "run the tests". */
function readmeSetUpCommands(readme: string): string[][] {
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => (match[1] as string).trim());
  return blocks.slice(0, 2).map(commands);
}

const dockerfile = parseDockerfile(read('deploy/Dockerfile'));
const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
const scripts = packageJson.scripts;

/** What an npm command runs, with `npm start`'s prestart spelled out as npm runs it. */
function expandNpm(command: string): string[] {
  const script = /^npm (?:run )?(start|test)$/.exec(command)?.[1];
  if (script === undefined) return [command];
  const pre = scripts[`pre${script}`];
  return [...(pre ? [pre] : []), `npm ${script === 'start' ? 'start' : 'test'}`];
}

describe('deploy/Dockerfile', () => {
  const stages = [...new Set(dockerfile.map((instruction) => instruction.stage))];
  const build = dockerfile.filter((instruction) => instruction.stage === stages[0]);
  const runtime = dockerfile.filter((instruction) => instruction.stage === stages[stages.length - 1]);

  it('is multi-stage on Node 22 LTS slim', () => {
    const froms = dockerfile.filter((instruction) => instruction.keyword === 'FROM').map((instruction) => instruction.args);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^node:22-bookworm-slim\b/);
  });

  it("builds with the README's set-up commands: `npm ci`, then the build `npm start` runs first", () => {
    const readme = read('README.md');
    const [runService, runTests] = readmeSetUpCommands(readme);
    expect(runService).toEqual(['npm ci', 'npm start']);
    expect(runTests).toEqual(['npm ci', 'npm run lint', 'npm test']);
    // `npm start` = prestart (the build) then start; the image does the same, in two stages.
    const readmeSteps = (runService as string[]).flatMap(expandNpm);
    expect(readmeSteps).toEqual(['npm ci', 'npm run build', 'npm start']);

    const buildRuns = build.filter((instruction) => instruction.keyword === 'RUN').flatMap((instruction) => commands(instruction.args));
    expect(buildRuns).toEqual(readmeSteps.slice(0, 2));
  });

  it('runs what `npm start` runs, with production dependencies only, as a non-root user', () => {
    const cmd = runtime.filter((instruction) => instruction.keyword === 'CMD').at(-1);
    expect(cmd, 'the runtime stage has a CMD').toBeDefined();
    expect(execForm((cmd as Instruction).args)).toBe(scripts.start);

    const runtimeRuns = runtime.filter((instruction) => instruction.keyword === 'RUN').flatMap((instruction) => commands(instruction.args));
    expect(runtimeRuns).toContain('npm ci --omit=dev');
    expect(runtimeRuns.filter((command) => /^npm (ci|install)\b/.test(command) && !command.includes('--omit=dev'))).toEqual([]);
    expect(runtime.some((instruction) => instruction.keyword === 'COPY' && /--from=\S+\s+\/app\/dist\s/.test(instruction.args))).toBe(true);

    const users = runtime.filter((instruction) => instruction.keyword === 'USER').map((instruction) => instruction.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
  });

  describe('HEALTHCHECK', () => {
    const healthcheck = runtime.find((instruction) => instruction.keyword === 'HEALTHCHECK');
    const argv = (() => {
      const exec = /CMD\s+(\[.*\])$/s.exec(healthcheck?.args ?? '')?.[1];
      return exec ? (JSON.parse(exec) as string[]) : [];
    })();

    let server: Server;
    let port = 0;
    let status = 200;
    const seen: string[] = [];
    beforeAll(async () => {
      server = createServer((request, response) => {
        seen.push(request.url ?? '');
        response.statusCode = status;
        response.end('{}');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    /** Runs the image's health check command with the given environment; its exit code. */
    const probe = (env: Record<string, string>) =>
      new Promise<number | null>((resolve, reject) => {
        const [command, ...args] = argv;
        const child = spawn(command === 'node' ? process.execPath : (command as string), args, {
          env: { PATH: process.env.PATH ?? '', ...env },
          stdio: 'ignore',
          timeout: 10_000,
        });
        child.on('error', reject);
        child.on('exit', (code) => resolve(code));
      });

    it('exists and runs Node (the slim image has no curl)', () => {
      expect(healthcheck).toBeDefined();
      expect(argv[0]).toBe('node');
    });

    it('probes /health/live on PORT for an API, on WORKER_METRICS_PORT for a worker', async () => {
      seen.length = 0;
      status = 200;
      expect(await probe({ ROLE: 'api', PORT: String(port) })).toBe(0);
      expect(await probe({ ROLE: 'all', PORT: String(port) })).toBe(0);
      expect(await probe({ ROLE: 'worker', PORT: '1', WORKER_METRICS_PORT: String(port) })).toBe(0);
      expect(seen).toEqual(['/health/live', '/health/live', '/health/live']);
      // A worker without a metrics server has nothing to probe: healthy while its process runs.
      expect(await probe({ ROLE: 'worker', PORT: String(port), WORKER_METRICS_PORT: '0' })).toBe(0);
      expect(seen).toHaveLength(3);

      status = 503;
      expect(await probe({ ROLE: 'api', PORT: String(port) })).toBe(1);
      expect(await probe({ ROLE: 'worker', WORKER_METRICS_PORT: String(port) })).toBe(1);
      // Nobody listening: unhealthy, not hung.
      expect(await probe({ ROLE: 'api', PORT: '1' })).toBe(1);
    });
  });
});

// ---------------------------------------------------------------- docker-compose.yml

const composeBinary = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
const SECRET = 'x'.repeat(48);

function composeConfig(env: Record<string, string | undefined>) {
  return spawnSync('docker-compose', ['-f', COMPOSE_FILE, 'config', '--quiet'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

/** Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}`, from `vars`; `$$` is a literal `$`. */
function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(/\$\$|\$\{(\w+)(?::([-?])([^}]*))?\}/g, (whole, name: string | undefined, op?: string, rest?: string) => {
    if (name === undefined) return '$';
    const set = vars[name];
    if (set !== undefined && set !== '') return set;
    if (op === '-') return rest ?? '';
    throw new Error(`${name} is required: ${rest ?? whole}`);
  });
}

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test?: unknown };
  depends_on?: Record<string, { condition?: string }>;
}

const compose = parseYaml(read(COMPOSE_FILE), { merge: true }) as { services: Record<string, ComposeService> };
const services = compose.services;
const laneqServices = Object.entries(services).filter(([, service]) => service.build !== undefined);

describe('deploy/docker-compose.yml', () => {
  it.skipIf(!composeBinary)(
    `is accepted by \`docker-compose config\`${composeBinary ? '' : ' (skipped: docker-compose is not installed; .ci/run installs it)'}`,
    () => {
      const accepted = composeConfig({ LANEQ_JWT_SECRET: SECRET });
      expect(accepted.status, accepted.stderr).toBe(0);
      // No complaint about the file either (Python's own deprecation noise aside).
      expect(accepted.stderr).not.toMatch(/^(WARNING|ERROR)\b/m);
      // The JWT secret has no default baked in: without it the file is refused, naming the variable.
      const refused = composeConfig({ LANEQ_JWT_SECRET: '' });
      expect(refused.status).not.toBe(0);
      expect(refused.stderr).toContain('LANEQ_JWT_SECRET');
    },
  );

  it("is the README's Docker quick start", () => {
    const readme = read('README.md');
    expect(readme).toContain(`docker compose -f ${COMPOSE_FILE} up`);
    // The one required variable is named where the README and deploy/.env.example say.
    expect(readme).toContain('LANEQ_JWT_SECRET');
    expect(read('deploy/.env.example')).toMatch(/^LANEQ_JWT_SECRET=$/m);
  });

  it('runs the laneq image as 2 API and 2 worker replicas', () => {
    expect(laneqServices.map(([name]) => name).sort()).toEqual(['api', 'worker']);
    expect(services.api?.environment?.ROLE).toBe('api');
    expect(services.worker?.environment?.ROLE).toBe('worker');
    expect(services.api?.deploy?.replicas).toBe(2);
    expect(services.worker?.deploy?.replicas).toBe(2);
    // Two replicas cannot publish one host port: a range gives each its own.
    expect(services.api?.ports).toEqual([expect.stringMatching(/:(\d+)-(\d+):3000$/)]);
    for (const [, service] of laneqServices) {
      expect(service.depends_on?.redis?.condition).toBe('service_healthy');
      expect(service.depends_on?.postgres?.condition).toBe('service_healthy');
      expect(service.environment?.NODE_ENV).toBe('production');
    }
  });

  it('sets only variables that src/config.ts knows, and values it accepts', () => {
    const known = new Set(Object.keys(ConfigSchema.properties));
    for (const [name, service] of laneqServices) {
      const environment = service.environment ?? {};
      const unknown = Object.keys(environment).filter((variable) => !known.has(variable));
      expect(unknown, `${name} sets variables src/config.ts does not know`).toEqual([]);
      // As compose would pass them, with the operator's secret filled in and defaults elsewhere.
      const interpolated = Object.fromEntries(
        Object.entries(environment).map(([variable, value]) => [variable, interpolate(String(value), { LANEQ_JWT_SECRET: SECRET })]),
      );
      expect(() => loadConfig(interpolated), `${name}'s environment`).not.toThrow();
    }
  });

  it('runs Redis with AOF (fsync every second), noeviction and a volume; PostgreSQL with a volume and a health check', () => {
    const redis = (services.redis?.command ?? []).join(' ');
    expect(redis).toMatch(/--appendonly yes\b/);
    expect(redis).toMatch(/--appendfsync everysec\b/);
    expect(redis).toMatch(/--maxmemory-policy noeviction\b/);
    expect(services.redis?.volumes).toEqual([expect.stringMatching(/^[\w-]+:\/data$/)]);
    expect(services.redis?.healthcheck?.test).toBeDefined();
    expect(services.postgres?.volumes).toEqual([expect.stringMatching(/^[\w-]+:\/var\/lib\/postgresql\/data$/)]);
    expect(services.postgres?.healthcheck?.test).toBeDefined();
  });

  it('mounts Prometheus and Grafana files that exist in the repository', () => {
    const mounts = ['prometheus', 'grafana'].flatMap((name) =>
      (services[name]?.volumes ?? []).filter((volume) => volume.startsWith('./')).map((volume) => volume.split(':')[0] as string),
    );
    expect(mounts).toEqual(
      expect.arrayContaining(['./prometheus/prometheus.yml', './prometheus/alerts.yml', './grafana/provisioning', './grafana/dashboards']),
    );
    const missing = mounts.filter((path) => !existsSync(new URL(`deploy/${path.slice(2)}`, ROOT)));
    expect(missing).toEqual([]);
  });
});
