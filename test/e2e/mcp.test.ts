import t from 'tap';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  McpError,
  type CallToolResult,
} from '@modelcontextprotocol/sdk/types.js';
import { startProxy, type ProxyHarness } from '../support/proxy.js';
import { startMcpUpstream, INJECTED_PAGE, type McpUpstream } from '../support/mcp-server.js';

/**
 * MCP governance end to end: the official SDK's client talks to aigov's /mcp/{name}, which fronts
 * an SDK-built server on 127.0.0.1. One upstream answers with SSE streams (the SDK's default), the
 * other with JSON bodies; every scenario runs against both.
 */
const POLICIES = `version: 1
rules:
  - id: no-delete
    on: tool_call
    when: { tool: 'delete_*' }
    action: block
    message: "{{tool}} on {{server}} is not allowed"
  - id: no-rm
    on: tool_call
    when: { tool: echo, arguments: { contains: ['rm -rf'] } }
    action: block
  - id: no-secrets-out
    on: tool_call
    when: { arguments: { detect: [api_secret] } }
    action: block
  - id: deploy-needs-approval
    on: tool_call
    when: { tool: deploy, arguments: { contains: [prod] } }
    action: require_approval
  - id: injected-result
    on: tool_result
    when: { result: { detect: [prompt_injection] } }
    action: block
  - id: mask-emails
    on: tool_result
    when: { detect: [email] }
    action: redact
  - id: counted-calls
    on: tool_call
    when: { tool: counted }
    limit: { requests: 2, per: 1h, by: key }
`;

const UPSTREAM_TOKEN = 'Bearer upstream-secret-token-0123456789';

interface Setup {
  h: ProxyHarness;
  sse: McpUpstream;
  json: McpUpstream;
}

async function setup(): Promise<Setup> {
  const sse = await startMcpUpstream();
  const json = await startMcpUpstream({ json: true });
  const h = await startProxy({
    policies: POLICIES,
    overrides: {
      admin: { token: 'admin-token-for-tests-0123456789' },
      mcp: {
        servers: [
          { name: 'tools', url: sse.url, headers: { Authorization: 'TOOLS_MCP_TOKEN' } },
          { name: 'jsontools', url: json.url, headers: { Authorization: 'TOOLS_MCP_TOKEN' } },
        ],
      },
    },
    env: { TOOLS_MCP_TOKEN: UPSTREAM_TOKEN },
  });
  return { h, sse, json };
}

