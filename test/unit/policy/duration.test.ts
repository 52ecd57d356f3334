import t from 'tap';
import { parseDuration, tryParseDuration } from '../../../src/policy/index.js';

t.test('units', async (t) => {
  t.same(parseDuration('30s'), { kind: 'duration', ms: 30_000, label: '30s' });
  t.same(parseDuration('5m'), { kind: 'duration', ms: 300_000, label: '5m' });
  const h = parseDuration('1h');
  t.equal(h.kind === 'duration' ? h.ms : 0, 3_600_000);
  const d = parseDuration('7d');
  t.equal(d.kind === 'duration' ? d.ms : 0, 7 * 86_400_000);
  t.same(parseDuration('month'), { kind: 'calendar_month', label: 'month' });
});

t.test('bounds and bad input', async (t) => {
  const y = parseDuration('365d');
  t.equal(y.kind === 'duration' ? y.ms : 0, 365 * 86_400_000);
  t.throws(() => parseDuration('366d'), /out of range/);
  t.throws(() => parseDuration('0s'), /invalid duration/);
  t.throws(() => parseDuration('60'), /invalid duration/, 'bare numbers are ambiguous');
  t.throws(() => parseDuration('1w'));
  t.throws(() => parseDuration('-1m'));
  t.throws(() => parseDuration('1.5h'));
  t.type(tryParseDuration(60), 'string');
  t.type(tryParseDuration('1x'), 'string');
});
