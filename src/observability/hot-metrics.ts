/**
 * Counters and histograms for the worker's hot path. prom-client's own metrics hash their label
 * object on every observation (about 170 ns each, measured); a worker observes four times per
 * request at tens of thousands of requests per second. These hand out one child per label
 * combination, kept by the caller, whose observation is a few additions on plain numbers; the
 * exposition work happens only when Prometheus scrapes. They register into a prom-client Registry
 * like its own metrics (the Registry only calls `get()`, `reset()` and reads `name`).
 */
import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string>;

interface ExposedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

abstract class HotMetric<Child extends { labels: Labels }> {
  readonly aggregator = 'sum';
  protected readonly children = new Map<string, Child>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  abstract readonly type: 'counter' | 'histogram';

  /** The child of these label values (in labelNames order), made once and kept by the caller. */
  child(...values: string[]): Child {
    const key = values.join('\u0000');
    let child = this.children.get(key);
    if (!child) {
      const labels: Labels = {};
      this.labelNames.forEach((label, index) => (labels[label] = values[index] ?? ''));
      child = this.makeChild(labels);
      this.children.set(key, child);
    }
    return child;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExposedValue[] }> {
    const values: ExposedValue[] = [];
    for (const child of this.children.values()) this.expose(child, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Zeroes every child in place: callers keep their children, which go on counting. */
  abstract reset(): void;
  protected abstract makeChild(labels: Labels): Child;
  protected abstract expose(child: Child, into: ExposedValue[]): void;
}

export interface CounterChild {
  readonly labels: Labels;
  value: number;
}

/** A counter: `child.value += n` is the whole cost of counting. */
export class HotCounter extends HotMetric<CounterChild> {
  readonly type = 'counter';

  reset(): void {
    for (const child of this.children.values()) child.value = 0;
  }

  protected makeChild(labels: Labels): CounterChild {
    return { labels, value: 0 };
  }

  protected expose(child: CounterChild, into: ExposedValue[]): void {
    into.push({ labels: child.labels, value: child.value });
  }
}

export class HistogramChild {
  /** per bucket (not cumulative), plus one for the values above the last bound */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let index = 0;
    while (index < bounds.length && value > (bounds[index] as number)) index += 1;
    this.counts[index] = (this.counts[index] as number) + 1;
    this.sum += value;
    this.count += 1;
  }
}

/** A histogram with fixed bucket bounds (upper, inclusive, ascending), as Prometheus defines it. */
export class HotHistogram extends HotMetric<HistogramChild> {
  readonly type = 'histogram';

  constructor(name: string, help: string, labelNames: readonly string[], private readonly bounds: readonly number[], registry: Registry) {
    super(name, help, labelNames, registry);
  }

  reset(): void {
    for (const child of this.children.values()) {
      child.counts.fill(0);
      child.sum = 0;
      child.count = 0;
    }
  }

  protected makeChild(labels: Labels): HistogramChild {
    return new HistogramChild(labels, this.bounds);
  }

  protected expose(child: HistogramChild, into: ExposedValue[]): void {
    let cumulative = 0;
    this.bounds.forEach((bound, index) => {
      cumulative += child.counts[index] as number;
      into.push({ metricName: `${this.name}_bucket`, labels: { ...child.labels, le: bound }, value: cumulative });
    });
    // +Inf is the count itself, so the two can never disagree.
    into.push({ metricName: `${this.name}_bucket`, labels: { ...child.labels, le: '+Inf' }, value: child.count });
    into.push({ metricName: `${this.name}_sum`, labels: child.labels, value: child.sum });
    into.push({ metricName: `${this.name}_count`, labels: child.labels, value: child.count });
  }
}
