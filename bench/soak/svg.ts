/**
 * A small hand-written SVG line chart: stacked panels sharing one time axis, one or more series
 * per panel. No dependency; the output is a plain, self-contained .svg file.
 */

export interface Series {
  name: string;
  /** [x, y] points; x in the shared unit (minutes) */
  points: [number, number][];
}

export interface Panel {
  title: string;
  unit: string;
  series: Series[];
  /** the y axis starts at 0 unless false */
  fromZero?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf', '#7f7f7f'];
const WIDTH = 900;
const PANEL_HEIGHT = 170;
const LEFT = 70;
const RIGHT = 170;
const TOP = 40;
const GAP = 45;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const scaled = raw / power;
  return (scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10) * power;
}

const label = (value: number) => (Math.abs(value) >= 100 || Number.isInteger(value) ? String(Math.round(value)) : String(Number(value.toPrecision(3))));

export function lineChart(title: string, xLabel: string, panels: Panel[]): string {
  const height = TOP + panels.length * (PANEL_HEIGHT + GAP) + 10;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const xs = panels.flatMap((panel) => panel.series.flatMap((series) => series.points.map(([x]) => x)));
  const xMin = Math.min(0, ...xs);
  const xMax = Math.max(xMin + 1e-9, ...xs);
  const xOf = (x: number) => LEFT + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  const xStep = niceStep(xMax - xMin, 10);
  panels.forEach((panel, index) => {
    const top = TOP + index * (PANEL_HEIGHT + GAP) + 15;
    const bottom = top + PANEL_HEIGHT;
    const ys = panel.series.flatMap((series) => series.points.map(([, y]) => y));
    const yMin = panel.fromZero === false ? Math.min(...ys) : Math.min(0, ...ys);
    let yMax = Math.max(...ys, yMin + 1e-9);
    const yStep = niceStep(yMax - yMin, 4);
    yMax = Math.ceil(yMax / yStep) * yStep;
    const yOf = (y: number) => bottom - ((y - yMin) / (yMax - yMin || 1)) * PANEL_HEIGHT;
    out.push(`<text x="${LEFT}" y="${top - 6}" font-weight="bold">${escape(panel.title)} (${escape(panel.unit)})</text>`);
    for (let y = Math.ceil(yMin / yStep) * yStep; y <= yMax + 1e-9; y += yStep) {
      out.push(`<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${yOf(y).toFixed(1)}" y2="${yOf(y).toFixed(1)}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${LEFT - 6}" y="${(yOf(y) + 4).toFixed(1)}" text-anchor="end">${label(y)}</text>`);
    }
    for (let x = Math.ceil(xMin / xStep) * xStep; x <= xMax + 1e-9; x += xStep) {
      out.push(`<line x1="${xOf(x).toFixed(1)}" x2="${xOf(x).toFixed(1)}" y1="${top}" y2="${bottom}" stroke="#f0f0f0"/>`);
      out.push(`<text x="${xOf(x).toFixed(1)}" y="${bottom + 14}" text-anchor="middle">${label(x)}</text>`);
    }
    out.push(`<rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`);
    panel.series.forEach((series, n) => {
      const color = COLORS[n % COLORS.length] as string;
      const path = series.points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${xOf(x).toFixed(1)},${yOf(y).toFixed(1)}`).join(' ');
      if (path) out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
      for (const [x, y] of series.points) out.push(`<circle cx="${xOf(x).toFixed(1)}" cy="${yOf(y).toFixed(1)}" r="2" fill="${color}"/>`);
      const legendY = top + 12 + n * 15;
      out.push(`<line x1="${LEFT + plotWidth + 12}" x2="${LEFT + plotWidth + 30}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${color}" stroke-width="2"/>`);
      out.push(`<text x="${LEFT + plotWidth + 35}" y="${legendY}">${escape(series.name)}</text>`);
    });
    if (index === panels.length - 1) out.push(`<text x="${LEFT + plotWidth / 2}" y="${bottom + 30}" text-anchor="middle">${escape(xLabel)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
