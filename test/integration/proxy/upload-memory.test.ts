import t from 'tap';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, openAsBlob, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMockProvider } from '../../support/mock-provider.js';
import { startProxyProcess } from '../../support/proxy-process.js';

/**
 * Memory stays flat while large uploads stream through a real proxy process: a 100 MB batch
 * JSONL checked (and partly rewritten) line by line, and a 25 MB audio file. Measured as the
 * growth of the process's peak RSS (VmHWM, reset before each upload) over its RSS before it:
 * bounded well below the upload's size, whatever the machine's speed.
 */
const MB = 1024 * 1024;

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Resets the peak RSS counter (Linux clear_refs 5), so VmHWM measures from now. */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

async function writeJsonl(path: string, bytes: number): Promise<{ lines: number; sha256: string }> {
  const out = createWriteStream(path);
  const hash = createHash('sha256');
  const pad = 'lorem ipsum dolor sit amet '.repeat(34);
  let written = 0;
  let lines = 0;
  while (written < bytes) {
    // Every 10,000th line carries an email a redact rule rewrites.
    const content = lines % 10_000 === 5 ? `mail carol@example.com ${pad}` : `line ${lines} ${pad}`;
    const line =
      JSON.stringify({
        custom_id: `r${lines}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content }] },
      }) + '\n';
    lines++;
    written += line.length;
    hash.update(line);
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { lines, sha256: hash.digest('hex') };
}

t.test('large uploads stream through with flat memory', { skip: process.platform !== 'linux' }, async (t) => {
  const dir = t.testdir({
    'policies.yaml':
      'version: 1\nrules:\n  - id: mask-email\n    when: { detect: [email] }\n    action: redact\n',
    'aigov.yaml': 'auth:\n  bcrypt_cost: 4\naudit:\n  flush_interval: 20ms\npolicies:\n  watch: false\n',
  });
  writeFileSync(
    join(dir, 'aigov.yaml'),
    `${readFileSync(join(dir, 'aigov.yaml'), 'utf8')}database:\n  embedded_dir: ${join(dir, 'pglite')}\n`,
  );
  const mock = await startMockProvider({ record: true });
  t.teardown(() => mock.close());
  const proxy = await startProxyProcess(
    {
      AIGOV_CONFIG: join(dir, 'aigov.yaml'),
      POLICIES_PATH: join(dir, 'policies.yaml'),
      AIGOV_AUDIT_SPOOL_DIR: join(dir, 'spool'),
      OPENAI_BASE_URL: mock.url,
      OPENAI_API_KEY: 'sk-provider',
    },
    300_000,
  );
  t.teardown(() => proxy.stop());
  const pid = proxy.child.pid!;
  let key: string | undefined;
  while (!(key = /\s(aigov_\S+)/.exec(proxy.output())?.[1])) await new Promise((r) => setTimeout(r, 50));

  const upload = async (route: string, fields: Record<string, string>, file: Blob, name: string) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('file', file, name);
    return fetch(`${proxy.url}${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: form,
    });
  };

  // Warm-up: code paths loaded, pools open, so the measurement sees only the upload.
  const warmLine = JSON.stringify({
    custom_id: 'w',
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] },
  });
  const warm = await upload('/v1/files', { purpose: 'batch' }, new Blob([warmLine]), 'w.jsonl');
  t.equal(warm.status, 200, 'warm-up upload');

  await t.test('100 MB batch JSONL, checked line by line', async (t) => {
    const path = join(dir, 'big.jsonl');
    const { lines, sha256 } = await writeJsonl(path, 100 * MB);
    const before = status(pid, 'VmRSS');
    resetPeak(pid);
    const res = await upload('/v1/files', { purpose: 'batch' }, await openAsBlob(path), 'big.jsonl');
    const peak = status(pid, 'VmHWM');
    t.equal(res.status, 200, await res.clone().text());
    t.equal(res.headers.get('x-aigov-decision'), 'redact');
    const received = mock.requests.at(-1)!.form!.files[0]!;
    t.not(received.sha256, sha256, 'the rewritten file went upstream');
    let count = 0;
    let redacted = 0;
    let buf = '';
    for await (const chunk of createReadStream(received.path, 'utf8')) {
      buf += chunk as string;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const l = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        count++;
        if (l.includes('[REDACTED:EMAIL]')) redacted++;
      }
    }
    t.equal(count, lines, 'every line forwarded');
    t.equal(redacted, Math.ceil((lines - 5) / 10_000), 'the email lines rewritten');
    const growth = peak - before;
    t.comment(
      `100 MB JSONL: RSS before ${(before / MB).toFixed(1)} MB, peak growth ${(growth / MB).toFixed(1)} MB`,
    );
    t.ok(growth < 48 * MB, `peak RSS grew ${(growth / MB).toFixed(1)} MB (< 48 MB) for a 100 MB upload`);
  });

  await t.test('25 MB audio transcription', async (t) => {
    const path = join(dir, 'talk.wav');
    writeFileSync(path, Buffer.alloc(25 * MB, 1));
    const before = status(pid, 'VmRSS');
    resetPeak(pid);
    const res = await upload(
      '/v1/audio/transcriptions',
      { model: 'whisper-1' },
      await openAsBlob(path),
      'talk.wav',
    );
    const peak = status(pid, 'VmHWM');
    t.equal(res.status, 200);
    t.equal(mock.requests.at(-1)!.form!.files[0]!.size, 25 * MB, 'whole file forwarded');
    const growth = peak - before;
    t.comment(`25 MB audio: peak growth ${(growth / MB).toFixed(1)} MB`);
    t.ok(growth < 20 * MB, `peak RSS grew ${(growth / MB).toFixed(1)} MB (< 20 MB) for a 25 MB upload`);
  });
});
