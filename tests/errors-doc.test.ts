/**
 * docs/errors.md must list exactly the codes of ERROR_CATALOGUE, each with its HTTP status in the
 * same table row, in the catalogue's order. A code added to one and not the other fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../src/errors.js';

const DOC = 'docs/errors.md';
const doc = readFileSync(new URL(`../${DOC}`, import.meta.url), 'utf8');

interface Row {
  line: number;
  code: string;
  status: string;
  cells: string[];
}

const cellsOf = (line: string) =>
  line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((cell) => cell.trim());

/** The rows of the catalogue table: the table whose header starts `| code | HTTP status |`. */
function catalogueRows(markdown: string): Row[] {
  const lines = markdown.split('\n');
  const header = lines.findIndex((line) => /^\|\s*code\s*\|\s*HTTP status\s*\|/i.test(line));
  if (header < 0) throw new Error(`${DOC} has no table with the header "| code | HTTP status | …"`);
  const rows: Row[] = [];
  for (let index = header + 2; index < lines.length && (lines[index] ?? '').trim().startsWith('|'); index += 1) {
    const cells = cellsOf(lines[index] as string);
    rows.push({
      line: index + 1,
      code: (cells[0] ?? '').replace(/`/g, '').trim(),
      status: cells[1] ?? '',
      cells,
    });
  }
  return rows;
}

const rows = catalogueRows(doc);
const catalogue = Object.entries(ERROR_CATALOGUE).map(([code, { status }]) => ({ code, status }));

describe(`${DOC} matches ERROR_CATALOGUE`, () => {
  it('has a catalogue table with a code, a status, a meaning and a "when" in every row', () => {
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.cells.length, `${DOC}:${row.line} should have 4 cells`).toBe(4);
      expect(row.cells[2], `${DOC}:${row.line} meaning`).not.toBe('');
      expect(row.cells[3], `${DOC}:${row.line} when it happens`).not.toBe('');
    }
  });

  it.each(catalogue)('documents $code with status $status in its row', ({ code, status }) => {
    const matching = rows.filter((row) => row.code === code);
    expect(matching.length, `${code} should appear in exactly one row of the table in ${DOC}`).toBe(1);
    const row = matching[0] as Row;
    expect(row.status, `${DOC}:${row.line}: status of ${code}`).toBe(String(status));
  });

  it('lists no code that the catalogue lacks', () => {
    const unknown = rows.map((row) => row.code).filter((code) => !Object.hasOwn(ERROR_CATALOGUE, code));
    expect(unknown, `rows in ${DOC} for codes not in ERROR_CATALOGUE`).toEqual([]);
  });

  it('lists the codes in the order of ERROR_CATALOGUE', () => {
    expect(rows.map((row) => row.code)).toEqual(catalogue.map(({ code }) => code));
  });
});
