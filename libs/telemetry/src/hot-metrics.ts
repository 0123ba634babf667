/**
 * Counters and histograms on the stanza path. prom-client's inc() and observe() hash and validate a
 * labels object on every call; with a counter and a histogram per routed stanza that was ~6% of the
 * router's CPU at full load. These keep, per set of label values, the series prom-client itself holds
 * (made once, by prom-client, the first time those values are seen) and add to it directly.
 *
 * That reaches into prom-client's `hashMap` (its series by label hash, as of prom-client 15).
 * hot-metrics.spec.ts checks the exposition text against plain inc()/observe(), so an upgrade that
 * moves it fails there rather than silently losing counts.
 */
import { Counter, CounterConfiguration, Histogram, HistogramConfiguration } from 'prom-client';

interface CounterSeries {
  value: number;
}

interface HistogramSeries {
  labels: Record<string, string>;
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/** The series prom-client keeps, by label hash; a reset() replaces the object. */
type Series<S> = Record<string, S>;

/** Label values (in labelNames order, at most two) -> the series, for one generation of hashMap. */
class SeriesCache<S> {
  private byFirst = new Map<string, Map<string, S>>();
  private map: Series<S> | null = null;

  get(current: Series<S>, a: string, b: string, make: () => S): S {
    if (current !== this.map) {
      this.map = current;
      this.byFirst = new Map();
    }
    let m = this.byFirst.get(a);
    if (m === undefined) this.byFirst.set(a, (m = new Map()));
    let s = m.get(b);
    if (s === undefined) m.set(b, (s = make()));
    return s;
  }
}

function labelsOf(names: readonly string[], a: string, b: string): Record<string, string> {
  return names.length > 1 ? { [names[0]]: a, [names[1]]: b } : { [names[0]]: a };
}

export class HotCounter<T extends string> extends Counter<T> {
  private readonly names: readonly T[];
  private readonly cache = new SeriesCache<CounterSeries>();

  constructor(cfg: CounterConfiguration<T> & { labelNames: readonly [T] | readonly [T, T] }) {
    super(cfg);
    this.names = cfg.labelNames;
  }

  /** inc() by one, for the label values in labelNames order. */
  add(a: string, b = ''): void {
    const self = this as unknown as { hashMap: Series<CounterSeries> };
    this.cache.get(self.hashMap, a, b, () => {
      const { labelHash } = this.inc(labelsOf(this.names, a, b) as never, 0) as unknown as { labelHash: string };
      return self.hashMap[labelHash];
    }).value += 1;
  }
}

export class HotHistogram<T extends string> extends Histogram<T> {
  private readonly names: readonly T[];
  private readonly bounds: number[];
  private readonly cache = new SeriesCache<HistogramSeries>();

  constructor(cfg: HistogramConfiguration<T> & { labelNames: readonly [T]; buckets: number[] }) {
    super(cfg);
    this.names = cfg.labelNames;
    this.bounds = [...cfg.buckets].sort((x, y) => x - y);
  }

  /** observe(), for the label value a. */
  add(a: string, v: number): void {
    if (!Number.isFinite(v)) return;
    const self = this as unknown as { hashMap: Series<HistogramSeries> };
    const s = this.cache.get(self.hashMap, a, '', () => {
      const find = () => Object.values(self.hashMap).find((x) => x.labels[this.names[0]] === a);
      const found = find();
      if (found) return found;
      this.zero(labelsOf(this.names, a, '') as never);
      return find()!;
    });
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]) i++;
    if (i < bounds.length) s.bucketValues[bounds[i]] += 1;
    s.sum += v;
    s.count += 1;
  }
}
