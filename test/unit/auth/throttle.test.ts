import t from 'tap';
import { Throttle } from '../../../src/auth/throttle.js';

t.test('fixed window per subject, with retry-after until the window ends', async (t) => {
  let now = 60_000 * 10 + 15_000;
  const th = new Throttle({ limit: 3, windowMs: 60_000, now: () => now });
  t.equal(th.hit('a'), 0);
  t.equal(th.hit('a'), 0);
  t.equal(th.blocked('a'), 0);
  t.equal(th.hit('a'), 0);
  t.equal(th.blocked('a'), 45, 'at the limit: blocked for the rest of the window');
  t.equal(th.hit('a'), 45, 'over the limit');
  t.equal(th.hit('b'), 0, 'subjects are independent');
  now += 45_000;
  t.equal(th.blocked('a'), 0, 'a new window forgives');
  t.equal(th.hit('a'), 0);
});

t.test('memory is bounded by maxSubjects', async (t) => {
  const th = new Throttle({ limit: 1, windowMs: 60_000, maxSubjects: 10 });
  for (let i = 0; i < 1000; i++) th.hit(`ip-${i}`);
  t.equal(th.blocked('ip-0'), 0, 'the oldest subjects were forgotten');
  th.hit('ip-999');
  t.ok(th.blocked('ip-999') > 0);
});
