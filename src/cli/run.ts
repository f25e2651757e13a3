/**
 * The `laneq` command line, built on the SDK (src/client). Arguments are parsed with Node's own
 * util.parseArgs: no dependency. Every failure ends as one line on stderr and an exit code
 * (errors.ts, docs/cli.md), never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createClient, LaneqError, type LaneqClient, type NewRequest } from '../client/index.js';
import { configDir, CredentialStore } from './credentials.js';
import { CliError, EXIT, explain, notSignedIn, UsageError } from './errors.js';
import { parseJson, readJsonLines, readPassword } from './input.js';
import { formatRequest, formatStats, Output, Progress, rows } from './output.js';
import { watch } from './watch.js';

export const DEFAULT_URL = 'http://127.0.0.1:3000';
/** Requests per enqueue call: the server's largest batch. */
const BATCH_SIZE = 1_000;

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;

const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies Options;

const GLOBAL_HELP = `Global options:
  --url <url>   the laneq server (default: $LANEQ_URL, else ${DEFAULT_URL})
  --json        print results as JSON, for scripts
  -h, --help    show help`;

interface Context {
  url: string;
  output: Output;
  store: CredentialStore;
  values: Values;
  args: string[];
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
}

interface Command {
  summary: string;
  usage: string;
  details?: string;
  options?: Options;
  /** How many positional arguments it takes: [least, most]. */
  arity: [number, number];
  run(context: Context): Promise<number | void>;
}

function stringOption(values: Values, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function integerOption(values: Values, name: string, min: number, max: number): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${text}"`);
  }
  return value;
}

/** A client holding the stored session for this server; its renewed tokens are written back. */
function signedInClient(context: Context): { client: LaneqClient; username: string } {
  const session = context.store.get(context.url);
  if (!session) throw notSignedIn(context.url);
  let restoring = true;
  const client = createClient({
    baseUrl: context.url,
    onTokens: (tokens) => {
      if (!restoring) context.store.set(context.url, tokens ? { username: session.username, tokens } : undefined);
    },
    // Other laneq processes may renew the same stored session at the same moment.
    sharedTokens: {
      read: () => context.store.get(context.url)?.tokens,
      exclusive: (renew) => context.store.exclusive(renew),
    },
  });
  client.setTokens(session.tokens);
  restoring = false;
  return { client, username: session.username };
}

function anonymousClient(context: Context): LaneqClient {
  return createClient({ baseUrl: context.url });
}

/** The index of the batch element a `validation_failed` / `unknown_type` answer names. */
function failedIndex(error: LaneqError): number | undefined {
  const details = Array.isArray(error.details) ? error.details : [error.details];
  for (const detail of details) {
    const field = (detail as { field?: unknown } | undefined)?.field;
    const match = typeof field === 'string' ? /requests\[(\d+)\]/.exec(field) : null;
    if (match) return Number(match[1]);
  }
  return undefined;
}

async function enqueueFile(context: Context, client: LaneqClient, type: string, file: string, common: Omit<NewRequest, 'type'>, key?: string) {
  // First pass: the whole file must parse before anything is sent, so a bad line enqueues nothing.
  let total = 0;
  for await (const _line of readJsonLines(file)) total += 1;

  const progress = new Progress(total, `enqueue ${type}`);
  const ids: string[] = [];
  let batch: NewRequest[] = [];
  let lines: number[] = [];
  let lastSent = 0;
  const send = async () => {
    try {
      const accepted = await client.enqueue(batch);
      for (const item of accepted) ids.push(item.id);
      lastSent = lines.at(-1) ?? lastSent;
    } catch (error) {
      progress.clear();
      const already = ids.length > 0 ? `; the ${ids.length} requests up to line ${lastSent} were enqueued, none after` : '';
      if (error instanceof LaneqError) {
        const index = failedIndex(error);
        const { message, exitCode } = explain(error, context.url);
        const where = index !== undefined && lines[index] !== undefined ? `${file} line ${lines[index]}: ` : '';
        const text = where ? message.replace(/requests\[\d+\]\./g, '') : message;
        throw new CliError(`${where}${text}${already}`, exitCode);
      }
      throw error;
    }
    batch = [];
    lines = [];
    progress.update(ids.length);
  };
  progress.update(0, true);
  for await (const { line, payload } of readJsonLines(file)) {
    batch.push({ type, payload, ...common, ...(key === undefined ? {} : { idempotencyKey: `${key}:${line}` }) });
    lines.push(line);
    if (batch.length === BATCH_SIZE) await send();
  }
  if (batch.length > 0) await send();
  progress.update(ids.length, true);
  progress.clear();
  if (context.output.json) context.output.line(JSON.stringify({ enqueued: ids.length, ids }));
  else context.output.note(`enqueued ${ids.length} ${type} request${ids.length === 1 ? '' : 's'} from ${file}`);
}

