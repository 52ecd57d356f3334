import t from 'tap';
import { SignJWT } from 'jose';
import { startProxy, OPENAI_PROVIDER_KEY, type ProxyHarness } from '../../support/proxy.js';
import { startTestIssuer, type TestIssuer } from '../../support/jwt-issuer.js';

t.setTimeout(120_000);

const POLICIES = `version: 1
rules:
  - id: finance-no-wire
    scope: { teams: [finance] }
    when: { prompt: { contains: [wire transfer] } }
    action: block
    message: "finance may not ask for wire transfers"
  - id: team-rate
    limit: { requests: 2, per: 1m, by: team }
`;

const chatBody = (content: string) => ({ model: 'gpt-4o', messages: [{ role: 'user', content }] });

function b64url(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, code: body.error.code, message: body.error.message };
}

let issuer: TestIssuer;
let other: TestIssuer;
let h: ProxyHarness;

t.before(async () => {
  issuer = await startTestIssuer();
  other = await startTestIssuer();
  h = await startProxy({
    policies: POLICIES,
    overrides: {
      admin: { token: 'jwt-test-admin-token-0123456789' },
      auth: {
        jwt: [
          {
            issuer: issuer.issuer,
            audiences: ['aigov'],
            claims: { owner: 'email', team: 'groups', tags: 'scope' },
            // The rotation test needs an unknown kid to refetch at once; the cooldown has its own test.
            jwks_cooldown: 0,
            clock_tolerance: '5s',
          },
        ],
      },
    },
  });
});
t.teardown(async () => {
  await h.close();
  await issuer.close();
  await other.close();
});

t.test('a valid JWT is an identity: served, audited as jwt:<iss>#<sub>, never forwarded', async (t) => {
  const token = await issuer.sign({
    sub: 'svc-a',
    email: 'svc-a@example.com',
    groups: ['eng'],
    scope: 'batch nightly',
  });
  const before = h.mock.requests.length;
  const res = await h.send('/v1/chat/completions', { auth: token, body: chatBody('hello') });
  t.equal(res.status, 200, await res.clone().text());
  await res.arrayBuffer();
  t.equal(issuer.discoveryFetches, 1, 'keys found through OIDC discovery');
  const upstream = h.mock.requests.slice(before);
  t.equal(upstream.length, 1);
  t.equal(
    upstream[0]!.headers.authorization,
    `Bearer ${OPENAI_PROVIDER_KEY}`,
    'the provider credential goes up',
  );
  const all = JSON.stringify(upstream[0]!.headers) + JSON.stringify(upstream[0]!.body);
  t.notOk(all.includes(token), 'the JWT never reaches the provider');
  t.notOk(all.includes(token.split('.')[2]!), 'not even its signature');
  const [row] = await h.rows(`key_id = 'jwt:${issuer.issuer}#svc-a'`);
  t.ok(row, 'audit row keyed by issuer and subject');
  t.equal(row!.owner, 'svc-a@example.com');
  t.equal(row!.team, 'eng');
  t.notOk(h.logs.text().includes(token), 'the token is never logged');
  const logs = await h.app.inject({
    method: 'GET',
    url: `/admin/logs?key_id=${encodeURIComponent(`jwt:${issuer.issuer}#svc-a`)}`,
    headers: { authorization: 'Bearer jwt-test-admin-token-0123456789' },
  });
  t.equal(logs.statusCode, 200, logs.body);
  t.equal((logs.json() as { data: unknown[] }).data.length, 1, 'the admin API filters logs by a JWT caller');

  const evaluate = await h.send('/api/evaluate', { auth: token, method: 'POST' });
  const body = (await evaluate.json()) as { key: Record<string, unknown> };
  t.same(
    [body.key.id, body.key.owner, body.key.team, body.key.tags],
    [`jwt:${issuer.issuer}#svc-a`, 'svc-a@example.com', 'eng', ['batch', 'nightly']],
  );
});

