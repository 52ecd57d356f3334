import t from 'tap';
import { buildTestApp } from '../../support/app.js';

t.test('under event-loop overload, governed routes shed with 503 while health answers', async (t) => {
  const h = await buildTestApp({ overrides: { server: { overload_event_loop_delay: 50 } } });
  t.teardown(h.close);
  const { key } = await h.services.keys.create({ owner: 'a@example.com' });
  const evaluate = () =>
    h.app.inject({ method: 'POST', url: '/api/evaluate', headers: { authorization: `Bearer ${key}` } });
  t.equal((await evaluate()).statusCode, 200, 'served when idle');

  // Saturate the event loop for a while, as a CPU-bound burst would.
  let shed = null as Awaited<ReturnType<typeof evaluate>> | null;
  let health = 0;
  for (let round = 0; round < 20 && !shed; round++) {
    const end = Date.now() + 300;
    while (Date.now() < end) {
      /* busy */
    }
    await new Promise((r) => setTimeout(r, 5));
    const res = await evaluate();
    if (res.statusCode === 503) {
      shed = res;
      health = (await h.app.inject({ method: 'GET', url: '/health' })).statusCode;
    }
  }
  t.ok(shed, 'a request was shed');
  t.match(shed?.json(), { error: { type: 'overloaded_error', code: 'overloaded' } });
  t.ok(Number(shed?.headers['retry-after']) >= 1, 'with Retry-After');
  t.equal(health, 200, 'liveness is not shed');
});
