/**
 * docs/architecture.md must match the code: one contract per Lua file (and no contract of a
 * script that does not exist, or whose ARGV differs from the script's own header), every Redis
 * key the code builds in the key table (and no key the code does not build), and every Mermaid
 * diagram valid: each block is parsed by the real Mermaid library in headless Chromium.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueEngine } from '../../src/queue/engine.js';
import { KeySpace, SHARD_KEY_NAMES } from '../../src/queue/keys.js';
import { SCRIPT_NAMES } from '../../src/queue/scripts.js';
import { WorkerOps } from '../../src/queue/worker-ops.js';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');
const DOC = 'docs/architecture.md';
const doc = read(DOC);
const LUA_DIR = 'src/queue/lua/';

/** The markdown under a `## title` heading, up to the next `## ` heading. */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`${DOC} has no "## ${title}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** `### \`name.lua\`` entries of the Lua section: file name → its text. */
function scriptEntries(markdown: string): Map<string, string> {
  const lua = section(markdown, 'Lua scripts');
  const entries = new Map<string, string>();
  const headings = [...lua.matchAll(/^### `([^`]+)`\s*$/gm)];
  headings.forEach((heading, index) => {
    const end = headings[index + 1]?.index ?? lua.length;
    const name = heading[1] as string;
    if (entries.has(name)) throw new Error(`${DOC} documents ${name} twice`);
    entries.set(name, lua.slice(heading.index, end));
  });
  return entries;
}

/** The Lua files of src/queue/lua, top level and includes/, as `name.lua` / `includes/name.lua`. */
function luaFiles(): string[] {
  const top = readdirSync(new URL(LUA_DIR, ROOT)).filter((file) => file.endsWith('.lua'));
  const includes = readdirSync(new URL(`${LUA_DIR}includes/`, ROOT))
    .filter((file) => file.endsWith('.lua'))
    .map((file) => `includes/${file}`);
  return [...top, ...includes].sort();
}

/** The ARGV references of a script's header comment (`--[[ … ]]`), e.g. ARGV[3], ARGV[7..]. */
function headerArgv(file: string): Set<string> {
  const source = read(`${LUA_DIR}${file}`);
  const header = /^--\[\[([\s\S]*?)\]\]/.exec(source)?.[1] ?? '';
  return new Set(header.match(/ARGV\[\d+(?:\.\.\d*)?\]/g) ?? []);
}

describe(`${DOC}: Lua scripts`, () => {
  const entries = scriptEntries(doc);
  const files = luaFiles();

  it('has one entry per file of src/queue/lua/ (includes too), and none for a file that does not exist', () => {
    expect([...entries.keys()].sort()).toEqual(files);
  });

  it('documents exactly the scripts the engine loads (SCRIPT_NAMES)', () => {
    const documentedScripts = [...entries.keys()].filter((name) => !name.startsWith('includes/'));
    expect(documentedScripts.sort()).toEqual(SCRIPT_NAMES.map((name) => `${name}.lua`).sort());
  });

  it("gives each script its caller, KEYS, ARGV, return value and changes, with the script's own ARGV", () => {
    for (const name of SCRIPT_NAMES) {
      const entry = entries.get(`${name}.lua`) ?? '';
      for (const label of ['Called by', 'KEYS', 'ARGV', 'Returns', 'Changes']) {
        expect(entry, `${name}.lua lacks **${label}**`).toContain(`**${label}**`);
      }
      const documented = new Set(entry.match(/ARGV\[\d+(?:\.\.\d*)?\]/g) ?? []);
      const declared = headerArgv(`${name}.lua`);
      expect(declared.size, `${name}.lua declares its ARGV in its header`).toBeGreaterThan(2);
      expect([...documented].sort(), `ARGV of ${name}.lua`).toEqual([...declared].sort());
    }
  });

  it('names shard keys, scripts and engine methods that exist', () => {
    const shardKeys = new Set<string>(SHARD_KEY_NAMES);
    const derived = new Set(['q', 'fin', 'idem', 'client', 'done', 'revoked', 'rl']);
    for (const [name, entry] of entries) {
      const keysLine = /\*\*KEYS\*\*([^\n]*(?:\n {2}[^\n-][^\n]*)*)/.exec(entry)?.[1] ?? '';
      for (const [, key] of keysLine.matchAll(/`([a-z]+)(?::<\w+>)?`/g)) {
        expect(shardKeys.has(key as string) || derived.has(key as string), `${name}: unknown key ${key}`).toBe(true);
      }
    }
    for (const [, script] of doc.matchAll(/\b((?:includes\/)?[a-z_]+)\.lua\b/g)) {
      expect(existsSync(new URL(`${LUA_DIR}${script}.lua`, ROOT)), `${script}.lua is mentioned but does not exist`).toBe(true);
    }
    const classes = { QueueEngine, WorkerOps } as Record<string, { prototype: object }>;
    for (const [, owner, member] of doc.matchAll(/`(QueueEngine|WorkerOps)\.(\w+)`/g)) {
      expect(member as string in (classes[owner as string] as { prototype: object }).prototype, `${owner}.${member}`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------- Redis keys

/** Every key the code builds, spelt as the doc spells them: `<prefix>:{s<n>}:q:<client>`. */
function codeKeys(): { exact: Set<string>; prefixes: Set<string> } {
  const space = new KeySpace('<prefix>', 1);
  const shard = (key: string) => key.replace('{s0}', '{s<n>}');
  const exact = new Set<string>([
    ...(space.shards[0]?.keys ?? []).map(shard),
    shard(space.shards[0]?.events ?? ''),
    space.wakeChannel,
    ...space.clientKeys('<client>').map(shard),
  ]);
  // Per-client and per-request keys built inside the Lua scripts: base .. 'name:' .. variable.
  const prefixes = new Set<string>();
  for (const file of luaFiles()) {
    for (const [, name, separator] of read(`${LUA_DIR}${file}`).matchAll(/base \.\. '([a-z]+)(:?)'/g)) {
      if (separator) prefixes.add(`<prefix>:{s<n>}:${name}:`);
      else exact.add(`<prefix>:{s<n>}:${name}`);
    }
  }
  // Keys outside the shards: `${KEY_PREFIX}:auth:…` and the like in the TypeScript sources.
  const sources = (dir: string): string[] =>
    readdirSync(new URL(dir, ROOT), { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? sources(`${dir}${entry.name}/`) : entry.name.endsWith('.ts') ? [`${dir}${entry.name}`] : [],
    );
  for (const file of sources('src/')) {
    for (const [, rest] of read(file).matchAll(/`\$\{(?:settings\.KEY_PREFIX|this\.keyPrefix|keyPrefix|config\.KEY_PREFIX)\}:([a-z:]+)/g)) {
      // rate-limiter-flexible appends ':<key>' to its keyPrefix; a literal ending in ':' takes one more part.
      prefixes.add(`<prefix>:${(rest as string).replace(/:$/, '')}:`);
    }
  }
  return { exact, prefixes };
}

describe(`${DOC}: Redis keys`, () => {
  const table = section(doc, 'Redis keys');
  const documented = [...table.matchAll(/^\| `(<prefix>:[^`]+)` \|/gm)].map((match) => match[1] as string);
  const { exact, prefixes } = codeKeys();
  const matchesCode = (key: string) => exact.has(key) || [...prefixes].some((prefix) => key.startsWith(prefix) && /^<\w+>$/.test(key.slice(prefix.length)));

  it('finds the keys in the code (the extraction itself works)', () => {
    expect(exact).toContain('<prefix>:{s<n>}:ready');
    expect(exact).toContain('<prefix>:{s<n>}:q:<client>');
    expect(exact).toContain('<prefix>:wake');
    expect(prefixes).toContain('<prefix>:{s<n>}:done:');
    expect(prefixes).toContain('<prefix>:{s<n>}:revoked:');
    expect(prefixes).toContain('<prefix>:{s<n>}:rl:');
    expect(prefixes).toContain('<prefix>:auth:rl:ip:');
  });

  it('documents every key of keys.ts, of the Lua scripts and of the auth and rate-limit code', () => {
    for (const key of exact) expect(documented, `${key} is not in the key table`).toContain(key);
    for (const prefix of prefixes) {
      expect(
        documented.some((key) => key.startsWith(prefix)),
        `no key starting ${prefix} in the key table`,
      ).toBe(true);
    }
  });

  it('documents no key the code does not build, each once, with a Redis type', () => {
    expect(documented.filter((key) => !matchesCode(key))).toEqual([]);
    expect(new Set(documented).size).toBe(documented.length);
    for (const row of table.split('\n').filter((line) => line.startsWith('| `<prefix>'))) {
      const type = row.split('|')[2]?.trim() ?? '';
      expect(['LIST', 'HASH', 'ZSET', 'STREAM', 'STRING', 'pub/sub channel']).toContain(type);
    }
  });
});

// ---------------------------------------------------------------- Mermaid

/** Every ```mermaid block of a markdown text, with the line it starts on. */
function mermaidBlocks(markdown: string): { line: number; text: string }[] {
  return [...markdown.matchAll(/^```mermaid\n([\s\S]*?)^```$/gm)].map((match) => ({
    line: markdown.slice(0, match.index).split('\n').length,
    text: match[1] as string,
  }));
}

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe(`${DOC}: Mermaid diagrams`, () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage();
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ path: require.resolve('mermaid/dist/mermaid.min.js') });
    await page.evaluate(() => {
      (globalThis as unknown as { mermaid: { initialize(config: object): void } }).mermaid.initialize({ startOnLoad: false });
    });
  });

  afterAll(async () => {
    await browser?.close();
  });

  /** null when Mermaid parses the text and renders it to SVG, else its error message. */
  let rendered = 0;
  const parse = (text: string) =>
    page.evaluate(
      async ([source, id]) => {
        const mermaid = (
          globalThis as unknown as {
            mermaid: { parse(text: string): Promise<unknown>; render(id: string, text: string): Promise<{ svg: string }> };
          }
        ).mermaid;
        try {
          await mermaid.parse(source);
          const { svg } = await mermaid.render(id, source);
          return svg.startsWith('<svg') ? null : `rendered no SVG: ${svg.slice(0, 80)}`;
        } catch (error) {
          return error instanceof Error ? error.message : String(error);
        }
      },
      [text, `diagram${(rendered += 1)}`] as const,
    );

  it('tells a broken diagram from a valid one (the check itself works)', async () => {
    expect(await parse('flowchart LR\n  a --> b')).toBeNull();
    expect(await parse('sequenceDiagram\n  A->>B: hi')).toBeNull();
    expect(await parse('flowchart LR\n  a --> b[unclosed')).not.toBeNull();
    expect(await parse('sequenceDiagram\n  A->>B hi\n  end')).not.toBeNull();
  });

  it('has the system, process-flow and crash-redelivery diagrams, and every one parses', async () => {
    const blocks = mermaidBlocks(doc);
    const kinds = blocks.map((block) => block.text.trim().split(/\s/)[0]);
    expect(kinds.filter((kind) => kind === 'flowchart').length).toBeGreaterThanOrEqual(2);
    expect(kinds).toContain('sequenceDiagram');
    for (const block of blocks) {
      expect(await parse(block.text), `${DOC}:${block.line}`).toBeNull();
    }
  });

  it('every other doc with diagrams parses too', async () => {
    const docs = readdirSync(new URL('docs/', ROOT)).filter((file) => file.endsWith('.md') && `docs/${file}` !== DOC);
    for (const file of [...docs.map((name) => `docs/${name}`), 'README.md']) {
      for (const block of mermaidBlocks(read(file))) {
        expect(await parse(block.text), `${file}:${block.line}`).toBeNull();
      }
    }
  });
});
