import t from 'tap';
import { Counter, Histogram, Registry } from 'prom-client';
import { LocalCounter, LocalHistogram } from '../../../src/metrics/fast-series.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
/** On, between and beyond the bounds, and values prom-client would refuse or count oddly. */
const VALUES = [0, 0.0005, 0.001, 0.0010001, 0.05, 0.1, 0.99, 1, 1.5, 250];

t.test('LocalHistogram scrapes exactly like a prom-client Histogram fed the same values', async (t) => {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({
    name: 'h_seconds',
    help: 'help text',
    labelNames: ['route', 'provider'],
    buckets: BUCKETS,
    registers: [theirs],
  });
  const local = new LocalHistogram({
    name: 'h_seconds',
    help: 'help text',
    labelNames: ['route', 'provider'] as const,
    buckets: BUCKETS,
    registers: [ours],
  });
  const series: [string, string][] = [
    ['/v1/chat/completions', 'openai'],
    ['/v1/messages', 'anthropic'],
  ];
  const children = series.map((labels) => local.child(labels));
  series.forEach(([route, provider], i) => {
    for (const v of VALUES.slice(i)) {
      reference.labels(route, provider).observe(v);
      children[i]!.observe(v);
    }
  });
  t.equal(await ours.metrics(), await theirs.metrics());
  t.match(
    await ours.metrics(),
    /h_seconds_bucket\{le="\+Inf",route="\/v1\/messages",provider="anthropic"\} 9/,
  );
});

t.test('LocalCounter scrapes like a prom-client Counter, and keeps counting across scrapes', async (t) => {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Counter({ name: 'c_total', help: 'h', labelNames: ['a', 'b'], registers: [theirs] });
  const local = new LocalCounter({
    name: 'c_total',
    help: 'h',
    labelNames: ['a', 'b'] as const,
    registers: [ours],
  });
  const x = local.child(['x', '1']);
  const y = local.child(['y', '2']);
  x.inc();
  x.inc(2.5);
  y.inc(7);
  reference.labels('x', '1').inc();
  reference.labels('x', '1').inc(2.5);
  reference.labels('y', '2').inc(7);
  t.equal(await ours.metrics(), await theirs.metrics());
  x.inc(4);
  reference.labels('x', '1').inc(4);
  t.equal(await ours.metrics(), await theirs.metrics(), 'the second scrape adds only what came since');
  t.match(await ours.metrics(), /c_total\{a="x",b="1"\} 7.5/);
});
