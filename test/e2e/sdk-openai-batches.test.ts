import t from 'tap';
import OpenAI, { toFile } from 'openai';
import { startProxy } from '../support/proxy.js';

/**
 * Files and batches with the real `openai` SDK: a `purpose=batch` upload is checked line by line
 * through the governance core before anything is forwarded (block refuses the whole upload naming
 * the line, its custom_id and the rule; redact rewrites the line; the model list applies per
 * line); POST /v1/batches reserves the whole batch's estimate against budgets.
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
  - id: small-budget
    scope: { tags: [small] }
    limit: { tokens: 5000, per: 1h }
`;

const line = (id: string, content: string, model = 'gpt-4o-mini'): string =>
  JSON.stringify({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model, max_tokens: 100, messages: [{ role: 'user', content }] },
  });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

t.test('files and batches through the openai SDK', async (t) => {
  const h = await startProxy({ policies: POLICIES });
  t.teardown(() => h.close());
  const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.key, maxRetries: 0 });
  const last = () => h.mock.requests.at(-1)!;

  t.test('a clean batch file is forwarded byte for byte', async (t) => {
    const jsonl = [line('a', 'Say hello'), line('b', 'Say bye')].join('\r\n') + '\n';
    const file = await client.files.create({
      file: await toFile(Buffer.from(jsonl), 'in.jsonl'),
      purpose: 'batch',
    });
    t.match(file.id, /^file-/);
    const received = last().form!.files[0]!;
    t.equal(received.text, jsonl, 'identical bytes, CRLF included');
    t.equal(last().form!.fields['purpose'], 'batch');
  });

  t.test('a blocked line refuses the upload naming custom_id, line and rule', async (t) => {
    const before = h.mock.requests.length;
    const jsonl = [line('first', 'hello'), line('second', 'fine'), line('leaky', 'SSN 123-45-6789')].join(
      '\n',
    );
    const err = await rejection(
      client.files.create({ file: await toFile(Buffer.from(jsonl), 'bad.jsonl'), purpose: 'batch' }),
    );
    t.ok(err instanceof OpenAI.PermissionDeniedError, `raised ${String(err)}`);
    const e = err as InstanceType<typeof OpenAI.PermissionDeniedError>;
    t.equal(e.status, 403);
    t.equal(e.code, 'no-ssn');
    t.match(e.message, /line 3/);
    t.match(e.message, /custom_id "leaky"/);
    t.match(e.message, /no-ssn/);
    t.equal(h.mock.requests.length, before, 'nothing forwarded');
  });

  t.test('a redacted line is rewritten, the others are untouched', async (t) => {
    const clean = line('clean', 'Say hello');
    const jsonl = [clean, line('mail', 'Write to bob@example.com')].join('\n') + '\n';
    const { response } = await client.files
      .create({ file: await toFile(Buffer.from(jsonl), 'in.jsonl'), purpose: 'batch' })
      .withResponse();
    t.equal(response.headers.get('x-aigov-decision'), 'redact');
    const text = last().form!.files[0]!.text!;
    const [first, second] = text.split('\n');
    t.equal(first, clean, 'clean line byte for byte');
    const rewritten = JSON.parse(second!) as { custom_id: string; body: { messages: { content: string }[] } };
    t.equal(rewritten.custom_id, 'mail');
    t.equal(rewritten.body.messages[0]!.content, 'Write to [REDACTED:EMAIL]');
    t.notMatch(text, /bob@example\.com/);
  });

  t.test('the key model list applies to each line', async (t) => {
    const limited = new OpenAI({
      baseURL: `${h.url}/v1`,
      apiKey: await h.newKey({ models: ['gpt-4o-mini'] }),
      maxRetries: 0,
    });
    const before = h.mock.requests.length;
    const jsonl = [line('ok', 'hi'), line('big', 'hi', 'gpt-4o')].join('\n');
    const err = await rejection(
      limited.files.create({ file: await toFile(Buffer.from(jsonl), 'in.jsonl'), purpose: 'batch' }),
    );
    t.ok(err instanceof OpenAI.PermissionDeniedError);
    const e = err as InstanceType<typeof OpenAI.PermissionDeniedError>;
    t.equal(e.code, 'model_not_allowed');
    t.match(e.message, /line 2.*custom_id "big"/);
    t.equal(h.mock.requests.length, before);
    const ok = await limited.files.create({
      file: await toFile(Buffer.from(line('ok', 'hi')), 'in.jsonl'),
      purpose: 'batch',
    });
    t.ok(ok.id);
  });

  t.test('bad batch files are 400s naming the line; nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const cases: [string, RegExp][] = [
      ['{"custom_id":"x",', /line 1: not valid JSON/],
      [
        line('a', 'hi') +
          '\n' +
          JSON.stringify({ custom_id: 'b', method: 'POST', url: '/v1/files', body: {} }),
        /line 2.*not a batchable route/,
      ],
      [JSON.stringify({ method: 'POST', url: '/v1/chat/completions', body: {} }), /line 1: custom_id/],
      [
        JSON.stringify({
          custom_id: 'c',
          method: 'POST',
          url: '/v1/chat/completions',
          body: { model: 'x', messages: 'no' },
        }),
        /line 1 \(custom_id "c"\).*messages/,
      ],
      ['\n\n', /no request lines/],
    ];
    for (const [content, message] of cases) {
      const err = await rejection(
        client.files.create({ file: await toFile(Buffer.from(content), 'in.jsonl'), purpose: 'batch' }),
      );
      t.ok(err instanceof OpenAI.BadRequestError, `400 for ${content.slice(0, 40)}`);
      t.match((err as Error).message, message);
    }
    const missing = await h.send('/v1/files', { body: { purpose: 'batch' } });
    t.equal(missing.status, 415, 'JSON is not an upload');
    t.equal(h.mock.requests.length, before);
  });

  t.test('other purposes are forwarded without line checks; get, list, content, delete', async (t) => {
    const data = Buffer.from('not json at all, SSN 123-45-6789 in a fine-tune file is not a request');
    const file = await client.files.create({ file: await toFile(data, 'notes.txt'), purpose: 'user_data' });
    const got = await client.files.retrieve(file.id);
    t.equal(got.bytes, data.length);
    const ids: string[] = [];
    for await (const f of client.files.list()) ids.push(f.id);
    t.ok(ids.includes(file.id));
    const content = await client.files.content(file.id);
    t.ok(Buffer.from(await content.arrayBuffer()).equals(data), 'content streamed back');
    t.equal(last().path, `/v1/files/${file.id}/content`);
    const del = await client.files.delete(file.id);
    t.equal(del.deleted, true);
    t.equal(last().method, 'DELETE');
  });

  t.test('batches.create reserves the estimate; a too small budget refuses with 429', async (t) => {
    const jsonl = Array.from({ length: 20 }, (_, i) => line(`r${i}`, 'Say hello')).join('\n');
    const file = await client.files.create({
      file: await toFile(Buffer.from(jsonl), 'in.jsonl'),
      purpose: 'batch',
    });
    const batch = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    t.match(batch.id, /^batch_/);
    t.equal(last().path, '/v1/batches');
    const got = await client.batches.retrieve(batch.id);
    t.equal(got.id, batch.id);
    const list: string[] = [];
    for await (const b of client.batches.list()) list.push(b.id);
    t.ok(list.includes(batch.id));
    const cancelled = await client.batches.cancel(batch.id);
    t.equal(cancelled.status, 'cancelling');

    // 20 lines x (3 prompt + 100 max) = 2,060 tokens: fits 5,000 twice, not three times.
    const small = new OpenAI({
      baseURL: `${h.url}/v1`,
      apiKey: await h.newKey({ tags: ['small'] }),
      maxRetries: 0,
    });
    const params = {
      input_file_id: file.id,
      endpoint: '/v1/chat/completions' as const,
      completion_window: '24h' as const,
    };
    await small.batches.create(params);
    await small.batches.create(params);
    const before = h.mock.requests.length;
    const err = await rejection(small.batches.create(params));
    t.ok(err instanceof OpenAI.RateLimitError, `raised ${String(err)}`);
    t.equal((err as InstanceType<typeof OpenAI.RateLimitError>).code, 'small-budget');
    t.equal(
      h.mock.requests.slice(before).filter((r) => r.path === '/v1/batches').length,
      0,
      'the refused batch was not created',
    );
  });

  t.test('batches.create re-checks a file that did not come through aigov', async (t) => {
    // Put a file straight into the provider, bypassing the upload check.
    const direct = await fetch(`${h.mock.url}/v1/files`, {
      method: 'POST',
      body: (() => {
        const f = new FormData();
        f.append('purpose', 'batch');
        f.append('file', new Blob([line('x', 'ok') + '\n' + line('y', 'SSN 123-45-6789')]), 'in.jsonl');
        return f;
      })(),
    });
    const { id } = (await direct.json()) as { id: string };
    const err = await rejection(
      client.batches.create({
        input_file_id: id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    );
    t.ok(err instanceof OpenAI.PermissionDeniedError);
    t.match((err as Error).message, /line 2 \(custom_id "y"\)/);
    const missing = await rejection(
      client.batches.create({
        input_file_id: 'file-nope',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    );
    t.ok(missing instanceof OpenAI.BadRequestError, 'unknown file');
  });

  t.test('audit rows carry line counts and decisions', async (t) => {
    const rows = await h.rows();
    const uploads = rows.filter((r) => r['route'] === '/v1/files' && r['method'] === 'POST');
    const redacted = uploads.find((r) => r['decision'] === 'redact')!;
    t.ok(redacted, 'the redacted upload');
    const note = (redacted['reasons'] as Record<string, unknown>[]).find((x) => x['batch'] === true)!;
    t.equal(note['lines'], 2);
    t.same(note['decisions'], { allow: 1, redact: 1 });
    t.ok((redacted['policy_ids'] as string[]).includes('mask-email'));
    const blocked = uploads.find(
      (r) => r['status_code'] === 403 && (r['policy_ids'] as string[]).includes('no-ssn'),
    );
    t.ok(blocked, 'the blocked upload names its rule');
    const batches = rows.filter((r) => r['route'] === '/v1/batches' && r['method'] === 'POST');
    const ok = batches.find((r) => r['status_code'] === 200)!;
    const bnote = (ok['reasons'] as Record<string, unknown>[]).find((x) => x['batch'] === true)!;
    t.equal(bnote['lines'], 20);
    t.equal(bnote['estimated_tokens'], 20 * 103);
    t.equal(ok['model'], 'gpt-4o-mini');
    t.ok(
      batches.some((r) => r['status_code'] === 429 && (r['policy_ids'] as string[]).includes('small-budget')),
    );
  });
});
