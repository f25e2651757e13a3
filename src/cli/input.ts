/** What the CLI reads besides its arguments: passwords and JSON payloads. */
import { open } from 'node:fs/promises';
import { CliError, EXIT, UsageError } from './errors.js';

function shorten(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A JSON value from the command line or a file line; `where` says which in the error. */
export function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${where}: invalid JSON (${shorten((error as Error).message)})`);
  }
}

export interface PayloadLine {
  /** 1-based line number in the file. */
  line: number;
  payload: unknown;
}

/** Each non-blank line of a JSONL file, parsed; the first invalid line stops it with its number. */
export async function* readJsonLines(path: string): AsyncGenerator<PayloadLine, void, undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  try {
    let line = 0;
    for await (const raw of handle.readLines({ encoding: 'utf8' })) {
      line += 1;
      const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (text.trim() === '') continue;
      yield { line, payload: parseJson(text, `${path} line ${line}`) };
    }
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: CliError) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003') return finish(new CliError('interrupted', EXIT.interrupted));
        if (char === '\u0004') return finish(value === '' ? new UsageError('no password given') : undefined);
        if (char === '\u007f' || char === '\b') value = Array.from(value).slice(0, -1).join('');
        else if (char >= ' ') value += char;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * The password: all of standard input with `--password-stdin` (one trailing newline dropped), or
 * typed at a hidden prompt when standard input is a terminal (twice when `confirm`).
 */
export async function readPassword(options: { passwordStdin: boolean; confirm: boolean }): Promise<string> {
  let password: string;
  if (options.passwordStdin) {
    password = (await readAll(process.stdin)).replace(/\r?\n$/, '');
  } else if (process.stdin.isTTY) {
    password = await promptHidden('Password: ');
    if (options.confirm && password !== '' && (await promptHidden('Password (again): ')) !== password) {
      throw new UsageError('the passwords do not match');
    }
  } else {
    throw new UsageError('no password: pass --password-stdin (and pipe it in), or run in a terminal to be asked');
  }
  if (password === '') throw new UsageError('the password is empty');
  return password;
}
