import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { AigovError } from '../errors.js';
import { serializeSseEvent, type StreamTracker } from '../providers/adapter.js';
import { SseParser } from './sse-parser.js';

export interface StreamOutcome {
  /** The client went away before the stream ended. */
  aborted: boolean;
  /** The upstream failed mid-stream (timeout between chunks, reset). */
  error: unknown;
  /** An output-side policy ended the stream. */
  blocked: AigovError | null;
  bytes: number;
}

export interface RelayOptions {
  body: Dispatcher.ResponseData['body'];
  raw: ServerResponse;
  tracker: StreamTracker;
  /** Forward upstream bytes untouched (nothing to filter): the fast path. */
  passThrough: boolean;
  /** Called with the output text so far; returns an error to end the stream with. */
  inspect: ((text: string) => AigovError | null) | null;
  streamErrorEvent: (err: AigovError) => string;
  upstreamError: (err: unknown) => AigovError;
  abort: () => void;
}

/** Waits for the socket to take more, or for the client to leave. */
async function drained(raw: ServerResponse): Promise<void> {
  if (raw.destroyed || raw.writableEnded) return;
  await Promise.race([once(raw, 'drain'), once(raw, 'close')]);
}

/**
 * Forwards an SSE stream chunk by chunk as it arrives (never buffered whole), honouring the
 * client's backpressure, while the parser and tracker read usage and output text on the side.
 */
export async function relayStream(opts: RelayOptions): Promise<StreamOutcome> {
  const { raw, tracker } = opts;
  const parser = new SseParser();
  const outcome: StreamOutcome = { aborted: false, error: null, blocked: null, bytes: 0 };
  // A client that leaves mid-stream cancels the upstream call at once: nobody pays for unread tokens.
  let gone = false;
  raw.once('close', () => {
    if (!raw.writableEnded) {
      gone = true;
      opts.abort();
    }
  });
  const write = async (data: Buffer | string): Promise<void> => {
    outcome.bytes += data.length;
    if (!raw.write(data)) await drained(raw);
  };
  try {
    for await (const chunk of opts.body) {
      if (gone) break;
      const buf = chunk as Buffer;
      const events = parser.push(buf);
      if (opts.passThrough) {
        for (const ev of events) tracker.onEvent(ev);
        await write(buf);
      } else {
        let out = '';
        for (const ev of events) if (tracker.onEvent(ev).forward) out += serializeSseEvent(ev);
        if (out) await write(out);
      }
      if (opts.inspect && events.length > 0) {
        const blocked = opts.inspect(tracker.text());
        if (blocked) {
          outcome.blocked = blocked;
          raw.write(opts.streamErrorEvent(blocked));
          opts.abort();
          break;
        }
      }
    }
    for (const ev of parser.end()) {
      if (tracker.onEvent(ev).forward && !opts.passThrough) await write(serializeSseEvent(ev));
    }
  } catch (err) {
    if (gone || raw.destroyed) outcome.aborted = true;
    else {
      outcome.error = err;
      // The status line is gone; the SDK learns of the failure from an error event it parses.
      raw.write(opts.streamErrorEvent(opts.upstreamError(err)));
    }
  }
  if (gone && !tracker.finished()) outcome.aborted = true;
  if (!raw.destroyed && !raw.writableEnded) raw.end();
  return outcome;
}
