import t from 'tap';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { AigovError } from '../../../src/errors.js';
import { getAdapter } from '../../../src/providers/families.js';
import { relayStream } from '../../../src/proxy/stream-relay.js';

/** A client socket that always applies backpressure: every write waits for a 'drain'. */
class SlowClient extends EventEmitter {
  destroyed = false;
  writableEnded = false;
  written = '';
  write(data: Buffer | string): boolean {
    this.written += data.toString();
    setImmediate(() => this.emit('drain'));
    return false;
  }
  end(): void {
    this.writableEnded = true;
  }
}

t.test('a long stream under backpressure leaves no listeners behind', async (t) => {
  const chunks = Array.from(
    { length: 60 },
    (_, i) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `w${i} ` } }] })}\n\n`,
  );
  chunks.push('data: [DONE]\n\n');
  const raw = new SlowClient();
  const tracker = getAdapter('openai').createStreamTracker({ route: '/v1/chat/completions' });
  const outcome = await relayStream({
    body: Readable.from(chunks.map((c) => Buffer.from(c))) as unknown as Dispatcher.ResponseData['body'],
    raw: raw as unknown as ServerResponse,
    tracker,
    passThrough: true,
    inspect: null,
    streamErrorEvent: (e: AigovError) => `data: ${e.message}\n\n`,
    upstreamError: (e) => new AigovError('upstream_error', { cause: e }),
    abort: () => t.fail('not aborted'),
  });
  t.equal(outcome.aborted, false);
  t.equal(outcome.error, null);
  t.equal(raw.written, chunks.join(''), 'every byte relayed in order');
  t.equal(raw.listenerCount('close'), 0, 'no close listener left (one per backpressure wait before)');
  t.equal(raw.listenerCount('drain'), 0, 'no drain listener left');
  t.ok(tracker.finished());
});
