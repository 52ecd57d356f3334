import t, { type Test } from 'tap';
import OpenAI, { toFile } from 'openai';
import { speechBytes } from '../support/mock-surface.js';
import { CALLER_CREDENTIAL_HEADERS, OPENAI_PROVIDER_KEY, mockHeader, startProxy } from '../support/proxy.js';

/**
 * The real `openai` SDK against images, audio and moderations through the proxy: governed like
 * chat (policies on their text, the key's model list, audit rows), binary answers streamed back
 * untouched, multipart uploads re-encoded with redacted fields, output rules on transcripts.
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
  - id: no-secret-transcript
    on: response
    when: { prompt: { contains: "launch code" } }
    action: block
    message: "transcripts may not carry launch codes"
`;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => null,
    (e: unknown) => e,
  );
}

t.test('images, audio and moderations through the openai SDK', async (t) => {
  const h = await startProxy({ policies: POLICIES });
  t.teardown(() => h.close());
  const client = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: h.key, maxRetries: 0 });
  const last = () => h.mock.requests.at(-1)!;
  const assertCredentials = (t: Test): void => {
    const req = last();
    t.equal(req.headers['authorization'], `Bearer ${OPENAI_PROVIDER_KEY}`, `${req.path}: provider key`);
    for (const name of CALLER_CREDENTIAL_HEADERS)
      t.notOk(String(req.headers[name] ?? '').includes(h.key), `${req.path}: no aigov key in ${name}`);
  };

  t.test('images.generate: allowed, blocked, redacted', async (t) => {
    const ok = await client.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse at dusk' });
    t.equal(Buffer.from(ok.data?.[0]?.b64_json ?? '', 'base64').toString(), 'image of a lighthouse at dusk');
    t.equal(last().path, '/v1/images/generations');
    assertCredentials(t);

    const before = h.mock.requests.length;
    const err = await rejection(
      client.images.generate({ model: 'gpt-image-1', prompt: 'a poster with SSN 123-45-6789' }),
    );
    t.ok(err instanceof OpenAI.PermissionDeniedError, `raised ${String(err)}`);
    t.equal((err as InstanceType<typeof OpenAI.PermissionDeniedError>).code, 'no-ssn');
    t.match((err as Error).message, /SSNs may not be sent/);
    t.equal(h.mock.requests.length, before, 'nothing forwarded');

    const { response } = await client.images
      .generate({ model: 'gpt-image-1', prompt: 'a card for bob@example.com' })
      .withResponse();
    t.equal(response.headers.get('x-aigov-decision'), 'redact');
    t.same((last().body as Record<string, unknown>)['prompt'], 'a card for [REDACTED:EMAIL]');
  });

  t.test('images.generate: the key model list applies', async (t) => {
    const limited = new OpenAI({
      baseURL: `${h.url}/v1`,
      apiKey: await h.newKey({ models: ['dall-e-3'] }),
      maxRetries: 0,
    });
    const before = h.mock.requests.length;
    const err = await rejection(limited.images.generate({ model: 'gpt-image-1', prompt: 'a cat' }));
    t.ok(err instanceof OpenAI.PermissionDeniedError);
    t.equal((err as InstanceType<typeof OpenAI.PermissionDeniedError>).code, 'model_not_allowed');
    t.equal(h.mock.requests.length, before);
  });

  t.test('images.edit: multipart prompt governed, image streamed upstream', async (t) => {
    const image = Buffer.alloc(300_000, 7);
    const res = await client.images.edit({
      model: 'gpt-image-1',
      image: await toFile(image, 'in.png', { type: 'image/png' }),
      prompt: 'add a hat for carol@example.com',
    });
    t.ok(res.data?.[0]?.b64_json);
    const form = last().form!;
    t.equal(form.fields['prompt'], 'add a hat for [REDACTED:EMAIL]', 'redacted field forwarded');
    t.equal(form.files[0]?.size, image.length, 'image bytes forwarded');
    t.equal(form.files[0]?.filename, 'in.png');
    assertCredentials(t);

    const before = h.mock.requests.length;
    const err = await rejection(
      client.images.edit({
        model: 'gpt-image-1',
        image: await toFile(image, 'in.png', { type: 'image/png' }),
        prompt: 'write SSN 123-45-6789 on it',
      }),
    );
    t.ok(err instanceof OpenAI.PermissionDeniedError);
    t.equal(h.mock.requests.length, before, 'nothing forwarded');
  });

  t.test('audio.speech: binary answer streamed back byte for byte', async (t) => {
    const res = await client.audio.speech.create(
      { model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Hello there' },
      { headers: mockHeader({ speechBytes: 1_000_000 }) },
    );
    t.equal(res.headers.get('content-type'), 'audio/mpeg');
    t.equal(res.headers.get('x-aigov-decision'), 'allow');
    const audio = Buffer.from(await res.arrayBuffer());
    t.equal(audio.length, 1_000_000);
    t.ok(audio.equals(speechBytes(1_000_000)), 'every byte untouched');
    t.equal(last().path, '/v1/audio/speech');

    const before = h.mock.requests.length;
    const err = await rejection(
      client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'SSN 123-45-6789' }),
    );
    t.ok(err instanceof OpenAI.PermissionDeniedError);
    t.equal(h.mock.requests.length, before);
  });

  t.test('audio.transcriptions: multipart upload, response rule on the transcript', async (t) => {
    const audio = Buffer.alloc(2_000_000, 3);
    const res = await client.audio.transcriptions.create(
      { file: await toFile(audio, 'talk.wav', { type: 'audio/wav' }), model: 'gpt-4o-transcribe' },
      { headers: mockHeader({ reply: 'the meeting is at noon' }) },
    );
    t.equal(res.text, 'the meeting is at noon');
    const form = last().form!;
    t.equal(form.fields['model'], 'gpt-4o-transcribe');
    t.equal(form.files[0]?.size, audio.length, 'the whole file reached the provider');
    assertCredentials(t);

    const err = await rejection(
      client.audio.transcriptions.create(
        { file: await toFile(audio, 'talk.wav', { type: 'audio/wav' }), model: 'gpt-4o-transcribe' },
        { headers: mockHeader({ reply: 'the launch code is 0000' }) },
      ),
    );
    t.ok(err instanceof OpenAI.PermissionDeniedError, `raised ${String(err)}`);
    t.equal((err as InstanceType<typeof OpenAI.PermissionDeniedError>).code, 'no-secret-transcript');

    const plain = await rejection(
      client.audio.transcriptions.create(
        {
          file: await toFile(audio, 'talk.wav', { type: 'audio/wav' }),
          model: 'gpt-4o-transcribe',
          response_format: 'text',
        },
        { headers: mockHeader({ reply: 'the launch code is 0000' }) },
      ),
    );
    t.ok(plain instanceof OpenAI.PermissionDeniedError, 'a text/plain transcript is checked too');

    const blockedPrompt = h.mock.requests.length;
    const promptErr = await rejection(
      client.audio.translations.create({
        file: await toFile(audio, 'talk.wav', { type: 'audio/wav' }),
        model: 'whisper-1',
        prompt: 'names: SSN 123-45-6789',
      }),
    );
    t.ok(promptErr instanceof OpenAI.PermissionDeniedError, 'the prompt field is checked');
    t.equal(h.mock.requests.length, blockedPrompt, 'nothing forwarded');
  });

  t.test('moderations', async (t) => {
    const res = await client.moderations.create({
      model: 'omni-moderation-latest',
      input: ['is this fine?', 'and this?'],
    });
    t.equal(res.results.length, 2);
    const before = h.mock.requests.length;
    const err = await rejection(client.moderations.create({ input: 'SSN 123-45-6789' }));
    t.ok(err instanceof OpenAI.PermissionDeniedError);
    t.equal(h.mock.requests.length, before);
  });

  t.test('bad input: 4xx in the OpenAI shape, nothing forwarded', async (t) => {
    const before = h.mock.requests.length;
    const noPrompt = await h.send('/v1/images/generations', { body: { model: 'gpt-image-1' } });
    t.equal(noPrompt.status, 400);
    const body = (await noPrompt.json()) as { error: { message: string; type: string } };
    t.equal(body.error.type, 'invalid_request_error');
    t.match(body.error.message, /prompt/);

    const speechNoInput = await h.send('/v1/audio/speech', { body: { model: 'tts-1', voice: 'alloy' } });
    t.equal(speechNoInput.status, 400);

    const broken = await h.send('/v1/audio/transcriptions', {
      body: '--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--xyz',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
    });
    t.equal(broken.status, 400, 'truncated multipart');
    t.ok(((await broken.json()) as { error?: unknown }).error);

    const noBoundary = await h.send('/v1/audio/transcriptions', {
      body: 'x',
      headers: { 'content-type': 'multipart/form-data' },
    });
    t.equal(noBoundary.status, 400);

    const json = await h.send('/v1/audio/transcriptions', { body: { model: 'whisper-1' } });
    t.equal(json.status, 415, 'a JSON body where a form is expected');

    const form = new FormData();
    form.append('model', 'whisper-1');
    form.append('file', new Blob(['x']), 'a.wav');
    const chatForm = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.key}` },
      body: form,
    });
    t.equal(chatForm.status, 415, 'multipart on a JSON route');

    const noKey = new FormData();
    noKey.append('model', 'whisper-1');
    noKey.append('file', new Blob(['x']), 'a.wav');
    const unauth = await fetch(`${h.url}/v1/audio/transcriptions`, { method: 'POST', body: noKey });
    t.equal(unauth.status, 401);
    t.equal(h.mock.requests.length, before, 'nothing forwarded');
  });

  t.test('audit rows', async (t) => {
    const rows = await h.rows();
    const byRoute = (route: string) => rows.filter((r) => r['route'] === route);
    t.ok(
      byRoute('/v1/images/generations').some((r) => r['decision'] === 'block' && r['status_code'] === 403),
    );
    t.ok(byRoute('/v1/images/generations').some((r) => r['decision'] === 'redact'));
    const gen = byRoute('/v1/images/generations').find((r) => r['decision'] === 'allow')!;
    t.equal(gen['model'], 'gpt-image-1');
    t.ok(Number(gen['total_tokens']) > 0, 'image usage recorded');
    t.ok(
      byRoute('/v1/audio/speech').some((r) => r['status_code'] === 200 && r['model'] === 'gpt-4o-mini-tts'),
    );
    const tr = byRoute('/v1/audio/transcriptions');
    t.ok(tr.some((r) => r['status_code'] === 200 && Number(r['total_tokens']) > 0));
    t.ok(tr.some((r) => (r['policy_ids'] as string[]).includes('no-secret-transcript')));
    t.ok(byRoute('/v1/moderations').length >= 2);
    t.ok(byRoute('/v1/images/edits').some((r) => r['decision'] === 'redact'));
  });
});
