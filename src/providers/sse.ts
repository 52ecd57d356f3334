import { StringDecoder } from 'node:string_decoder';

/**
 * Incremental Server-Sent Events parser (WHATWG "event stream interpretation").
 *
 * The proxy forwards upstream bytes untouched and feeds a copy through this parser only to
 * observe usage and output text, so it must never fail and never hold more than one event.
 *
 * Choices worth knowing:
 * - `event` is null when the event had no `event:` field (SDKs test for null, not "message").
 * - Chunks may be split anywhere: inside a multi-byte UTF-8 character (a StringDecoder keeps the
 *   partial bytes) and between "\r" and "\n" (a trailing "\r" remembers to swallow the "\n").
 * - An event larger than `maxEventSize` (UTF-16 code units of its field lines, ~bytes for ASCII)
 *   is dropped whole, not truncated: a truncated JSON payload would be misread. Drops are
 *   counted in `droppedEvents`; the parser resynchronises at the next blank line.
 * - `end()` dispatches a final event that lacks its terminating blank line. The spec discards
 *   it, but for accounting a truncated upstream stream still carries usage worth reading.
 */

export interface SseEvent {
  event: string | null;
  data: string;
  id?: string;
}

export interface SseParserOptions {
  /** Largest event kept, in UTF-16 code units; default 1 MiB. */
  maxEventSize?: number;
}

const LF = 10;
const DEFAULT_MAX_EVENT_SIZE = 1024 * 1024;

export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  private readonly maxEventSize: number;
  /** The unterminated tail of the previous chunk. */
  private pending = '';
  /** Previous chunk ended in "\r": a leading "\n" in the next chunk belongs to that line break. */
  private skipLeadingLf = false;
  private atStreamStart = true;
  private dataParts: string[] = [];
  private hasData = false;
  private eventType: string | null = null;
  private eventId: string | undefined = undefined;
  private eventSize = 0;
  /** The current event grew too large; ignore its lines until the blank line that ends it. */
  private discardingEvent = false;
  /** The current line alone grew too large; ignore characters until its line break. */
  private discardingLine = false;
  private dropped = 0;

  constructor(options: SseParserOptions = {}) {
    this.maxEventSize = options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE;
  }

  /** Events dropped because they exceeded `maxEventSize`. */
  get droppedEvents(): number {
    return this.dropped;
  }

  push(chunk: Buffer | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const out: SseEvent[] = [];
    if (text.length > 0) this.consume(text, out);
    return out;
  }

  /** Flush: the stream is over. Dispatches an unterminated last event (see the file comment). */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    const rest = this.decoder.end();
    if (rest.length > 0) this.consume(rest, out);
    if (this.pending.length > 0 && !this.discardingLine) this.processLine(this.pending, out);
    this.pending = '';
    this.discardingLine = false;
    this.dispatch(out);
    return out;
  }

  private consume(text: string, out: SseEvent[]): void {
    let pos = 0;
    if (this.atStreamStart) {
      this.atStreamStart = false;
      if (text.charCodeAt(0) === 0xfeff) pos = 1;
    }
    if (this.skipLeadingLf) {
      this.skipLeadingLf = false;
      if (text.charCodeAt(pos) === LF) pos++;
    }
    const len = text.length;
    // Both break positions are cached: most streams have no CR at all (or no LF), and rescanning
    // to the end for the missing one on every line would be quadratic.
    let nextCr = text.indexOf('\r', pos);
    let nextLf = text.indexOf('\n', pos);
    while (pos < len) {
      if (nextCr !== -1 && nextCr < pos) nextCr = text.indexOf('\r', pos);
      if (nextLf !== -1 && nextLf < pos) nextLf = text.indexOf('\n', pos);
      let end: number;
      let breakLen = 1;
      if (nextCr !== -1 && (nextLf === -1 || nextCr < nextLf)) {
        end = nextCr;
        if (end + 1 < len) {
          if (text.charCodeAt(end + 1) === LF) breakLen = 2;
        } else {
          this.skipLeadingLf = true;
        }
      } else if (nextLf !== -1) {
        end = nextLf;
      } else {
        break;
      }
      if (this.discardingLine) {
        this.discardingLine = false;
      } else if (this.pending.length > 0) {
        const line = this.pending + text.slice(pos, end);
        this.pending = '';
        this.processLine(line, out);
      } else {
        this.processLine(text.slice(pos, end), out);
      }
      pos = end + breakLen;
    }
    if (pos < len && !this.discardingLine) {
      // A long line arriving in many small chunks is appended (a cheap rope in V8) and only
      // flattened once its line break arrives, so its cost stays linear.
      if (this.eventSize + this.pending.length + (len - pos) > this.maxEventSize) {
        this.pending = '';
        this.discardingLine = true;
        this.markOversize();
      } else {
        this.pending += pos === 0 ? text : text.slice(pos);
      }
    }
  }

  private markOversize(): void {
    if (!this.discardingEvent) {
      this.discardingEvent = true;
      this.dropped++;
    }
    this.dataParts = [];
    this.hasData = false;
  }

  private processLine(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.dispatch(out);
      return;
    }
    if (this.discardingEvent) return;
    if (line.charCodeAt(0) === 58 /* ':' comment */) return;
    this.eventSize += line.length + 1;
    if (this.eventSize > this.maxEventSize) {
      this.markOversize();
      return;
    }
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      const start = line.charCodeAt(colon + 1) === 32 ? colon + 2 : colon + 1;
      value = line.slice(start);
    }
    switch (field) {
      case 'data':
        this.dataParts.push(value);
        this.hasData = true;
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.eventId = value;
        break;
      default:
        // retry and unknown fields carry nothing the proxy needs.
        break;
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (!this.discardingEvent && this.hasData) {
      const data = this.dataParts.length === 1 ? (this.dataParts[0] ?? '') : this.dataParts.join('\n');
      const ev: SseEvent = { event: this.eventType, data };
      if (this.eventId !== undefined) ev.id = this.eventId;
      out.push(ev);
    }
    this.dataParts = [];
    this.hasData = false;
    this.eventType = null;
    this.eventId = undefined;
    this.eventSize = 0;
    this.discardingEvent = false;
  }
}

/** Re-encode a parsed event (for forwarders that filter events; see StreamTracker.onEvent). */
export function serializeSseEvent(ev: SseEvent): string {
  let out = '';
  if (ev.event !== null) out += `event: ${ev.event}\n`;
  if (ev.id !== undefined) out += `id: ${ev.id}\n`;
  for (const line of ev.data.split('\n')) out += `data: ${line}\n`;
  return out + '\n';
}

/** Server-sent events: the stream framing of every family but Bedrock (see StreamCodec). */
export const SSE_CODEC = Object.freeze({
  contentType: 'text/event-stream',
  decoder: () => new SseParser(),
  encode: serializeSseEvent,
});