async function connect(h: ProxyHarness, server: string, key = h.key): Promise<Client> {
  const client = new Client({ name: 'e2e', version: '1.0.0' }, { capabilities: { roots: {} } });
  client.setRequestHandler(ListRootsRequestSchema, () => ({
    roots: [{ uri: 'file:///work', name: 'work' }],
  }));
  const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/${server}`), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  return client;
}

function textOf(r: unknown): string {
  const content = (r as CallToolResult).content;
  return content.map((c) => (c.type === 'text' ? c.text : '')).join('');
}

async function rpcError(p: Promise<unknown>): Promise<McpError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof McpError) return err;
    throw err;
  }
  throw new Error('expected a JSON-RPC error');
}

t.test('MCP governance with the official SDK', async (t) => {
  const { h, sse, json } = await setup();
  t.teardown(async () => {
    await h.close();
    await sse.close();
    await json.close();
  });

  for (const [server, upstream] of [
    ['tools', sse],
    ['jsontools', json],
  ] as const) {
    t.test(`${server}: initialize, filtered tools/list, allowed and blocked calls`, async (t) => {
      const client = await connect(h, server);
      t.teardown(() => client.close());
      t.equal(client.getServerVersion()?.name, 'upstream', 'initialize reached the upstream server');

      const { tools } = await client.listTools();
      const names = tools.map((x) => x.name).sort();
      t.notOk(names.includes('delete_repo'), 'a tool no call of which is allowed is not listed');
      t.ok(
        names.includes('echo') && names.includes('deploy'),
        'tools whose calls depend on arguments stay listed',
      );

      const before = upstream.calls.length;
      const ok = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
      t.equal(textOf(ok), 'echo: hello', 'an allowed call is answered by the server');
      t.equal(upstream.calls.length, before + 1);

      const blocked = await rpcError(client.callTool({ name: 'delete_repo', arguments: { name: 'prod' } }));
      t.equal(blocked.code, -32010, 'policy block code');
      t.match(blocked.message, /delete_repo on \w+ is not allowed/, 'the rule message');
      t.match(blocked.data, { rule: 'no-delete' }, 'the error data names the rule');

      const byArgs = await rpcError(
        client.callTool({ name: 'echo', arguments: { text: 'please rm -rf /' } }),
      );
      t.match(byArgs.data, { rule: 'no-rm' }, 'blocked by its arguments');
      const secret = await rpcError(
        client.callTool({
          name: 'echo',
          arguments: { text: 'key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD' },
        }),
      );
      t.match(secret.data, { rule: 'no-secrets-out' }, 'detectors run over argument strings');
      t.equal(upstream.calls.length, before + 1, 'no blocked call reached the server');
    });

    t.test(`${server}: tool results`, async (t) => {
      const client = await connect(h, server);
      t.teardown(() => client.close());
      const injected = await rpcError(
        client.callTool({ name: 'fetch_page', arguments: { url: 'https://evil.example' } }),
      );
      t.match(injected.data, { rule: 'injected-result' }, 'an injected result is replaced by an error');
      t.notOk(
        JSON.stringify(injected).includes(INJECTED_PAGE.slice(0, 30)),
        'the injected text is not relayed',
      );
      t.ok(
        upstream.calls.some((c) => c.tool === 'fetch_page'),
        'the call itself was made',
      );

      const masked = await client.callTool({
        name: 'fetch_page',
        arguments: { url: 'https://docs.example' },
      });
      t.match(textOf(masked), /\[REDACTED:EMAIL\]/, 'personal data in a result is redacted');
      t.notMatch(textOf(masked), /jane\.doe/);
    });
  }

  t.test('notifications and server-to-client requests are relayed (SSE)', async (t) => {
    const client = await connect(h, 'tools');
    t.teardown(() => client.close());
    const logs: unknown[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logs.push(n.params.data);
    });
    const r = await client.callTool({ name: 'chatty', arguments: {} });
    t.equal(textOf(r), 'roots: file:///work', "the server's roots/list request reached the client and back");
    t.same(logs, ['working'], 'the notification was relayed');
  });

  t.test('approvals: one exact retry passes once', async (t) => {
    const client = await connect(h, 'tools');
    t.teardown(() => client.close());
    const args = { env: 'prod', version: '1.2.3' };
    const first = await rpcError(client.callTool({ name: 'deploy', arguments: args }));
    t.equal(first.code, -32011, 'approval required code');
    const id = (first.data as { approval_id: string }).approval_id;
    t.match(id, /^apr_/, 'the error carries an approval id');
    t.match(first.message, id, 'and so does its message');
    t.notOk(
      sse.calls.some((c) => c.tool === 'deploy'),
      'not forwarded before approval',
    );

    const again = await rpcError(
      client.callTool({ name: 'deploy', arguments: { version: '1.2.3', env: 'prod' } }),
    );
    t.equal(
      (again.data as { approval_id: string }).approval_id,
      id,
      'a retry before the decision reuses the pending approval',
    );

    const admin = (path: string, init: { method?: string; body?: unknown } = {}) =>
      h.send(path, { ...init, auth: 'admin-token-for-tests-0123456789' });
    const list = (await (await admin('/admin/approvals?state=pending')).json()) as { data: { id: string }[] };
    t.ok(
      list.data.some((a) => a.id === id),
      'listed as pending',
    );
    const approved = await admin(`/admin/approvals/${id}/approve`, {
      method: 'POST',
      body: { by: 'ops@example.com' },
    });
    t.equal(approved.status, 200);

    const other = await rpcError(
      client.callTool({ name: 'deploy', arguments: { env: 'prod', version: '9.9.9' } }),
    );
    t.not((other.data as { approval_id: string }).approval_id, id, 'other arguments are not covered');

    const passed = await client.callTool({ name: 'deploy', arguments: { version: '1.2.3', env: 'prod' } });
    t.equal(
      textOf(passed),
      'deployed 1.2.3 to prod',
      'the same call (keys in any order) passes once approved',
    );
    const next = await rpcError(client.callTool({ name: 'deploy', arguments: args }));
    t.equal(next.code, -32011, 'the next retry needs approval again');
    t.equal(sse.calls.filter((c) => c.tool === 'deploy').length, 1, 'exactly one deploy reached the server');

    const denied = (next.data as { approval_id: string }).approval_id;
    t.equal((await admin(`/admin/approvals/${denied}/deny`, { method: 'POST', body: {} })).status, 200);
    t.equal(
      (await admin(`/admin/approvals/${denied}/approve`, { method: 'POST', body: {} })).status,
      409,
      'decided once',
    );

    // Expiry: an approval past its expiry (moved back in the database, no waiting) no longer decides.
    const late = await rpcError(
      client.callTool({ name: 'deploy', arguments: { env: 'prod', version: '2.0.0' } }),
    );
    const lateId = (late.data as { approval_id: string }).approval_id;
    await admin(`/admin/approvals/${lateId}/approve`, { method: 'POST', body: {} });
    await h.testDb.db.query(
      `UPDATE mcp_approvals SET expires_at = now() - interval '1 second' WHERE id = $1`,
      [lateId],
    );
    const expired = await rpcError(
      client.callTool({ name: 'deploy', arguments: { env: 'prod', version: '2.0.0' } }),
    );
    t.equal(expired.code, -32011, 'an expired approval lets nothing through');
    t.not((expired.data as { approval_id: string }).approval_id, lateId);
  });

  t.test('a tool-call limit', async (t) => {
    const client = await connect(h, 'jsontools');
    t.teardown(() => client.close());
    await client.callTool({ name: 'counted', arguments: {} });
    await client.callTool({ name: 'counted', arguments: {} });
    const third = await rpcError(client.callTool({ name: 'counted', arguments: {} }));
    t.equal(third.code, -32012, 'rate limited');
    t.match(third.data, { rule: 'counted-calls' });
    t.equal(
      json.calls.filter((c) => c.tool === 'counted').length,
      2,
      'the third call never reached the server',
    );
  });

  t.test('a bad key is refused; the caller key is never forwarded', async (t) => {
    const bad = new Client({ name: 'e2e', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${h.url}/mcp/tools`), {
      requestInit: { headers: { authorization: 'Bearer aigov_not_a_real_key' } },
    });
    await t.rejects(bad.connect(transport), 'connect fails');
    for (const headers of [...sse.headers, ...json.headers]) {
      t.equal(headers.authorization, UPSTREAM_TOKEN, 'the upstream sees its configured credential only');
      t.notMatch(JSON.stringify(headers), /aigov_/, 'no aigov key in any header');
    }
  });

  t.test('bad input gets JSON-RPC errors and is not forwarded', async (t) => {
    const before = sse.headers.length;
    const headers = { accept: 'application/json, text/event-stream' };
    const parse = await h.send('/mcp/tools', { body: '{"jsonrpc": "2.0", "method": ', headers });
    t.equal(parse.status, 400);
    t.match(await parse.json(), { jsonrpc: '2.0', error: { code: -32700 } });
    const invalid = await h.send('/mcp/tools', { body: { jsonrpc: '1.0', hello: 1 }, headers });
    t.equal(invalid.status, 400);
    t.match(await invalid.json(), { error: { code: -32600 } });
    const empty = await h.send('/mcp/tools', { body: [], headers });
    t.match(await empty.json(), { error: { code: -32600 } });
    const badParams = await h.send('/mcp/tools', {
      body: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { arguments: {} } },
      headers,
    });
    t.match(await badParams.json(), { id: 7, error: { code: -32602 } });
    const unknown = await h.send('/mcp/nope', { body: { jsonrpc: '2.0', id: 1, method: 'ping' }, headers });
    t.equal(unknown.status, 404);
    t.equal(sse.headers.length, before, 'nothing was forwarded');
  });

  t.test('audit: one row per JSON-RPC request', async (t) => {
    const rows = await h.rows(`route LIKE '/mcp/%'`);
    const calls = rows.filter((r) => r.rpc_method === 'tools/call');
    t.ok(
      rows.some((r) => r.rpc_method === 'initialize'),
      'initialize',
    );
    t.ok(
      rows.some((r) => r.rpc_method === 'tools/list' && (r.policy_ids as string[]).includes('no-delete')),
      'list row names the hiding rule',
    );
    t.ok(
      calls.some((r) => r.tool === 'delete_repo' && r.decision === 'block'),
      'blocked call',
    );
    t.ok(
      calls.some((r) => r.tool === 'echo' && r.decision === 'allow' && r.status_code === 200),
      'allowed call',
    );
    t.ok(
      calls.some((r) => r.tool === 'fetch_page' && r.decision === 'redact'),
      'redacted result',
    );
    const injected = calls.filter(
      (r) => r.tool === 'fetch_page' && (r.policy_ids as string[]).includes('injected-result'),
    );
    t.same(
      injected.map((r) => [r.route, r.decision, r.stream]).sort(),
      [
        ['/mcp/jsontools', 'block', false],
        ['/mcp/tools', 'block', true],
      ],
      'the injected result was blocked in a JSON answer and in an SSE stream',
    );
    t.ok(
      calls.some((r) => r.tool === 'deploy' && r.decision === 'allow' && r.approval_id !== null),
      'approved call with its approval id',
    );
    t.ok(
      calls.some((r) => r.tool === 'counted' && (r.policy_ids as string[]).includes('counted-calls')),
      'limited call',
    );
    t.ok(
      rows.some((r) => r.status_code === 401 && r.key_id === null),
      'refused key',
    );
    t.ok(
      rows.some((r) => r.error === 'parse_error'),
      'parse error',
    );
    t.ok(
      calls.every((r) => r.content === null),
      'no argument or result text without audit.content',
    );
    t.ok(
      calls.every((r) => typeof r.latency_ms === 'number'),
      'latency',
    );
  });
});
