import t from 'tap';
import { generateKey, parseKey, KEY_LENGTH, KEY_PREFIX, isKeyId } from '../../../src/auth/key-format.js';

t.test('generated keys parse back to their id and secret', async (t) => {
  for (let i = 0; i < 200; i++) {
    const g = generateKey();
    t.equal(g.key.length, KEY_LENGTH);
    t.ok(g.key.startsWith(KEY_PREFIX));
    t.same(parseKey(g.key), { id: g.id, secret: g.secret });
    t.ok(isKeyId(g.id));
  }
});

t.test('the secret carries at least 128 bits', async (t) => {
  const g = generateKey();
  t.ok(g.secret.length * Math.log2(62) >= 128, `${g.secret.length} base62 chars`);
  const secrets = new Set(Array.from({ length: 1000 }, () => generateKey().secret));
  t.equal(secrets.size, 1000, 'no repeats');
});

t.test('any single-character change is rejected by the checksum', async (t) => {
  const { key } = generateKey();
  let rejected = 0;
  let tried = 0;
  for (let i = KEY_PREFIX.length; i < key.length; i++) {
    if (key[i] === '_') continue;
    const c = key[i] === 'a' ? 'b' : 'a';
    tried++;
    if (parseKey(key.slice(0, i) + c + key.slice(i + 1)) === null) rejected++;
  }
  t.equal(rejected, tried);
});

t.test('malformed keys are rejected without I/O', async (t) => {
  const { key } = generateKey();
  for (const bad of [
    '',
    'sk-123',
    key.slice(0, -1),
    key + 'x',
    key.replace('aigov_', 'aigox_'),
    key.replace('_', '-'),
    ' '.repeat(KEY_LENGTH),
    'aigov_' + '!'.repeat(KEY_LENGTH - 6),
  ])
    t.equal(parseKey(bad), null, JSON.stringify(bad));
});
