/**
 * The drain chart of the peer benchmark: drain/s against the number of clients, one line per
 * system and worker-process count, as a self-contained SVG. run.ts writes it after a run; on its
 * own it redraws the chart from a results file:
 * `npx tsx bench/peers/chart.ts bench/peers/results/<date>.json [out.svg]`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface DrainPoint {
  system: string;
  workers: number;
  clients: number;
  /** undefined when the run did not finish (skipped, timed out, failed) */
  drainPerSec: number | undefined;
}

const COLOURS: Record<string, string> = {
  laneq: '#d62728',
  'laneq-http': '#ff7f0e',
  'bullmq-per-client': '#1f77b4',
  groupmq: '#2ca02c',
  graphile: '#9467bd',
  'bullmq-unordered': '#7f7f7f',
};

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function renderDrainSvg(points: DrainPoint[], title: string): string {
  const width = 860;
  const height = 480;
  const left = 80;
  const right = 230;
  const top = 50;
  const bottom = 60;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const clientValues = [...new Set(points.map((point) => point.clients))].sort((a, b) => a - b);
  const yMax = niceMax(Math.max(0, ...points.map((point) => point.drainPerSec ?? 0)) * 1.05);
  // Clients on a log scale (10, 1,000, 100,000 are evenly spaced), or evenly spaced categories.
  const logs = clientValues.map((clients) => Math.log10(clients));
  const minLog = Math.min(...logs);
  const maxLog = Math.max(...logs);
  const x = (clients: number) =>
    clientValues.length <= 1 || maxLog === minLog ? left + plotW / 2 : left + ((Math.log10(clients) - minLog) / (maxLog - minLog)) * plotW;
  const y = (value: number) => top + plotH - (value / yMax) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="28" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  for (let tick = 0; tick <= 5; tick += 1) {
    const value = (yMax / 5) * tick;
    parts.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(value)}" y2="${y(value)}" stroke="#ddd"/>`,
      `<text x="${left - 8}" y="${y(value) + 4}" text-anchor="end">${Math.round(value).toLocaleString('en')}</text>`,
    );
  }
  for (const clients of clientValues) {
    parts.push(
      `<line x1="${x(clients)}" x2="${x(clients)}" y1="${top}" y2="${top + plotH}" stroke="#eee"/>`,
      `<text x="${x(clients)}" y="${top + plotH + 18}" text-anchor="middle">${clients.toLocaleString('en')}</text>`,
    );
  }
  parts.push(
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`,
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left + plotW / 2}" y="${height - 18}" text-anchor="middle">clients (log scale)</text>`,
    `<text transform="translate(20 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">drain/s</text>`,
  );
  const series = new Map<string, DrainPoint[]>();
  for (const point of points) {
    const key = `${point.system}|${point.workers}`;
    series.set(key, [...(series.get(key) ?? []), point]);
  }
  let legendY = top + 6;
  for (const [key, list] of [...series].sort(([a], [b]) => a.localeCompare(b))) {
    const [system = '', workers = '1'] = key.split('|');
    const colour = COLOURS[system] ?? '#000';
    const dash = workers === '1' ? '' : ' stroke-dasharray="6 4"';
    const done = list.filter((point) => point.drainPerSec !== undefined).sort((a, b) => a.clients - b.clients);
    if (done.length > 1) {
      const path = done.map((point, n) => `${n === 0 ? 'M' : 'L'}${x(point.clients).toFixed(1)},${y(point.drainPerSec ?? 0).toFixed(1)}`).join(' ');
      parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`);
    }
    for (const point of list) {
      if (point.drainPerSec === undefined) {
        // did not finish: a cross on the axis
        const px = x(point.clients);
        const py = top + plotH;
        parts.push(`<path d="M${px - 4},${py - 4} L${px + 4},${py + 4} M${px - 4},${py + 4} L${px + 4},${py - 4}" stroke="${colour}" stroke-width="2"/>`);
      } else {
        parts.push(`<circle cx="${x(point.clients).toFixed(1)}" cy="${y(point.drainPerSec).toFixed(1)}" r="3.5" fill="${colour}"/>`);
      }
    }
    const label = `${system}, ${workers} worker${workers === '1' ? '' : 's'}`;
    parts.push(
      `<line x1="${left + plotW + 16}" x2="${left + plotW + 44}" y1="${legendY}" y2="${legendY}" stroke="${colour}" stroke-width="2"${dash}/>`,
      `<text x="${left + plotW + 50}" y="${legendY + 4}">${escape(label)}</text>`,
    );
    legendY += 18;
  }
  parts.push(
    `<text x="${left + plotW + 16}" y="${legendY + 14}" fill="#555">× on the axis: did not finish</text>`,
    `<text x="${left + plotW + 16}" y="${legendY + 30}" fill="#555">(skipped or timed out)</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [input, output = 'bench/peers/results/drain.svg'] = process.argv.slice(2);
  if (!input) throw new Error('usage: tsx bench/peers/chart.ts results.json [out.svg]');
  const results = JSON.parse(readFileSync(input, 'utf8')) as {
    date: string;
    machine: { nproc: string; uname: string };
    drains: { system: string; workers: number; clients: number; status: string; drainPerSec?: number }[];
  };
  const points = results.drains.map((row) => ({
    system: row.system,
    workers: row.workers,
    clients: row.clients,
    drainPerSec: row.status === 'ok' ? row.drainPerSec : undefined,
  }));
  writeFileSync(output, renderDrainSvg(points, `drain/s by number of clients — ${results.date.slice(0, 10)}, ${results.machine.nproc} cores, ${results.machine.uname}`));
}
