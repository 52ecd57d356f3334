import { isPlainObject } from '../text-walk.js';
import type { TextSlot } from '../types.js';

/** Assistant output of a non-streamed chat, completions or responses answer, with paths. */
export function openAIResponseTexts(_route: string, body: unknown): TextSlot[] {
  const out: TextSlot[] = [];
  if (!isPlainObject(body)) return out;
  const choices = body['choices'];
  if (Array.isArray(choices)) {
    choices.forEach((choice, i) => {
      if (!isPlainObject(choice)) return;
      const message = choice['message'];
      if (isPlainObject(message)) {
        if (typeof message['content'] === 'string') {
          out.push({
            path: ['choices', i, 'message', 'content'],
            role: 'assistant',
            text: message['content'],
          });
        }
        if (typeof message['refusal'] === 'string') {
          out.push({
            path: ['choices', i, 'message', 'refusal'],
            role: 'assistant',
            text: message['refusal'],
          });
        }
        const calls = message['tool_calls'];
        if (Array.isArray(calls)) {
          calls.forEach((call, k) => {
            if (isPlainObject(call) && isPlainObject(call['function'])) {
              const args = call['function']['arguments'];
              if (typeof args === 'string') {
                out.push({
                  path: ['choices', i, 'message', 'tool_calls', k, 'function', 'arguments'],
                  role: 'assistant',
                  text: args,
                });
              }
            }
          });
        }
      }
      if (typeof choice['text'] === 'string') {
        out.push({ path: ['choices', i, 'text'], role: 'assistant', text: choice['text'] });
      }
    });
    return out;
  }
  const output = body['output'];
  if (Array.isArray(output)) {
    output.forEach((item, i) => {
      if (!isPlainObject(item)) return;
      if (item['type'] === 'function_call' && typeof item['arguments'] === 'string') {
        out.push({ path: ['output', i, 'arguments'], role: 'assistant', text: item['arguments'] });
        return;
      }
      const content = item['content'];
      if (!Array.isArray(content)) return;
      content.forEach((part, j) => {
        if (!isPlainObject(part)) return;
        for (const field of ['text', 'refusal'] as const) {
          if (typeof part[field] === 'string') {
            out.push({ path: ['output', i, 'content', j, field], role: 'assistant', text: part[field] });
          }
        }
      });
    });
  }
  return out;
}
