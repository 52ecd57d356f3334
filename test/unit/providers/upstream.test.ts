import t from 'tap';
import { getAdapter } from '../../../src/providers/families.js';
import { joinUrl } from '../../../src/providers/upstream.js';

const incoming = {
  host: 'proxy.local',
  connection: 'keep-alive, x-hop',
  'keep-alive': 'timeout=5',
  'x-hop': 'named in Connection',
  'proxy-authorization': 'Basic abc',
  te: 'trailers',
  'transfer-encoding': 'chunked',
  upgrade: 'h2c',
  'content-length': '123',
  'content-type': 'application/json; charset=utf-8',
  'accept-encoding': 'gzip, br',
  authorization: 'Bearer aigov_live_secret',
  'x-api-key': 'aigov_live_secret',
  'api-key': 'aigov_live_secret',
  cookie: 'session=1',
  'x-aigov-provider': 'openai',
  'openai-organization': 'org-1',
  'openai-project': 'proj-1',
  'anthropic-beta': 'prompt-caching-2024-07-31',
  'x-stainless-retry-count': '0',
  'user-agent': 'OpenAI/JS 6.0',
  'x-multi': ['a', 'b'],
  'x-undefined': undefined,
};

const base = { route: '/v1/chat/completions', search: '', incomingHeaders: incoming, requestId: 'req_123' };

t.test('openai: caller credentials and hop-by-hop stripped, provider credential injected', async (t) => {
  const up = getAdapter('openai').buildUpstream({
    ...base,
    baseUrl: 'https://api.openai.com',
    credential: 'sk-provider',
  });
  t.equal(up.url, 'https://api.openai.com/v1/chat/completions');
  const h = up.headers;
  t.equal(h['authorization'], 'Bearer sk-provider');
  for (const gone of [
    'host',
    'connection',
    'keep-alive',
    'x-hop',
    'proxy-authorization',
    'te',
    'transfer-encoding',
    'upgrade',
    'content-length',
    'x-api-key',
    'api-key',
    'cookie',
    'x-aigov-provider',
    'x-undefined',
  ]) {
    t.notOk(gone in h, `${gone} dropped`);
  }
  t.notMatch(JSON.stringify(h), /aigov_live_secret/, 'the aigov key appears nowhere');
  t.equal(h['openai-organization'], 'org-1');
  t.equal(h['openai-project'], 'proj-1');
  t.equal(h['x-stainless-retry-count'], '0');
  t.equal(h['user-agent'], 'OpenAI/JS 6.0');
  t.equal(h['x-multi'], 'a, b');
  t.equal(h['x-request-id'], 'req_123');
  t.equal(h['content-type'], 'application/json');
  t.equal(h['accept-encoding'], 'identity');
  t.notOk('anthropic-version' in h, 'no anthropic default on openai');
});

t.test('azure-style api-key header, and no credential at all', async (t) => {
  const azure = getAdapter('openai', { authHeader: 'api-key' }).buildUpstream({
    ...base,
    baseUrl: 'https://res.openai.azure.com/openai',
    search: 'api-version=preview',
    credential: 'az-key',
  });
  t.equal(azure.url, 'https://res.openai.azure.com/openai/v1/chat/completions?api-version=preview');
  t.equal(azure.headers['api-key'], 'az-key');
  t.notOk('authorization' in azure.headers);
  const local = getAdapter('openai').buildUpstream({
    ...base,
    baseUrl: 'http://127.0.0.1:11434',
    credential: null,
  });
  t.notOk('authorization' in local.headers);
  t.notOk('api-key' in local.headers);
});

t.test('anthropic: x-api-key injected, version defaulted or passed through, beta kept', async (t) => {
  const a = getAdapter('anthropic');
  const up = a.buildUpstream({
    ...base,
    route: '/v1/messages',
    baseUrl: 'https://api.anthropic.com/',
    credential: 'sk-ant',
  });
  t.equal(up.url, 'https://api.anthropic.com/v1/messages');
  t.equal(up.headers['x-api-key'], 'sk-ant');
  t.notOk('authorization' in up.headers);
  t.equal(up.headers['anthropic-version'], '2023-06-01');
  t.equal(up.headers['anthropic-beta'], 'prompt-caching-2024-07-31');
  const pinned = a.buildUpstream({
    ...base,
    incomingHeaders: { ...incoming, 'anthropic-version': '2024-01-01' },
    route: '/v1/messages',
    baseUrl: 'https://api.anthropic.com',
    credential: 'sk-ant',
  });
  t.equal(pinned.headers['anthropic-version'], '2024-01-01');
});

t.test('joinUrl: paths, trailing slashes, /v1 not doubled, query forms', async (t) => {
  t.equal(joinUrl('https://api.openai.com', '/v1/models', ''), 'https://api.openai.com/v1/models');
  t.equal(joinUrl('https://api.openai.com/v1', '/v1/models', ''), 'https://api.openai.com/v1/models');
  t.equal(joinUrl('https://api.openai.com/v1/', '/v1/models', '?'), 'https://api.openai.com/v1/models');
  t.equal(
    joinUrl('https://gw.example/openai/', '/v1/models', '?a=1'),
    'https://gw.example/openai/v1/models?a=1',
  );
  t.equal(
    joinUrl('https://gw.example/openai/v1', '/v1/models', 'a=1'),
    'https://gw.example/openai/v1/models?a=1',
  );
  t.equal(joinUrl('https://gw.example/api/v10', '/v1/models', ''), 'https://gw.example/api/v10/v1/models');
});

t.test('routes and lookup', async (t) => {
  const o = getAdapter('openai');
  t.same(
    o.routes.map((r) => `${r.method} ${r.path} ${r.kind} ${r.governed}`),
    [
      'POST /v1/chat/completions chat true',
      'POST /v1/completions completions true',
      'POST /v1/embeddings embeddings true',
      'POST /v1/responses responses true',
      'GET /v1/models models false',
      'POST /v1/images/generations images true',
      'POST /v1/images/edits images true',
      'POST /v1/audio/speech audio_speech true',
      'POST /v1/audio/transcriptions audio_transcription true',
      'POST /v1/audio/translations audio_transcription true',
      'POST /v1/moderations moderations true',
      'POST /v1/files files true',
      'GET /v1/files files false',
      'GET /v1/files/:file_id files false',
      'DELETE /v1/files/:file_id files false',
      'GET /v1/files/:file_id/content files false',
      'POST /v1/batches batches true',
      'GET /v1/batches batches false',
      'GET /v1/batches/:batch_id batches false',
      'POST /v1/batches/:batch_id/cancel batches false',
    ],
  );
  t.equal(o.routeFor('post', '/v1/chat/completions/')?.kind, 'chat');
  t.equal(o.routeFor('GET', '/v1/files/file-abc')?.path, '/v1/files/:file_id', 'resource ids match');
  t.equal(o.routeFor('GET', '/v1/files/')?.path, '/v1/files', 'an empty id is the list route');
  t.equal(o.routeFor('GET', '/v1/files/a/b'), undefined, 'one segment per id');
  t.equal(o.routeFor('GET', '/v1/chat/completions'), undefined);
  t.equal(o.routeFor('GET', '/v1/models?limit=2')?.governed, false);
  const a = getAdapter('anthropic');
  t.equal(a.routeFor('POST', '/v1/messages/count_tokens')?.kind, 'count_tokens');
  t.equal(a.routeFor('GET', '/v1/models')?.kind, 'models');
  t.equal(a.routeFor('POST', '/v1/chat/completions'), undefined);
  t.equal(getAdapter('openai'), o, 'default adapters are shared');
});
