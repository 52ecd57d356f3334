import t from 'tap';
import {
  AccessDeniedException,
  BedrockRuntimeClient,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DEFAULT_REPLY } from '../support/mock-provider.js';
import { startProxy, familyUpstream, rejectionOf } from '../support/proxy.js';
import { sdkPolicies } from '../support/sdk-policies.js';

/**
 * InvokeModel and InvokeModelWithResponseStream with the model families' own bodies, through the
 * proxy with the real @aws-sdk/client-bedrock-runtime (HTTP/1.1 handler, Bedrock API key):
 * Amazon Nova (`messages[].content[{text}]`, `system[{text}]`, `inferenceConfig`), Meta Llama
 * (`prompt` in, `generation` out) and Anthropic on Bedrock (`anthropic_version`). For each: the
 * answer as the SDK parses it, a block rule on the prompt (AccessDeniedException naming the rule,
 * nothing forwarded), a redact rule rewriting exactly the text that reaches the provider, and the
 * audit row's tokens and cost, streamed or not.
 */
const BEARER = 'bedrock-api-key-invoke-00000000000000000';
const USAGE = { prompt: 1000, completion: 200 };

interface Family {
  name: string;
  modelId: string;
  /** A body asking `text` (the user's turn) with `system` as the system prompt, where it has one. */
  body(text: string, system: string): Record<string, unknown>;
  /** The reply text of a non-streamed answer. */
  reply(json: Record<string, unknown>): string;
  /** The text piece of one streamed chunk (its decoded bytes). */
  piece(chunk: Record<string, unknown>): string;
  /** Where the user's text sits in the body the provider received. */
  sentUser(body: Record<string, unknown>): string;
  /** Cost in USD of USAGE for this model (pricing table, per 1M tokens). */
  cost: number;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (typeof v === 'object' && v !== null ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const FAMILIES: Family[] = [
  {
    name: 'Amazon Nova',
    modelId: 'us.amazon.nova-pro-v1:0',
    body: (text, system) => ({
      schemaVersion: 'messages-v1',
      system: [{ text: system }],
      messages: [{ role: 'user', content: [{ text }] }],
      inferenceConfig: { maxTokens: 300, temperature: 0.2 },
    }),
    reply: (json) => String(obj(arr(obj(obj(json['output'])['message'])['content'])[0])['text']),
    piece: (c) => {
      const d = obj(obj(c['contentBlockDelta'])['delta'])['text'];
      return typeof d === 'string' ? d : '';
    },
    sentUser: (b) => String(obj(arr(obj(arr(b['messages'])[0])['content'])[0])['text']),
    // Nova Pro: $0.80 in, $3.20 out.
    cost: (1000 * 0.8 + 200 * 3.2) / 1e6,
  },
  {
    name: 'Meta Llama',
    modelId: 'meta.llama3-3-70b-instruct-v1:0',
    body: (text, system) => ({
      prompt:
        `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n${system}<|eot_id|>` +
        `<|start_header_id|>user<|end_header_id|>\n${text}<|eot_id|>` +
        `<|start_header_id|>assistant<|end_header_id|>\n`,
      max_gen_len: 300,
      temperature: 0.2,
    }),
    reply: (json) => String(json['generation']),
    piece: (c) => (typeof c['generation'] === 'string' ? c['generation'] : ''),
    sentUser: (b) => String(b['prompt']),
    // Llama 3.3 70B: $0.72 in and out.
    cost: (1000 * 0.72 + 200 * 0.72) / 1e6,
  },
  {
    name: 'Anthropic on Bedrock',
    modelId: 'anthropic.claude-3-5-sonnet-20240620-v1:0',
    body: (text, system) => ({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 300,
      system,
      messages: [{ role: 'user', content: [{ type: 'text', text }] }],
    }),
    reply: (json) => String(obj(arr(json['content'])[0])['text']),
    piece: (c) => {
      const d = obj(c['delta'])['text'];
      return c['type'] === 'content_block_delta' && typeof d === 'string' ? d : '';
    },
    sentUser: (b) => String(obj(arr(obj(arr(b['messages'])[0])['content'])[0])['text']),
    // Claude 3.5 Sonnet: $3 in, $15 out.
    cost: (1000 * 3 + 200 * 15) / 1e6,
  },
];

const json = (bytes: Uint8Array): Json => obj(JSON.parse(Buffer.from(bytes).toString('utf8')));

t.test('InvokeModel bodies of three model families through the proxy', async (t) => {
  const h = await startProxy({
    policies: sdkPolicies(2),
    ...familyUpstream('bedrock', BEARER),
  });
  t.teardown(() => h.close());
  const br = new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: h.url,
    token: { token: h.key },
    authSchemePreference: ['httpBearerAuth'],
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
  t.teardown(() => br.destroy());

  const invoke = (f: Family, text: string, system = 'Be brief.'): InvokeModelCommand =>
    new InvokeModelCommand({
      modelId: f.modelId,
      body: JSON.stringify(f.body(text, system)),
      contentType: 'application/json',
      accept: 'application/json',
    });
  const invokeStream = (
    f: Family,
    text: string,
    system = 'Be brief.',
  ): InvokeModelWithResponseStreamCommand =>
    new InvokeModelWithResponseStreamCommand({
      modelId: f.modelId,
      body: JSON.stringify(f.body(text, system)),
      contentType: 'application/json',
      accept: 'application/json',
    });
  /** Reads a response stream: the text the family's chunks carry, and the raw chunks. */
  const readStream = async (
    f: Family,
    cmd: InvokeModelWithResponseStreamCommand,
  ): Promise<[string, Json[]]> => {
    const res = await br.send(cmd);
    let text = '';
    const chunks: Json[] = [];
    for await (const ev of res.body!) {
      if (!ev.chunk?.bytes) continue;
      const c = json(ev.chunk.bytes);
      chunks.push(c);
      text += f.piece(c);
    }
    return [text, chunks];
  };

  for (const f of FAMILIES) {
    t.test(f.name, async (t) => {
      const path = `/model/${encodeURIComponent(f.modelId)}`;

      t.test('invoke: the family answer as the SDK parses it; tokens and cost audited', async (t) => {
        h.mock.setBehavior({ usage: USAGE });
        t.teardown(() => h.mock.resetBehavior());
        const before = h.mock.requests.length;
        const res = await br.send(invoke(f, 'Say hello'));
        t.equal(f.reply(json(res.body)), DEFAULT_REPLY);
        t.equal(h.mock.requests.length, before + 1);
        const sent = h.mock.requests.at(-1)!;
        t.equal(sent.path, `${path}/invoke`);
        t.equal(sent.headers['authorization'], `Bearer ${BEARER}`, 'Bedrock API key injected');
        t.notOk(JSON.stringify(sent.headers).includes(h.key), 'aigov key in no header');
        t.same(sent.body, f.body('Say hello', 'Be brief.'), 'body forwarded unchanged');
        const rows = await h.rows(`model = '${f.modelId}' AND route = '/model/{modelId}/invoke'`);
        t.equal(rows.length, 1);
        const row = rows[0]!;
        t.equal(row['decision'], 'allow');
        t.equal(row['prompt_tokens'], USAGE.prompt);
        t.equal(row['completion_tokens'], USAGE.completion);
        t.ok(
          Math.abs(Number(row['cost_usd']) - f.cost) < 1e-9,
          `cost ${String(row['cost_usd'])} = ${f.cost}`,
        );
      });

      t.test('invoke-with-response-stream: chunks relayed; usage from the invocation metrics', async (t) => {
        h.mock.setBehavior({ usage: USAGE });
        t.teardown(() => h.mock.resetBehavior());
        const [text, chunks] = await readStream(f, invokeStream(f, 'Say hello'));
        t.equal(text, DEFAULT_REPLY);
        t.ok(chunks.length >= 5, `${chunks.length} chunks`);
        t.match(chunks.at(-1), { 'amazon-bedrock-invocationMetrics': { inputTokenCount: USAGE.prompt } });
        t.equal(h.mock.requests.at(-1)?.path, `${path}/invoke-with-response-stream`);
        const rows = await h.rows(
          `model = '${f.modelId}' AND route = '/model/{modelId}/invoke-with-response-stream'`,
        );
        t.equal(rows.length, 1);
        const row = rows[0]!;
        t.equal(row['stream'], true);
        t.equal(row['status_code'], 200);
        t.equal(row['prompt_tokens'], USAGE.prompt);
        t.equal(row['completion_tokens'], USAGE.completion);
        t.ok(
          Math.abs(Number(row['cost_usd']) - f.cost) < 1e-9,
          `cost ${String(row['cost_usd'])} = ${f.cost}`,
        );
      });

      t.test('a block rule on the prompt: AccessDeniedException naming the rule', async (t) => {
        const before = h.mock.requests.length;
        for (const cmd of [invoke(f, 'My SSN is 123-45-6789'), invokeStream(f, 'SSN 123-45-6789 here')]) {
          const err = await rejectionOf(br.send(cmd as InvokeModelCommand));
          t.ok(err instanceof AccessDeniedException, `raised ${String(err)}`);
          t.equal((err as AccessDeniedException).$metadata.httpStatusCode, 403);
          t.match((err as AccessDeniedException).message, /no-ssn/);
        }
        // In the system prompt too.
        const sys = await rejectionOf(br.send(invoke(f, 'hello', 'The SSN is 123-45-6789')));
        t.ok(sys instanceof AccessDeniedException, 'a block in the system prompt');
        t.equal(h.mock.requests.length, before, 'nothing reached the provider');
        const rows = await h.rows(`model = '${f.modelId}' AND decision = 'block'`);
        t.equal(rows.length, 3);
        for (const r of rows) {
          t.same(r['policy_ids'], ['no-ssn']);
          t.equal(r['status_code'], 403);
        }
      });

      t.test('a redact rule rewrites the text that reaches the provider', async (t) => {
        h.mock.setBehavior({ echo: true });
        t.teardown(() => h.mock.resetBehavior());
        const res = await br.send(invoke(f, 'Write to bob@example.com today', 'Reply to dee@example.com'));
        const sent = h.mock.requests.at(-1)!;
        t.notMatch(sent.raw, /@example\.com/, 'no address reached the provider');
        t.equal((sent.raw.match(/\[REDACTED:EMAIL\]/g) ?? []).length, 2, 'user and system text redacted');
        t.match(f.sentUser(obj(sent.body)), /Write to \[REDACTED:EMAIL\] today/);
        t.match(f.reply(json(res.body)), /Write to \[REDACTED:EMAIL\] today/, 'the echo shows the redaction');
        const [text] = await readStream(f, invokeStream(f, 'Mail amy@example.com now'));
        t.match(text, /Mail \[REDACTED:EMAIL\] now/, 'streamed: the provider saw the redacted text');
        t.notMatch(h.mock.requests.at(-1)!.raw, /amy@example\.com/);
        const rows = await h.rows(`model = '${f.modelId}' AND decision = 'redact'`);
        t.equal(rows.length, 2);
        for (const r of rows) t.same(r['policy_ids'], ['mask-email']);
      });
    });
  }
});
