import {
  Counter,
  Histogram,
  type CounterConfiguration,
  type HistogramConfiguration,
  type MetricObjectWithValues,
  type MetricValueWithName,
} from 'prom-client';

/*
 * prom-client validates and hashes the label set on every inc()/observe(), even through a child
 * from labels(): about 1 µs per call, several per proxied request (observeCall was ~4% of the
 * proxy's CPU in profiles). These series take the label values once, count into plain fields,
 * and hand prom-client the totals when it is scraped. The exposition format stays prom-client's.
 */

type Labels<T extends string> = Partial<Record<T, string>>;

function labelsOf<T extends string>(names: readonly T[], values: readonly string[]): Labels<T> {
  const out: Labels<T> = {};
  names.forEach((n, i) => (out[n] = values[i]));
  return out;
}

/** A counter whose children add to a local total, moved into prom-client at scrape time. */
export class LocalCounter<T extends string> {
  private readonly pending: { labels: Labels<T>; value: number }[] = [];
  readonly metric: Counter<T>;
  private readonly names: readonly T[];

  constructor(config: CounterConfiguration<T> & { labelNames: readonly T[] }) {
    this.names = config.labelNames;
    const pending = this.pending;
    this.metric = new Counter<T>({
      ...config,
      collect() {
        for (const p of pending)
          if (p.value !== 0) {
            this.inc(p.labels, p.value);
            p.value = 0;
          }
      },
    });
  }

  child(values: readonly string[]): { inc(value?: number): void } {
    const entry = { labels: labelsOf(this.names, values), value: 0 };
    this.pending.push(entry);
    // Created once per label set (ChildCache), so a scrape shows the series even at 0.
    this.metric.inc(entry.labels, 0);
    return {
      inc(value = 1) {
        if (value > 0 && Number.isFinite(value)) entry.value += value;
      },
    };
  }
}

/** One labelled histogram series: per-bucket (not cumulative) counts, sum and count. */
class HistogramSeries<T extends string> {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Labels<T>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    this.sum += value;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++)
      if (value <= b[i]!) {
        this.counts[i]!++;
        return;
      }
  }
}

/**
 * A prom-client Histogram whose series count locally; get() reports them like prom-client would.
 * Only series from child() are reported: observe() on the histogram itself is not used here.
 */
export class LocalHistogram<T extends string> extends Histogram<T> {
  private readonly series: HistogramSeries<T>[] = [];
  private readonly bounds: number[];
  private readonly metricName: string;
  private readonly helpText: string;
  private readonly names: readonly T[];

  constructor(config: HistogramConfiguration<T> & { buckets: number[]; labelNames: readonly T[] }) {
    super(config);
    this.names = config.labelNames;
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    this.metricName = config.name;
    this.helpText = config.help;
  }

  child(values: readonly string[]): { observe(value: number): void } {
    const s = new HistogramSeries<T>(labelsOf(this.names, values), this.bounds);
    this.series.push(s);
    return s;
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    return this.getForPromString();
  }

  /** Registry.metrics() prefers this over get(). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<T>>> {
    const values: MetricValueWithName<T>[] = [];
    const bucket = `${this.metricName}_bucket`;
    for (const s of this.series) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { le, ...s.labels } as Labels<T>, value: cumulative, metricName: bucket });
      });
      values.push({ labels: { le: '+Inf', ...s.labels } as Labels<T>, value: s.count, metricName: bucket });
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.metricName}_sum` });
      values.push({ labels: s.labels, value: s.count, metricName: `${this.metricName}_count` });
    }
    const out = { name: this.metricName, help: this.helpText, type: 'histogram', values, aggregator: 'sum' };
    // prom-client's typings declare `type` as a numeric enum and a `collect` member; at runtime
    // (and in the Registry that formats this) `type` is the string and `collect` is not read.
    return out as unknown as MetricObjectWithValues<MetricValueWithName<T>>;
  }
}
