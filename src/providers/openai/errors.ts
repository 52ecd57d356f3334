import { type AigovError, openAIErrorBody } from '../../errors.js';

/** The error body for a refusal; 400s carry the validation issues in `error.details`. */
export function openAIErrorResponse(err: AigovError): unknown {
  const body = openAIErrorBody(err);
  return err.details === undefined ? body : { error: { ...body.error, details: err.details } };
}

/**
 * The openai SDK's Stream raises APIError on any data chunk whose JSON has an `error` member
 * (node_modules/openai/core/streaming.js: `if (data && data.error) throw new APIError(...)`),
 * for chat, completions and responses streams alike. No `event:` line: the responses API path
 * of the SDK only inspects events whose name does not start with "thread.", which null satisfies.
 */
export function openAIStreamErrorEvent(err: AigovError): string {
  return `data: ${JSON.stringify(openAIErrorBody(err))}\n\n`;
}
