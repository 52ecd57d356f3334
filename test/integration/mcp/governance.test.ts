import t from 'tap';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startProxy } from '../../support/proxy.js';
import { startMcpUpstream } from '../../support/mcp-server.js';
import { verifyAll } from '../../../src/audit/verify.js';

/** The same governance core behind the relay, /v1/check and the admin dry run; audit and webhook. */
const POLICIES = `version: 1
rules:
  - id: no-delete
    on: tool_call
    when: { tool: 'delete_*' }
    action: block
  - id: deploy-needs-approval
    on: tool_call
    when: { tool: deploy }
    action: require_approval
  - id: mask-args
    on: tool_call
    when: { arguments: { detect: [email] } }
    action: redact
  - id: two-echoes
    on: tool_call
    when: { tool: echo }
    limit: { requests: 2, per: 1h, by: key }
`;

const ADMIN = 'admin-token-for-tests-0123456789';
const WEBHOOK_SECRET = 'whsec-test-0123456789abcdef';

interface Hook {
  headers: IncomingHttpHeaders;
  body: string;
}

async function receiver(): Promise<{ url: string; next(): Promise<Hook>; close(): Promise<void> }> {
  const waiting: ((h: Hook) => void)[] = [];
  const got: Hook[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hook = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const w = waiting.shift();
      if (w) w(hook);
      else got.push(hook);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    next: () => {
      const h = got.shift();
      return h ? Promise.resolve(h) : new Promise<Hook>((r) => waiting.push(r));
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

t.test('MCP: /v1/check, dry run, audit chain, content setting, webhook', async (t) => {
  const upstream = await startMcpUpstream({ json: true });
  const hook = await receiver();
  const h = await startProxy({
    policies: POLICIES,
    overrides: {
      admin: { token: ADMIN },
      audit: { content: 'full' },
      mcp: {
        servers: [{ name: 'tools', url: upstream.url }],
        approvals: { webhook_url: hook.url, webhook_secret_env: 'APPROVAL_WEBHOOK_SECRET' },
      },
    },
    env: { APPROVAL_WEBHOOK_SECRET: WEBHOOK_SECRET },
  });
  t.teardown(async () => {
    await h.close();
    await upstream.close();
    await hook.close();
  });
  const check = async (mcp: unknown) => {
    const res = await h.send('/v1/check', { body: { mcp } });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };

  t.test('/v1/check takes a tool call', async (t) => {
    const blocked = await check({ server: 'tools', tool: 'delete_repo', arguments: { name: 'x' } });
    t.equal(blocked.status, 200);
    t.match(blocked.json, {
      allowed: false,
      decision: 'block',
      reasons: [{ policy: 'no-delete' }],
      mcp: { server: 'tools', tool: 'delete_repo', listed: false, hidden_by: 'no-delete' },
    });
    const approval = await check({ server: 'tools', tool: 'deploy', arguments: { env: 'prod' } });
    t.match(approval.json, {
      allowed: false,
      decision: 'require_approval',
      approval_rules: ['deploy-needs-approval'],
    });
    const redacted = await check({
      server: 'tools',
      tool: 'echo',
      arguments: { text: 'mail bob@example.com' },
    });
    t.match(redacted.json, {
      allowed: true,
      decision: 'redact',
      redacted_arguments: { text: 'mail [REDACTED:EMAIL]' },
      limits: { allowed: true, applied: ['two-echoes'] },
    });
    const unknown = await check({ server: 'nope', tool: 'x' });
    t.equal(unknown.status, 400, 'unknown server');
    const bad = await check({ server: 'tools' });
    t.equal(bad.status, 400, 'missing tool');
    t.equal(upstream.headers.length, 0, 'a check forwards nothing');
  });

  t.test('the admin dry run decides tool calls, with a proposed policy too', async (t) => {
    const res = await h.send('/admin/policies/dry-run', {
      auth: ADMIN,
      body: { mcp: { server: 'tools', tool: 'delete_repo', arguments: {} } },
    });
    t.match(await res.json(), { decision: 'block', policy_source: 'active', mcp: { listed: false } });
    const proposed = await h.send('/admin/policies/dry-run', {
      auth: ADMIN,
      body: {
        mcp: { server: 'tools', tool: 'delete_repo', arguments: {} },
        policy: 'version: 1\nrules: []\n',
      },
    });
    t.match(await proposed.json(), { decision: 'allow', policy_source: 'proposed', mcp: { listed: true } });
    const both = await h.send('/admin/policies/dry-run', {
      auth: ADMIN,
      body: { request: {}, mcp: { server: 'tools', tool: 'x' } },
    });
    t.equal(both.status, 400, 'request and mcp together are refused');
  });

  t.test('relay: redacted arguments go upstream; content kept under audit.content=full', async (t) => {
    const headers = { accept: 'application/json, text/event-stream' };
    const init = await h.send('/mcp/tools', {
      headers,
      body: {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'raw', version: '1' },
        },
      },
    });
    t.equal(init.status, 200);
    const session = init.headers.get('mcp-session-id');
    t.ok(session, 'the session id is passed back');
    const sessionHeaders = { ...headers, 'mcp-session-id': session!, 'mcp-protocol-version': '2025-06-18' };
    const note = await h.send('/mcp/tools', {
      headers: sessionHeaders,
      body: { jsonrpc: '2.0', method: 'notifications/initialized' },
    });
    t.equal(note.status, 202, 'a notification is accepted with 202');
    const call = await h.send('/mcp/tools', {
      headers: sessionHeaders,
      body: {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: 'to bob@example.com' } },
      },
    });
    t.match(await call.json(), { id: 2, result: { content: [{ text: 'echo: to [REDACTED:EMAIL]' }] } });
    t.same(
      upstream.calls.at(-1),
      { tool: 'echo', args: { text: 'to [REDACTED:EMAIL]' } },
      'the server got the redacted text',
    );

    // A batch: one blocked call answered locally, one forwarded; both answers come back.
    const batch = await h.send('/mcp/tools', {
      headers: sessionHeaders,
      body: [
        {
          jsonrpc: '2.0',
          id: 3,
          method: 'tools/call',
          params: { name: 'delete_repo', arguments: { name: 'a' } },
        },
        { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } },
      ],
    });
    const answers = (await batch.json()) as { id: number; error?: { code: number }; result?: unknown }[];
    t.match(
      answers.find((a) => a.id === 3),
      { error: { code: -32010 } },
    );
    t.match(
      answers.find((a) => a.id === 4),
      { result: { content: [{ text: 'echo: hi' }] } },
    );

    const limited = await h.send('/mcp/tools', {
      headers: sessionHeaders,
      body: {
        jsonrpc: '2.0',
        id: 5,
        method: 'tools/call',
        params: { name: 'echo', arguments: { text: 'third' } },
      },
    });
    t.match(await limited.json(), { id: 5, error: { code: -32012, data: { rule: 'two-echoes' } } });

    const del = await h.send('/mcp/tools', { method: 'DELETE', headers: sessionHeaders });
    t.equal(del.status, 200, 'DELETE ends the session upstream');
    t.equal(upstream.methods.at(-1), 'DELETE');

    const rows = await h.rows(`route = '/mcp/tools' AND rpc_method = 'tools/call'`);
    const first = rows.find((r) => r.tool === 'echo' && r.decision === 'redact');
    t.ok(first, 'row for the redacted call');
    t.match(
      String(first!.content),
      /arguments: \{"text":"to \[REDACTED:EMAIL\]"\}|arguments: \{"text":"to bob@example.com"\}/,
    );
    t.match(
      String(first!.content),
      /result: echo: to \[REDACTED:EMAIL\]/,
      'the result text is kept under full',
    );
    t.ok(
      rows.some((r) => r.request_id !== first!.request_id && String(r.request_id).endsWith('.0')),
      'batch rows get their own ids',
    );
  });

  t.test('a new pending approval is sent to the webhook, signed', async (t) => {
    const pending = hook.next();
    await h.send('/mcp/tools', {
      headers: { accept: 'application/json, text/event-stream' },
      body: {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: { name: 'deploy', arguments: { env: 'prod' } },
      },
    });
    const got = await pending;
    const sig = String(got.headers['x-aigov-signature']);
    const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
    t.ok(m, 'signature header');
    const expected = createHmac('sha256', WEBHOOK_SECRET).update(`${m![1]}.${got.body}`).digest();
    t.ok(timingSafeEqual(expected, Buffer.from(m![2]!, 'hex')), 'HMAC over timestamp and body');
    t.match(JSON.parse(got.body), {
      type: 'approval.pending',
      approval: { state: 'pending', server: 'tools', tool: 'deploy', rule_ids: ['deploy-needs-approval'] },
    });
  });

  t.test('logs verify passes over MCP rows', async (t) => {
    await h.services.audit.drain(10_000);
    const mcpRows = await h.testDb.db.query(`SELECT 1 FROM usage_logs WHERE rpc_method IS NOT NULL`);
    t.ok(mcpRows.length > 3, 'MCP rows were written');
    const report = await verifyAll(h.testDb.db);
    t.equal(report.ok, true, 'the hash chain verifies');
    await h.testDb.db.exec(`ALTER TABLE usage_logs DISABLE TRIGGER usage_logs_append_only`);
    await h.testDb.db.query(`UPDATE usage_logs SET tool = 'something_else' WHERE tool = 'deploy'`);
    await h.testDb.db.exec(`ALTER TABLE usage_logs ENABLE TRIGGER usage_logs_append_only`);
    t.equal((await verifyAll(h.testDb.db)).ok, false, 'a changed tool name breaks the chain');
  });
});