const COMMANDS: Record<string, Command> = {
  register: {
    summary: 'create an account',
    usage: 'laneq register <username> [--password-stdin]',
    details: 'Asks for the password twice at a hidden prompt, or reads it from standard input with --password-stdin.\nDoes not sign in: run `laneq login <username>` next.',
    options: { 'password-stdin': { type: 'boolean' } },
    arity: [1, 1],
    async run(context) {
      const username = context.args[0] as string;
      const password = await readPassword({ passwordStdin: context.values['password-stdin'] === true, confirm: true });
      const user = await anonymousClient(context).register(username, password);
      context.output.result(user, (u) => `registered ${u.username} at ${context.url}; now run \`laneq login ${u.username}\``);
    },
  },
  login: {
    summary: 'sign in and keep the session in the credentials file',
    usage: 'laneq login <username> [--password-stdin]',
    details: 'Asks for the password at a hidden prompt, or reads it from standard input with --password-stdin.\nThe tokens are stored (mode 0600) in $LANEQ_CONFIG_DIR, $XDG_CONFIG_HOME/laneq or ~/.config/laneq.',
    options: { 'password-stdin': { type: 'boolean' } },
    arity: [1, 1],
    async run(context) {
      const username = context.args[0] as string;
      const password = await readPassword({ passwordStdin: context.values['password-stdin'] === true, confirm: false });
      const previous = context.store.get(context.url);
      const client = createClient({
        baseUrl: context.url,
        onTokens: (tokens) => context.store.set(context.url, tokens ? { username, tokens } : undefined),
      });
      await client.login(username, password);
      if (previous) {
        // The session this login replaces is of no more use: revoke it (best effort).
        const old = createClient({ baseUrl: context.url });
        old.setTokens(previous.tokens);
        await old.logout().catch(() => undefined);
      }
      context.output.result({ username, url: context.url }, () => `signed in to ${context.url} as ${username}`);
    },
  },
  logout: {
    summary: 'end the session (on the server too) and forget its tokens',
    usage: 'laneq logout',
    arity: [0, 0],
    async run(context) {
      if (!context.store.get(context.url)) {
        context.output.result({ signedOut: false }, () => `not signed in to ${context.url}`);
        return;
      }
      const { client, username } = signedInClient(context);
      try {
        await client.logout();
      } catch (error) {
        // The SDK forgets the tokens whatever happens, so the credentials are gone locally.
        const { message, exitCode } = explain(error, context.url);
        throw new CliError(`signed out locally, but the server could not revoke the session: ${message}`, exitCode);
      }
      context.output.result({ signedOut: true, username }, () => `signed out ${username} from ${context.url}`);
    },
  },
  whoami: {
    summary: 'show who I am signed in as',
    usage: 'laneq whoami',
    arity: [0, 0],
    async run(context) {
      const me = await signedInClient(context).client.me();
      context.output.result(me, (u) => `${u.username} (${u.role}) at ${context.url}`);
    },
  },
  enqueue: {
    summary: 'queue a request, or one per line of a JSONL file',
    usage: 'laneq enqueue <type> [payload-json] [options]\n       laneq enqueue <type> --file <payloads.jsonl> [options]',
    details: `Prints the new request's id (--json: {id, status, position}).
With --file, each non-blank line is one payload (JSON); the whole file is checked first, then sent
in batches of up to ${BATCH_SIZE} (each all or none), with a progress bar when stderr is a terminal
and a summary line on stderr (--json: {enqueued, ids} on stdout).

Options:
  -f, --file <path>          one payload JSON per line
  --idempotency-key <key>    a repeat with the same key answers the original request instead;
                             with --file each line gets <key>:<line number>
  --max-attempts <n>         attempts before the request fails (server default 3)
  --timeout-ms <ms>          time limit of each attempt`,
    options: {
      file: { type: 'string', short: 'f' },
      'idempotency-key': { type: 'string' },
      'max-attempts': { type: 'string' },
      'timeout-ms': { type: 'string' },
    },
    arity: [1, 2],
    async run(context) {
      const [type, payloadText] = context.args as [string, string | undefined];
      const file = stringOption(context.values, 'file');
      if (file !== undefined && payloadText !== undefined) throw new UsageError('give either a payload or --file, not both');
      if (file === '') throw new UsageError('--file needs a path');
      const maxAttempts = integerOption(context.values, 'max-attempts', 1, 1_000);
      const timeoutMs = integerOption(context.values, 'timeout-ms', 1, 2 ** 31);
      const key = stringOption(context.values, 'idempotency-key');
      const common = { ...(maxAttempts === undefined ? {} : { maxAttempts }), ...(timeoutMs === undefined ? {} : { timeoutMs }) };
      const payload = payloadText === undefined ? undefined : parseJson(payloadText, 'payload');
      const { client } = signedInClient(context);
      if (file !== undefined) return enqueueFile(context, client, type, file, common, key);
      const accepted = await client.enqueue({
        type,
        ...(payload === undefined ? {} : { payload }),
        ...common,
        ...(key === undefined ? {} : { idempotencyKey: key }),
      });
      context.output.result(accepted, (a) => a.id);
    },
  },
  status: {
    summary: 'my queue: pending, running, succeeded, failed, cancelled',
    usage: 'laneq status',
    arity: [0, 0],
    async run(context) {
      const stats = await signedInClient(context).client.stats();
      context.output.result(stats, formatStats);
    },
  },
  get: {
    summary: 'one of my requests: status, result, error, history',
    usage: 'laneq get <id>',
    arity: [1, 1],
    async run(context) {
      const view = await signedInClient(context).client.get(context.args[0] as string);
      context.output.result(view, formatRequest);
    },
  },
  list: {
    summary: 'my most recent requests, newest first',
    usage: 'laneq list [--status <status>] [--limit <n>]',
    details: 'Options:\n  --status <status>   queued | running | succeeded | failed | cancelled\n  --limit <n>         how many (1-100, default 20)',
    options: { status: { type: 'string' }, limit: { type: 'string' } },
    arity: [0, 0],
    async run(context) {
      const status = stringOption(context.values, 'status');
      const statuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
      if (status !== undefined && !(statuses as readonly string[]).includes(status)) {
        throw new UsageError(`--status must be one of ${statuses.join(', ')}`);
      }
      const limit = integerOption(context.values, 'limit', 1, 100);
      const page = await signedInClient(context).client.list({
        ...(status === undefined ? {} : { status: status as (typeof statuses)[number] }),
        ...(limit === undefined ? {} : { limit }),
      });
      context.output.result(page, (p) =>
        p.requests.length === 0 ? 'no requests' : p.requests.map((r) => `${r.id}  ${r.type.padEnd(10)}  ${r.status.padEnd(9)}  ${r.enqueuedAt}`),
      );
    },
  },
  watch: {
    summary: 'follow my requests live',
    usage: 'laneq watch [--until-idle]',
    details: `On a terminal, a table redrawn in place: my queue's counts and the requests that changed last.
Otherwise one line per state change ("<at>  <id>  <status>  attempt <n>"; --json: one JSON object per line).

Options:
  --until-idle   exit (0) once nothing is queued or running`,
    options: { 'until-idle': { type: 'boolean' } },
    arity: [0, 0],
    async run(context) {
      const { client, username } = signedInClient(context);
      const stats = await watch(client, context.output, {
        untilIdle: context.values['until-idle'] === true,
        signal: context.signal,
        url: context.url,
        username,
      });
      if (context.signal.aborted) return EXIT.interrupted;
      if (stats && !context.output.json) {
        context.output.note(`idle: ${stats.succeeded} succeeded, ${stats.failed} failed, ${stats.cancelled} cancelled`);
      }
    },
  },
  dequeue: {
    summary: 'take the oldest finished request not yet dequeued',
    usage: 'laneq dequeue [--wait <seconds>]',
    details: 'Prints the request (--json: the record, or null when there is none).\nWith nothing finished, says so on stderr and exits 0.\n\nOptions:\n  --wait <seconds>   wait up to this long (0-30) for one to finish',
    options: { wait: { type: 'string' } },
    arity: [0, 0],
    async run(context) {
      const wait = integerOption(context.values, 'wait', 0, 30);
      const view = await signedInClient(context).client.dequeue(wait === undefined ? {} : { wait });
      if (context.output.json) return context.output.line(JSON.stringify(view ?? null, null, 2));
      if (view) for (const line of formatRequest(view)) context.output.line(line);
      else context.output.note('no finished request to dequeue');
    },
  },
  cancel: {
    summary: 'cancel one of my requests while it is still queued',
    usage: 'laneq cancel <id>',
    arity: [1, 1],
    async run(context) {
      const cancelled = await signedInClient(context).client.cancel(context.args[0] as string);
      context.output.result(cancelled, (c) => `cancelled ${c.id}`);
    },
  },
  types: {
    summary: 'the request types this server runs',
    usage: 'laneq types',
    arity: [0, 0],
    async run(context) {
      const { types } = await signedInClient(context).client.types();
      context.output.result({ types }, () => rows(types.map((t) => [t.type, t.description ?? ''])));
    },
  },
};

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function topHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const list = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`);
  return [
    'laneq: the command line of a laneq queue service',
    '',
    'Usage: laneq <command> [arguments] [options]',
    '',
    'Commands:',
    ...list,
    '',
    GLOBAL_HELP,
    '  --version     print the version',
    '',
    'Run `laneq <command> --help` for a command\'s arguments. Exit codes: 0 ok, 1 refused by the server,',
    '2 usage or input error, 3 not signed in, 4 server unreachable, 130 interrupted (docs/cli.md).',
  ].join('\n');
}

function commandHelp(name: string, command: Command): string {
  return [`laneq ${name}: ${command.summary}`, '', `Usage: ${command.usage}`, ...(command.details ? ['', command.details] : []), '', GLOBAL_HELP].join('\n');
}

/** Splits off the command name: the first argument that is neither an option nor a global option's value. */
function splitCommand(argv: string[]): { name: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let name: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (name !== undefined) rest.push(arg);
    else if (arg === '--url') {
      rest.push(arg);
      if (i + 1 < argv.length) rest.push(argv[(i += 1)] as string);
    } else if (arg.startsWith('-')) rest.push(arg);
    else name = arg;
  }
  return { name, rest };
}

function serverUrl(values: Values, env: NodeJS.ProcessEnv): string {
  const text = stringOption(values, 'url') ?? (env.LANEQ_URL || DEFAULT_URL);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--url: "${text}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url: "${text}" is not an http(s) URL`);
  return url.href.replace(/\/+$/, '');
}

