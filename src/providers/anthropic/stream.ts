import type { StreamTracker, StreamTrackerOptions } from '../adapter.js';
import type { SseEvent } from '../sse.js';
import { eventJson, isPlainObject } from '../text-walk.js';
import type { Usage } from '../types.js';
import { count, makeUsage, withDetails } from '../usage-helpers.js';
import { cacheOf, promptTokensOf } from './usage.js';

const FORWARD = Object.freeze({ forward: true });

/**
 * message_start carries input usage, message_delta the cumulative output count (and, in newer
 * API versions, cumulative input counts too, which then win). Anthropic streams never need
 * filtering: usage is always included, so every event is forwarded.
 */
class AnthropicStreamTracker implements StreamTracker {
  private prompt: number | null = null;
  private completion: number | null = null;
  private cache: { cached: number | null; cacheWrite: number | null } = { cached: null, cacheWrite: null };
  private readonly parts = new Map<number, string[]>();
  private done = false;

  onEvent(ev: SseEvent): { forward: boolean } {
    const json = eventJson(ev.data);
    if (json === null) return FORWARD;
    switch (json['type'] ?? ev.event) {
      case 'message_start': {
        const message = json['message'];
        if (isPlainObject(message) && isPlainObject(message['usage'])) this.takeUsage(message['usage']);
        break;
      }
      case 'content_block_delta': {
        const delta = json['delta'];
        if (!isPlainObject(delta)) break;
        const piece = delta['text'] ?? delta['partial_json'] ?? delta['thinking'];
        const index = count(json['index']) ?? 0;
        if (typeof piece === 'string' && piece.length > 0) {
          const list = this.parts.get(index);
          if (list === undefined) this.parts.set(index, [piece]);
          else list.push(piece);
        }
        break;
      }
      case 'message_delta':
        if (isPlainObject(json['usage'])) this.takeUsage(json['usage']);
        break;
      case 'message_stop':
        this.done = true;
        break;
      default:
        break;
    }
    return FORWARD;
  }

  private takeUsage(usage: Record<string, unknown>): void {
    const prompt = promptTokensOf(usage);
    if (prompt !== null) {
      this.prompt = prompt;
      this.cache = cacheOf(usage);
    }
    const completion = count(usage['output_tokens']);
    if (completion !== null) this.completion = completion;
  }

  usage(): Usage {
    return withDetails(makeUsage(this.prompt, this.completion, null), this.cache);
  }

  text(): string {
    const keys = [...this.parts.keys()].sort((a, b) => a - b);
    return keys.map((k) => this.parts.get(k)!.join('')).join('\n');
  }

  finished(): boolean {
    return this.done;
  }
}

export function createAnthropicStreamTracker(_opts: StreamTrackerOptions = {}): StreamTracker {
  return new AnthropicStreamTracker();
}
