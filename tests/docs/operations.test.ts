/**
 * docs/operations.md and docs/architecture.md name settings, metrics, alerts and files that must
 * exist: a renamed variable, metric or alert, or a moved deployment file, fails here until the
 * docs follow.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigSchema } from '../../src/config.js';

const ROOT = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');
const DOCS = ['docs/operations.md', 'docs/architecture.md'];

const codeSpans = (markdown: string) => [...markdown.matchAll(/`([^`\n]+)`/g)].map((match) => match[1] as string);

describe('settings named in the docs', () => {
  const config = new Set(Object.keys(ConfigSchema.properties));
  // Variables of the compose file itself (`${NAME…}`), e.g. LANEQ_JWT_SECRET.
  const composeVariables = new Set([...read('deploy/docker-compose.yml').matchAll(/\$\{(\w+)/g)].map((match) => match[1] as string));
  const exportedConstant = (name: string) => {
    const sources = (dir: string): string[] =>
      readdirSync(new URL(dir, ROOT), { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? sources(`${dir}${entry.name}/`) : entry.name.endsWith('.ts') ? [`${dir}${entry.name}`] : [],
      );
    return sources('src/').some((file) => read(file).includes(`export const ${name} `));
  };

  for (const doc of DOCS) {
    it(`${doc}: every UPPER_CASE name is a setting of src/config.ts, a compose variable or an exported constant`, () => {
      const names = new Set(codeSpans(read(doc)).filter((span) => /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(span)));
      expect(names.size).toBeGreaterThan(5);
      const unknown = [...names].filter((name) => !config.has(name) && !composeVariables.has(name) && !exportedConstant(name));
      expect(unknown).toEqual([]);
    });
  }
});

describe('docs/operations.md: monitoring', () => {
  const doc = read('docs/operations.md');

  it('names metrics that the code registers', () => {
    const sources = readdirSync(new URL('src/observability/', ROOT))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => read(`src/observability/${file}`))
      .join('\n');
    const metrics = [...new Set(codeSpans(doc).filter((span) => /^laneq_[a-z_]+[a-z]$/.test(span)))];
    expect(metrics.length).toBeGreaterThan(5);
    expect(metrics.filter((name) => !sources.includes(`'${name}'`))).toEqual([]);
  });

  it('lists exactly the alerts of deploy/prometheus/alerts.yml', () => {
    const rules = parseYaml(read('deploy/prometheus/alerts.yml')) as { groups: { rules: { alert?: string }[] }[] };
    const alerts = rules.groups.flatMap((group) => group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : [])));
    const documented = codeSpans(doc).filter((span) => /^Laneq[A-Za-z0-9]+$/.test(span));
    expect([...new Set(documented)].sort()).toEqual([...new Set(alerts)].sort());
  });
});

describe('files named in the docs', () => {
  for (const doc of [...DOCS, 'README.md']) {
    it(`${doc}: every deploy/… and docs/… path exists`, () => {
      const paths = [...read(doc).matchAll(/(?<![\w/.])((?:deploy|docs)\/[\w./-]*\w)/g)].map((match) => match[1] as string);
      // deploy/.env is the operator's own file, never committed (deploy/.env.example is).
      const missing = paths.filter((path) => path !== 'deploy/.env' && !existsSync(new URL(path, ROOT)));
      expect(missing).toEqual([]);
    });
  }
});
