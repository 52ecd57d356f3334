/**
 * Baseline C (bench/baselines/minimal-governed.ts), the minimal governed proxy the benchmark
 * measures aigov against: it must do the governed work it claims, or its ratio means nothing. It
 * starts as the bench starts it, refuses a wrong key and a detector match before the provider,
 * forwards the original bytes without the caller's key, sends the provider's answer back, and
 * writes one hash-chained audit row per governed call to its own Postgres table.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { spawnServer } from '../../bench/lib/children.js';
import { postgresDb, IN_CI } from '../support/db.js';
import { startMockProvider } from '../support/mock-provider.js';

t.test('baseline C: governed forwarding and its audit rows', async (t) => {
  const pg = await postgresDb({ migrate: false });
  if (!pg) {
    if (IN_CI) throw new Error('CI must run the baseline C test against Postgres');
    return t.plan(0, 'no TEST_DATABASE_URL: baseline C writes its audit rows to Postgres');
  }
  t.teardown(pg.cleanup);
  const mock = await startMockProvider({ record: true });
  t.teardown(() => mock.close());
  const key = 'bench-c-test-key';
  const c = await spawnServer({
    name: 'baseline C',
    args: ['bench/baselines/minimal-governed.ts'],
    env: { UPSTREAM_URL: mock.url, DATABASE_URL: pg.url!, BASELINE_KEY: key },
    readyLine: true,
  });
  t.teardown(() => c.stop());

  const post = async (auth: string | null, raw: string) => {
    const res = await fetch(`${c.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      body: raw,
    });
    return { status: res.status, text: await res.text() };
  };

  // Odd spacing and key order: a re-serialised body would not be byte-identical upstream.
  const raw = '{ "messages": [ {"role":"user", "content": "summarise the plan"} ],  "model": "gpt-4o" }';
  const ok = await post(`Bearer ${key}`, raw);
  t.equal(ok.status, 200, 'the right key is forwarded');
  const answer = JSON.parse(ok.text) as { choices?: unknown[]; usage?: { total_tokens?: number } };
  t.ok(Array.isArray(answer.choices) && answer.choices.length > 0, "the provider's answer came back");
  t.equal(mock.requests.length, 1);
  t.equal(mock.requests[0]!.raw, raw, 'the original bytes went upstream');
  t.equal(mock.requests[0]!.headers.authorization, 'Bearer dummy', "the caller's key was not forwarded");

  t.equal((await post('Bearer wrong-key', raw)).status, 401, 'a wrong key is refused');
  t.equal((await post(null, raw)).status, 401, 'a missing key is refused');
  const ssn = JSON.stringify({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: [{ type: 'text', text: 'my ssn is 123-45-6789' }] }],
  });
  const blocked = await post(`Bearer ${key}`, ssn);
  t.equal(blocked.status, 403, 'the detector refuses a message part');
  t.match(JSON.parse(blocked.text), { error: { code: 'no-ssn' } });
  t.equal(mock.requests.length, 1, 'refused calls never reached the provider');

  // SIGTERM writes what is queued, then reports the rows written.
  t.equal(await c.stop(), 0, 'clean exit');
  t.match(c.output(), /^ROWS 2$/m, 'two rows written: the forwarded call and the blocked one');
  const rows = await pg.db.query<{
    seq: string;
    request_id: string;
    created_at: Date;
    key_id: string;
    route: string;
    model: string | null;
    decision: string;
    status_code: number;
    latency_ms: number;
    prompt_tokens: number | null;
    completion_tokens: number | null;
    total_tokens: number | null;
    prev_hash: string;
    hash: string;
  }>('SELECT * FROM baseline_c_audit ORDER BY seq');
  t.same(
    rows.map((r) => [r.decision, r.status_code, r.model]),
    [
      ['allow', 200, 'gpt-4o'],
      ['block', 403, 'gpt-4o'],
    ],
  );
  t.equal(rows[0]!.total_tokens, answer.usage?.total_tokens, 'usage read from the answer');
  t.equal(rows[0]!.prev_hash, '0'.repeat(64), 'the chain starts at zero');
  t.equal(rows[1]!.prev_hash, rows[0]!.hash, 'each row links to the previous one');
  for (const r of rows) {
    const { hash, ...rest } = r;
    const json = JSON.stringify({
      ...rest,
      seq: Number(rest.seq),
      created_at: new Date(rest.created_at).toISOString(),
    });
    t.equal(
      createHash('sha256').update(r.prev_hash).update(json).digest('hex'),
      hash,
      `row ${r.seq}: the hash covers the previous hash and the row`,
    );
  }
});
