import { type AigovError, anthropicErrorBody } from '../../errors.js';

export function anthropicErrorResponse(err: AigovError): unknown {
  return anthropicErrorBody(err);
}

/**
 * @anthropic-ai/sdk's Stream raises APIError on an SSE event named "error", parsing its data
 * as the error body (node_modules/@anthropic-ai/sdk/core/streaming.js) — the same frame the
 * Anthropic API itself sends for mid-stream overloads.
 */
export function anthropicStreamErrorEvent(err: AigovError): string {
  return `event: error\ndata: ${JSON.stringify(anthropicErrorBody(err))}\n\n`;
}
