/**
 * Smoke test of the benchmark suite (`npm run bench -- --quick`): every scenario runs end to end
 * against real child processes and yields numbers. Speed is not asserted; CI machines vary.
 */
import t from 'tap';
import { runBench } from '../../bench/run.js';

// Many child processes on a 2-core machine shared with other test files: give it room.
t.setTimeout(400_000);

t.test('quick benchmark run yields a well-formed results object', async (t) => {
  const lines: string[] = [];
  const res = await runBench({
    quick: true,
    write: false,
    profile: false,
    dbName: `aigov_bench_test_${process.pid}`,
    log: (l) => lines.push(l),
  });
  t.equal(res.mode, 'quick');
  t.ok(res.machine.nproc > 0, 'machine recorded');
  t.match(res.machine.node, /^v\d+/);

  const expected = ['throughput', 'check', 'fixedRate', 'fixedRateProxyPeak', 'streaming', 'memory'];
  t.same(Object.keys(res.scenarios).sort(), [...expected].sort(), 'every scenario ran');
  for (const name of expected) {
    const measurements = res.scenarios[name]!.measurements;
    t.ok(Object.keys(measurements).length >= 2 || name === 'memory', `${name} measured its targets`);
    for (const [target, values] of Object.entries(measurements)) {
      t.ok(Object.keys(values).length > 0, `${name}.${target} has values`);
      for (const [metric, value] of Object.entries(values))
        t.ok(Number.isFinite(value) && value > 0, `${name}.${target}.${metric} = ${value} is a number > 0`);
    }
  }
  t.ok(res.scenarios.throughput!.measurements.proxyMemory, 'proxy measured');
  if (res.setup.database === 'postgres') {
    t.ok(res.scenarios.throughput!.measurements.baselineC, 'baseline C measured in the same rounds');
    t.match(
      res.rows.find((r) => r.scenario === 'Chat, non-streamed: baseline C (minimal governed proxy)'),
      { vsBaseline: /^\d+\.\d\dx A$/ },
      'baseline C row with its ratio to A',
    );
    t.ok(
      res.notes.some((n) => /^Baseline C wrote [1-9]\d* audit rows/.test(n)),
      'baseline C wrote audit rows',
    );
  }
  t.ok(res.scenarios.memory!.measurements.proxyMemory!.peakRssMb! > 0, 'peak RSS read from /proc');

  t.ok(res.rows.length >= 8, 'report rows');
  for (const row of res.rows) {
    t.ok((row.rps ?? 0) > 0 || (row.p50 ?? 0) > 0, `row "${row.scenario}" has a measurement`);
    if (row.target !== null) t.type(row.met, 'boolean', `row "${row.scenario}" is judged`);
  }
});
