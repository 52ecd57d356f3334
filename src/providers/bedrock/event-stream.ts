/**
 * AWS event-stream framing (application/vnd.amazon.eventstream) for Bedrock's streamed answers,
 * decoded and encoded with @smithy/eventstream-codec (prelude and message CRCs, typed headers).
 * The only thing done here by hand is cutting the byte stream into messages at the length the
 * prelude states, which the codec's own decode() expects whole.
 */
import { EventStreamCodec, type Message } from '@smithy/eventstream-codec';
import { fromUtf8, toUtf8 } from '@smithy/util-utf8';
import type { StreamCodec, StreamDecoder } from '../adapter.js';
import type { SseEvent } from '../sse.js';

const codec = new EventStreamCodec(toUtf8, fromUtf8);

/** Larger messages are refused: no Bedrock event comes near this, and it bounds the buffer. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

function headerString(message: Message, name: string): string | null {
  const h = message.headers[name];
  return h !== undefined && h.type === 'string' ? h.value : null;
}

/** One event-stream message as an event: its :event-type (or :exception-type) and JSON payload. */
function toEvent(message: Message): SseEvent {
  const type = headerString(message, ':message-type');
  const name =
    type === 'exception'
      ? (headerString(message, ':exception-type') ?? 'exception')
      : type === 'error'
        ? (headerString(message, ':error-code') ?? 'error')
        : (headerString(message, ':event-type') ?? 'event');
  return { event: name, data: toUtf8(message.body), ...(type === 'event' ? {} : { id: type ?? '' }) };
}

class EventStreamDecoder implements StreamDecoder {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): SseEvent[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const out: SseEvent[] = [];
    while (this.buffer.length >= 4) {
      const total = this.buffer.readUInt32BE(0);
      if (total < 16 || total > MAX_MESSAGE_BYTES) throw new Error(`event-stream message of ${total} bytes`);
      if (this.buffer.length < total) break;
      out.push(toEvent(codec.decode(this.buffer.subarray(0, total))));
      this.buffer = this.buffer.subarray(total);
    }
    return out;
  }

  end(): SseEvent[] {
    // A truncated last message cannot be decoded (its CRC is missing): nothing to report.
    return [];
  }
}

/** Encodes an event back: exceptions (id "exception") as exception messages, the rest as events. */
export function encodeEvent(ev: SseEvent): Uint8Array {
  const body = fromUtf8(ev.data);
  if (ev.id === 'exception')
    return codec.encode({
      headers: {
        ':message-type': { type: 'string', value: 'exception' },
        ':exception-type': { type: 'string', value: ev.event ?? 'exception' },
        ':content-type': { type: 'string', value: 'application/json' },
      },
      body,
    });
  return codec.encode({
    headers: {
      ':message-type': { type: 'string', value: 'event' },
      ':event-type': { type: 'string', value: ev.event ?? 'event' },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body,
  });
}

export const EVENT_STREAM_CODEC: StreamCodec = Object.freeze({
  contentType: 'application/vnd.amazon.eventstream',
  decoder: () => new EventStreamDecoder(),
  encode: encodeEvent,
});
