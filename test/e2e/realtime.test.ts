import t from 'tap';
import { once } from 'node:events';
import WebSocket from 'ws';
import { OPENAI_PROVIDER_KEY, startProxy } from '../support/proxy.js';

/**
 * Realtime over WebSocket: authenticated and model-checked at the upgrade (no upstream socket on
 * a refusal), client events with text checked (a blocked event is not forwarded, the client gets
 * an `error` event naming the rule and the session goes on), response.done usage recorded in the
 * session's one audit row. (The openai SDK's realtime client always dials wss://, so against a
 * plain-HTTP proxy it cannot be used; `ws` speaks the same protocol.)
 */
const POLICIES = `version: 1
rules:
  - id: no-ssn
    when: { detect: [ssn] }
    action: block
    message: "SSNs may not be sent to a model"
  - id: mask-email
    when: { detect: [email] }
    action: redact
`;

type Ev = Record<string, unknown> & { type: string };

/** Collects a socket's events; `next(type)` waits for the next one of that type. */
function events(ws: WebSocket) {
  const seen: Ev[] = [];
  const waiters: { type: string; resolve: (e: Ev) => void }[] = [];
  ws.on('message', (d: Buffer) => {
    const ev = JSON.parse(d.toString()) as Ev;
    seen.push(ev);
    const i = waiters.findIndex((w) => w.type === ev.type);
    if (i !== -1) waiters.splice(i, 1)[0]!.resolve(ev);
  });
  return {
    seen,
    next: (type: string) =>
      new Promise<Ev>((resolve) => {
        const found = seen.find((e) => e.type === type && !(e as { _taken?: boolean })._taken);
        if (found) {
          (found as { _taken?: boolean })._taken = true;
          resolve(found);
        } else waiters.push({ type, resolve });
      }),
  };
}

async function refusedUpgrade(
  url: string,
  opts: WebSocket.ClientOptions,
  protocols?: string[],
): Promise<number> {
  const ws = new WebSocket(url, protocols, opts);
  ws.on('error', () => {});
  const [, res] = (await once(ws, 'unexpected-response')) as [
    unknown,
    { statusCode: number; resume(): void },
  ];
  res.resume();
  ws.terminate();
  return res.statusCode;
}

t.test('Realtime through the proxy', async (t) => {
  const h = await startProxy({ policies: POLICIES });
  t.teardown(() => h.close());
  const wsUrl = `${h.url.replace(/^http/, 'ws')}/v1/realtime?model=gpt-4o-realtime-preview`;

  t.test('a blocked event is not forwarded and the session goes on', async (t) => {
    const ws = new WebSocket(wsUrl, ['realtime'], { headers: { authorization: `Bearer ${h.key}` } });
    const ev = events(ws);
    await once(ws, 'open');
    t.equal((await ev.next('session.created')).type, 'session.created', 'upstream greeting relayed');
    const upstream = h.mock.realtime.at(-1)!;
    t.equal(upstream.headers['authorization'], `Bearer ${OPENAI_PROVIDER_KEY}`, 'provider key upstream');
    t.notOk(JSON.stringify(upstream.headers).includes(h.key), 'aigov key never upstream');
    t.match(upstream.url, /model=gpt-4o-realtime-preview/);

    ws.send(
      JSON.stringify({
        type: 'conversation.item.create',
        event_id: 'c1',
        item: {
          type: 'message',
          role: 'user',
          content: [{ type: 'input_text', text: 'my SSN is 123-45-6789' }],
        },
      }),
    );
    const err = await ev.next('error');
    const e = err['error'] as { code: string; message: string; event_id: string };
    t.equal(e.code, 'no-ssn');
    t.match(e.message, /SSNs may not be sent/);
    t.equal(e.event_id, 'c1');

    ws.send(
      JSON.stringify({ type: 'session.update', session: { instructions: 'write to bob@example.com' } }),
    );
    ws.send(JSON.stringify({ type: 'response.create', response: { instructions: 'be brief' } }));
    const done = await ev.next('response.done');
    t.ok(done, 'the session went on');
    const types = upstream.events.map((x) => x['type']);
    t.same(types, ['session.update', 'response.create'], 'the blocked event never reached the provider');
    t.equal(
      (upstream.events[0]!['session'] as { instructions: string }).instructions,
      'write to [REDACTED:EMAIL]',
      'redacted instructions forwarded',
    );
    ws.close();
    await once(ws, 'close');
  });

  t.test('browser style: the key in the openai-insecure-api-key subprotocol', async (t) => {
    const browser = new WebSocket(wsUrl, ['realtime', `openai-insecure-api-key.${h.key}`]);
    await once(browser, 'open');
    t.equal(browser.protocol, 'realtime', 'the key subprotocol is never echoed');
    t.notOk(
      String(h.mock.realtime.at(-1)!.headers['sec-websocket-protocol']).includes(h.key),
      'key subprotocol not forwarded',
    );
    browser.close();
    await once(browser, 'close');
  });

  t.test('refused at the upgrade: bad key, unapproved model, too many sessions', async (t) => {
    const before = h.mock.realtime.length;
    t.equal(await refusedUpgrade(wsUrl, { headers: { authorization: 'Bearer aigov_nope' } }), 401);
    t.equal(await refusedUpgrade(wsUrl, {}), 401, 'no key');
    const limited = await h.newKey({ models: ['gpt-4o-mini'] });
    t.equal(await refusedUpgrade(wsUrl, { headers: { authorization: `Bearer ${limited}` } }), 403);
    t.equal(
      await refusedUpgrade(`${h.url.replace(/^http/, 'ws')}/v1/realtime`, {
        headers: { authorization: `Bearer ${h.key}` },
      }),
      400,
      'no model',
    );
    t.equal(h.mock.realtime.length, before, 'no upstream connection opened');

    const busy = await h.newKey();
    const held: WebSocket[] = [];
    for (let i = 0; i < 4; i++) {
      const ws = new WebSocket(wsUrl, ['realtime'], { headers: { authorization: `Bearer ${busy}` } });
      await once(ws, 'open');
      held.push(ws);
    }
    t.equal(
      await refusedUpgrade(wsUrl, { headers: { authorization: `Bearer ${busy}` } }),
      429,
      'fifth session',
    );
    for (const ws of held) ws.close();
    await Promise.all(held.map((ws) => once(ws, 'close')));
  });

  t.test('one audit row per session with blocked events and tokens', async (t) => {
    const rows = await h.rows("route = '/v1/realtime'");
    const blocked = rows.find((r) => r['decision'] === 'block' && r['status_code'] === 101)!;
    t.ok(blocked, 'the session with a blocked event');
    t.ok((blocked['policy_ids'] as string[]).includes('no-ssn'));
    t.equal(blocked['total_tokens'], 15);
    const summary = (blocked['reasons'] as Record<string, unknown>[]).find((r) => r['realtime'] === true)!;
    t.equal(summary['blocked_events'], 1);
    t.equal(summary['client_events'], 3);
    t.ok(rows.some((r) => r['status_code'] === 401));
    t.ok(
      rows.some(
        (r) => r['status_code'] === 403 && (r['policy_ids'] as string[]).includes('model_not_allowed'),
      ),
    );
    t.ok(rows.some((r) => r['status_code'] === 429));
  });
});
