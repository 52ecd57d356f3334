import type { StreamTracker, StreamTrackerOptions } from '../adapter.js';
import type { SseEvent } from '../sse.js';
import { isPlainObject } from '../text-walk.js';
import type { Usage } from '../types.js';
import { UNKNOWN_USAGE } from '../usage-helpers.js';
import { usageFromObject } from './usage.js';

const FORWARD = Object.freeze({ forward: true });
const DROP = Object.freeze({ forward: false });

/** Terminal events of the responses API, which (unlike chat) sends no [DONE]. */
const RESPONSES_TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);
const RESPONSES_TEXT_DELTAS = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.function_call_arguments.delta',
]);

/**
 * Follows chat-completion chunks, legacy completion chunks and responses-API events.
 * Output text is kept per choice (or per output item) so parallel choices do not interleave.
 */
class OpenAIStreamTracker implements StreamTracker {
  private readonly clientWantsUsage: boolean;
  private readonly route: string | undefined;
  private readonly parts = new Map<string, string[]>();
  private seenUsage: Usage = UNKNOWN_USAGE;
  private done = false;

  constructor(opts: StreamTrackerOptions) {
    this.clientWantsUsage = opts.clientWantsUsage ?? true;
    this.route = opts.route;
  }

  onEvent(ev: SseEvent): { forward: boolean } {
    const data = ev.data;
    if (data.startsWith('[DONE]')) {
      this.done = true;
      return FORWARD;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return FORWARD;
    }
    if (!isPlainObject(json)) return FORWARD;
    const type = json['type'];
    if (typeof type === 'string' && type.startsWith('response.')) {
      this.onResponsesEvent(type, json);
      return FORWARD;
    }
    const choices = json['choices'];
    if (Array.isArray(choices)) {
      for (const choice of choices) this.onChoice(choice);
    }
    if (isPlainObject(json['usage'])) {
      this.seenUsage = usageFromObject(json['usage'], this.route);
      // The chunk we added by asking for include_usage: no choices, only usage. Chunks that
      // also carry choices (some compatible servers do that) are forwarded whole.
      if (!this.clientWantsUsage && Array.isArray(choices) && choices.length === 0) return DROP;
    }
    return FORWARD;
  }

  private onChoice(choice: unknown): void {
    if (!isPlainObject(choice)) return;
    const key = String(choice['index'] ?? 0);
    const delta = choice['delta'];
    if (isPlainObject(delta)) {
      this.add(key, delta['content']);
      this.add(key, delta['refusal']);
      const calls = delta['tool_calls'];
      if (Array.isArray(calls)) {
        for (const call of calls) {
          if (isPlainObject(call) && isPlainObject(call['function']))
            this.add(key, call['function']['arguments']);
        }
      }
    }
    // Legacy /v1/completions chunks.
    this.add(key, choice['text']);
  }

  private onResponsesEvent(type: string, json: Record<string, unknown>): void {
    if (RESPONSES_TEXT_DELTAS.has(type)) {
      this.add(`${String(json['output_index'] ?? 0)}`, json['delta']);
    } else if (RESPONSES_TERMINAL.has(type)) {
      const response = json['response'];
      if (isPlainObject(response) && isPlainObject(response['usage'])) {
        this.seenUsage = usageFromObject(response['usage'], this.route);
      }
      this.done = true;
    }
  }

  private add(key: string, piece: unknown): void {
    if (typeof piece !== 'string' || piece.length === 0) return;
    const list = this.parts.get(key);
    if (list === undefined) this.parts.set(key, [piece]);
    else list.push(piece);
  }

  usage(): Usage {
    return this.seenUsage;
  }

  text(): string {
    const keys = [...this.parts.keys()].sort((a, b) => Number(a) - Number(b));
    return keys.map((k) => this.parts.get(k)!.join('')).join('\n');
  }

  finished(): boolean {
    return this.done;
  }
}

export function createOpenAIStreamTracker(opts: StreamTrackerOptions = {}): StreamTracker {
  return new OpenAIStreamTracker(opts);
}