t.test('each refusal is a clear 401 in the caller provider shape', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const pub = new TextEncoder().encode(JSON.stringify(issuer.publicJwk()));
  const valid = await issuer.sign({ sub: 'x' });
  const [vh, vp] = valid.split('.');
  const cases: { name: string; token: string; code: string; message: RegExp }[] = [
    {
      name: 'expired',
      token: await issuer.sign({ sub: 'x', exp: now - 60 }),
      code: 'token_expired',
      message: /expired/,
    },
    {
      name: 'not yet valid',
      token: await issuer.sign({ sub: 'x', nbf: now + 600 }),
      code: 'token_not_yet_valid',
      message: /not valid yet/,
    },
    {
      name: 'wrong audience',
      token: await issuer.sign({ sub: 'x', aud: 'someone-else' }),
      code: 'token_wrong_audience',
      message: /audience/,
    },
    {
      name: 'unknown issuer',
      token: await other.sign({ sub: 'x' }),
      code: 'token_unknown_issuer',
      message: /not configured/,
    },
    {
      name: 'bad signature (another key, same kid and issuer)',
      token: await other.sign({ sub: 'x', iss: issuer.issuer }, { kid: issuer.kid }),
      code: 'token_bad_signature',
      message: /signature/,
    },
    {
      name: 'payload changed after signing',
      token: `${vh}.${b64url({ ...JSON.parse(Buffer.from(vp!, 'base64url').toString()), sub: 'admin' })}.${valid.split('.')[2]}`,
      code: 'token_bad_signature',
      message: /signature/,
    },
    {
      name: 'alg none',
      token: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iss: issuer.issuer, sub: 'x', aud: 'aigov', exp: now + 300 })}.`,
      code: 'token_alg_not_allowed',
      message: /"none" is not allowed/,
    },
    {
      name: 'HS256 keyed with the public key',
      token: await new SignJWT({ sub: 'x', aud: 'aigov' })
        .setProtectedHeader({ alg: 'HS256', kid: issuer.kid })
        .setIssuer(issuer.issuer)
        .setExpirationTime('5m')
        .sign(pub),
      code: 'token_alg_not_allowed',
      message: /"HS256" is not allowed/,
    },
    {
      name: 'no subject',
      token: await issuer.sign({ sub: undefined }),
      code: 'token_missing_claim',
      message: /"sub"/,
    },
  ];
  for (const c of cases) {
    const res = await h.send('/v1/chat/completions', { auth: c.token, body: chatBody('hi') });
    const e = await errorOf(res);
    t.equal(e.status, 401, `${c.name}: 401`);
    t.equal(e.code, c.code, `${c.name}: code`);
    t.match(e.message, c.message, `${c.name}: message`);
  }
  // Anthropic routes answer in Anthropic's shape.
  const res = await h.send('/v1/messages', {
    auth: cases[0]!.token,
    body: { model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] },
  });
  t.equal(res.status, 401);
  const body = (await res.json()) as { type: string; error: { type: string; message: string } };
  t.same([body.type, body.error.type], ['error', 'authentication_error']);
  t.match(body.error.message, /expired/);
  // A garbage bearer that is neither a key nor a JWT stays the key error.
  t.equal(
    (await errorOf(await h.send('/v1/chat/completions', { auth: 'nope', body: chatBody('x') }))).code,
    'invalid_api_key',
  );
  const rows = await h.rows(
    `route = '/v1/chat/completions' AND status_code = 401 AND error = 'invalid_token'`,
  );
  t.ok(rows.length >= cases.length, 'refusals are audited');
});

t.test('a key rotated at the issuer is picked up without a restart', async (t) => {
  const first = await issuer.sign({ sub: 'rot', groups: ['ops'] });
  const ok = await h.send('/v1/chat/completions', { auth: first, body: chatBody('before') });
  t.equal(ok.status, 200);
  await ok.arrayBuffer();
  const fetches = issuer.jwksFetches;
  const oldKid = issuer.kid;
  await issuer.rotate();
  t.not(issuer.kid, oldKid);
  const second = await issuer.sign({ sub: 'rot', groups: ['ops'] });
  const res = await h.send('/v1/chat/completions', { auth: second, body: chatBody('after') });
  t.equal(res.status, 200, 'a token of the new key is accepted');
  await res.arrayBuffer();
  t.equal(issuer.jwksFetches, fetches + 1, 'by refetching the JWKS once');
  const stale = await h.send('/v1/chat/completions', { auth: first, body: chatBody('old') });
  t.equal((await errorOf(stale)).code, 'token_bad_signature', 'the retired key no longer verifies');
});

t.test('claims feed a team-scoped rule and a by: team limit', async (t) => {
  const a = await issuer.sign({ sub: 'fin-a', groups: ['finance'] });
  const b = await issuer.sign({ sub: 'fin-b', groups: ['finance'] });
  const eng = await issuer.sign({ sub: 'eng-a', groups: ['eng-2'] });
  const blocked = await h.send('/v1/chat/completions', {
    auth: a,
    body: chatBody('please make a wire transfer'),
  });
  const e = await errorOf(blocked);
  t.same([e.status, e.code], [403, 'finance-no-wire'], 'the finance-scoped rule applies to a finance JWT');
  const engWire = await h.send('/v1/chat/completions', {
    auth: eng,
    body: chatBody('please make a wire transfer'),
  });
  t.equal(engWire.status, 200, 'and not to another team');
  await engWire.arrayBuffer();
  for (const token of [a, b]) {
    const r = await h.send('/v1/chat/completions', { auth: token, body: chatBody('hello') });
    t.equal(r.status, 200);
    await r.arrayBuffer();
  }
  const third = await errorOf(await h.send('/v1/chat/completions', { auth: b, body: chatBody('hello') }));
  t.same([third.status, third.code], [429, 'team-rate'], 'two subjects of one team share the team limit');
  const other = await h.send('/v1/chat/completions', { auth: eng, body: chatBody('hello') });
  t.equal(other.status, 200, 'another team has its own budget');
  await other.arrayBuffer();
});

t.test('an unknown kid refetches the keys at most once per cooldown', async (t) => {
  const iss = await startTestIssuer();
  const p = await startProxy({
    overrides: { auth: { jwt: [{ issuer: iss.issuer, audiences: ['aigov'], jwks_uri: iss.jwksUri }] } },
  });
  t.teardown(async () => {
    await p.close();
    await iss.close();
  });
  const good = await p.send('/v1/chat/completions', { auth: await iss.sign(), body: chatBody('x') });
  t.equal(good.status, 200);
  await good.arrayBuffer();
  t.same([iss.discoveryFetches, iss.jwksFetches], [0, 1], 'an explicit jwks_uri skips discovery');
  for (let i = 0; i < 5; i++) {
    const res = await p.send('/v1/chat/completions', {
      auth: await iss.sign({}, { kid: `random-${i}` }),
      body: chatBody('x'),
    });
    t.equal((await errorOf(res)).code, 'token_bad_signature');
  }
  t.equal(iss.jwksFetches, 1, 'random kids do not make aigov hammer the issuer');
});

t.test('an unreachable issuer is a 503 (retry later), not a 401', async (t) => {
  const iss = await startTestIssuer();
  const p = await startProxy({
    overrides: { auth: { jwt: [{ issuer: iss.issuer, audiences: ['aigov'], jwks_timeout: '2s' }] } },
  });
  t.teardown(() => p.close());
  const token = await iss.sign();
  await iss.close();
  const res = await p.send('/v1/chat/completions', { auth: token, body: chatBody('x') });
  const e = await errorOf(res);
  t.same([e.status, e.code], [503, 'auth_unavailable']);
  t.ok(res.headers.get('retry-after'));
});