function parse(argv: string[], options: Options): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (error) {
    const message = (error as Error).message.split('. ')[0]?.replace(/\.$/, '') ?? 'bad arguments';
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1));
  }
}

/** Runs the command line `argv` (without node and the script); resolves with the exit code. */
export async function run(argv: string[], env: NodeJS.ProcessEnv = process.env, signal: AbortSignal = new AbortController().signal): Promise<number> {
  const { name, rest } = splitCommand(argv);
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  let url = DEFAULT_URL;
  try {
    if (name === undefined || name === 'help') {
      const topic = name === 'help' ? rest.find((arg) => !arg.startsWith('-')) : undefined;
      const command = topic === undefined ? undefined : COMMANDS[topic];
      if (topic !== undefined && !command) throw new UsageError(`unknown command "${topic}"; run \`laneq --help\``);
      if (rest.includes('--version')) {
        process.stdout.write(`${version()}\n`);
        return EXIT.ok;
      }
      if (name === undefined && !wantsHelp) {
        process.stderr.write(`${topHelp()}\n`);
        return EXIT.usage;
      }
      process.stdout.write(`${command && topic ? commandHelp(topic, command) : topHelp()}\n`);
      return EXIT.ok;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) throw new UsageError(`unknown command "${name}"; run \`laneq --help\` for the list`);
    if (wantsHelp) {
      process.stdout.write(`${commandHelp(name, command)}\n`);
      return EXIT.ok;
    }
    const { values, positionals } = parse(rest, { ...GLOBAL_OPTIONS, ...command.options });
    const [least, most] = command.arity;
    if (positionals.length < least || positionals.length > most) {
      throw new UsageError(`${positionals.length < least ? 'missing arguments' : 'too many arguments'}; usage: ${command.usage.split('\n')[0]}`);
    }
    url = serverUrl(values, env);
    const output = new Output(values.json === true);
    const code = await command.run({ url, output, store: new CredentialStore(configDir(env)), values, args: positionals, signal });
    return code ?? EXIT.ok;
  } catch (error) {
    if (signal.aborted && !(error instanceof CliError)) return EXIT.interrupted;
    const { message, exitCode } = explain(error, url);
    const prefix = name !== undefined && Object.hasOwn(COMMANDS, name) ? `laneq ${name}` : 'laneq';
    process.stderr.write(`${prefix}: ${message}\n`);
    if (env.LANEQ_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return exitCode;
  }
}
