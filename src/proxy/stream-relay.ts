import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { AigovError } from '../errors.js';
import type { StreamCodec, StreamTracker } from '../providers/adapter.js';
import { SSE_CODEC, type SseEvent } from '../providers/sse.js';

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
  streamErrorEvent: (err: AigovError) => string | Uint8Array;
  /** How the stream is framed; default SSE. */
  codec?: StreamCodec;
  upstreamError: (err: unknown) => AigovError;
  abort: () => void;
}

function bytes(o: string | Uint8Array): Uint8Array {
  return typeof o === 'string' ? Buffer.from(o, 'utf8') : o;
}

/**
 * Waits for the socket to take more, or for the client to leave. Both listeners go when either
 * fires: a long stream waits on backpressure many times, and a racing `once()` pair would leave
 * one listener behind per wait.
 */
export function drained(raw: ServerResponse): Promise<void> {
  if (raw.destroyed || raw.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      raw.off('drain', done);
      raw.off('close', done);
      resolve();
    };
    raw.on('drain', done);
    raw.on('close', done);
  });
}

/**
 * Forwards an SSE stream chunk by chunk as it arrives (never buffered whole), honouring the
 * client's backpressure, while the parser and tracker read usage and output text on the side.
 */
export async function relayStream(opts: RelayOptions): Promise<StreamOutcome> {
  const { raw, tracker } = opts;
  const codec = opts.codec ?? SSE_CODEC;
  const parser = codec.decoder();
  const outcome: StreamOutcome = { aborted: false, error: null, blocked: null, bytes: 0 };
  // A client that leaves mid-stream cancels the upstream call at once: nobody pays for unread tokens.
  let gone = false;
  const onClose = (): void => {
    if (!raw.writableEnded) {
      gone = true;
      opts.abort();
    }
  };
  raw.once('close', onClose);
  const write = async (data: Uint8Array | string): Promise<void> => {
    outcome.bytes += data.length;
    if (!raw.write(data)) await drained(raw);
  };
  let inspectedLength = 0;
  /**
   * Filtered path, one event at a time: output policies judge the text including this event
   * BEFORE its bytes go out, so the event that completes a match (a secret, an email) is never
   * sent, and nothing after it either ([DONE] would make the SDK stop before the error event).
   * Returns true when an output policy ended the stream.
   */
  const relayEvents = async (events: SseEvent[]): Promise<boolean> => {
    const out: (string | Uint8Array)[] = [];
    const flush = async (): Promise<void> => {
      if (out.length === 0) return;
      const data = out.every((o) => typeof o === 'string') ? out.join('') : Buffer.concat(out.map(bytes));
      out.length = 0;
      await write(data);
    };
    for (const ev of events) {
      const forward = tracker.onEvent(ev).forward;
      if (opts.inspect) {
        const text = tracker.text();
        if (text.length !== inspectedLength) {
          inspectedLength = text.length;
          const blocked = opts.inspect(text);
          if (blocked) {
            await flush();
            outcome.blocked = blocked;
            raw.write(opts.streamErrorEvent(blocked));
            opts.abort();
            return true;
          }
        }
      }
      if (forward) out.push(codec.encode(ev));
    }
    await flush();
    return false;
  };
  try {
    for await (const chunk of opts.body) {
      if (gone) break;
      const buf = chunk as Buffer;
      const events = parser.push(buf);
      if (opts.passThrough) {
        for (const ev of events) tracker.onEvent(ev);
        await write(buf);
        continue;
      }
      if (await relayEvents(events)) break;
    }
    if (!outcome.blocked && !gone) {
      const rest = parser.end();
      if (opts.passThrough) for (const ev of rest) tracker.onEvent(ev);
      else await relayEvents(rest);
    }
  } catch (err) {
    if (gone || raw.destroyed) outcome.aborted = true;
    else {
      outcome.error = err;
      // The status line is gone; the SDK learns of the failure from an error event it parses.
      raw.write(opts.streamErrorEvent(opts.upstreamError(err)));
    }
  }
  raw.off('close', onClose);
  if (gone && !tracker.finished()) outcome.aborted = true;
  if (!raw.destroyed && !raw.writableEnded) raw.end();
  return outcome;
}
