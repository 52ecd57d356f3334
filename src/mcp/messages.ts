/**
 * JSON-RPC messages of MCP's Streamable HTTP transport, read with the official SDK's schemas.
 * The relay forwards the caller's own objects (the SDK schemas strip fields they do not know, and
 * a gateway must not drop a newer protocol revision's fields); the schemas only decide validity.
 */
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  ErrorCode,
  JSONRPCMessageSchema,
  ListToolsResultSchema,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { ToolFacts } from '../policy/index.js';
import { stringsOf } from '../governance/tools.js';

export type { JSONRPCMessage, JSONRPCRequest, JSONRPCErrorResponse };
export { isJSONRPCErrorResponse, isJSONRPCNotification, isJSONRPCRequest, isJSONRPCResultResponse };

export type RequestId = string | number;

/**
 * aigov's own JSON-RPC error codes, in the range JSON-RPC reserves for implementation-defined
 * server errors (-32000..-32099), clear of the codes the MCP SDK uses (-32000, -32001, -32042).
 */
export const AIGOV_RPC = {
  policyBlocked: -32010,
  approvalRequired: -32011,
  rateLimited: -32012,
  unauthorized: -32013,
  upstream: -32014,
  unavailable: -32015,
} as const;

export const RPC = {
  parseError: ErrorCode.ParseError,
  invalidRequest: ErrorCode.InvalidRequest,
  invalidParams: ErrorCode.InvalidParams,
} as const;

export function rpcError(
  id: RequestId | null,
  code: number,
  message: string,
  data?: unknown,
): JSONRPCErrorResponse {
  return {
    jsonrpc: '2.0',
    ...(id === null ? {} : { id }),
    error: { code, message, ...(data === undefined ? {} : { data }) },
  } as JSONRPCErrorResponse;
}

/** An HTTP body as JSON-RPC: one message or a batch; `problem` when it is not valid JSON-RPC. */
export type ParsedBody =
  | { ok: true; batch: boolean; messages: Record<string, unknown>[] }
  | { ok: false; code: number; message: string };

export function parseBody(text: string): ParsedBody {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: RPC.parseError, message: 'Parse error: body is not valid JSON' };
  }
  const batch = Array.isArray(raw);
  const list: unknown[] = batch ? (raw as unknown[]) : [raw];
  if (list.length === 0)
    return { ok: false, code: RPC.invalidRequest, message: 'Invalid Request: empty batch' };
  if (list.length > 100)
    return {
      ok: false,
      code: RPC.invalidRequest,
      message: 'Invalid Request: batch of more than 100 messages',
    };
  for (const [i, m] of list.entries()) {
    const parsed = JSONRPCMessageSchema.safeParse(m);
    if (!parsed.success)
      return {
        ok: false,
        code: RPC.invalidRequest,
        message: `Invalid Request: ${batch ? `message ${i} ` : ''}is not a JSON-RPC 2.0 message`,
      };
  }
  return { ok: true, batch, messages: list as Record<string, unknown>[] };
}

/** The tool call a `tools/call` request carries, or an invalid-params problem. */
export function toolCallOf(
  m: Record<string, unknown>,
): { ok: true; tool: string; arguments: Record<string, unknown> } | { ok: false; message: string } {
  const parsed = CallToolRequestSchema.safeParse(m);
  if (!parsed.success)
    return { ok: false, message: 'Invalid params: tools/call needs params.name (a string)' };
  return { ok: true, tool: parsed.data.params.name, arguments: parsed.data.params.arguments ?? {} };
}

/** `tools/call` with new arguments; the caller's object is not changed. */
export function withArguments(
  m: Record<string, unknown>,
  args: Record<string, unknown>,
): Record<string, unknown> {
  const params = (m.params ?? {}) as Record<string, unknown>;
  return { ...m, params: { ...params, arguments: args } };
}

/** A valid `tools/list` result's tools minus those `keep` rejects; null when the result is not one. */
export function filterToolList(
  result: unknown,
  keep: (name: string) => boolean,
): { result: unknown; hidden: string[] } | null {
  if (!ListToolsResultSchema.safeParse(result).success) return null;
  const r = result as { tools: { name: string }[] };
  const hidden: string[] = [];
  const tools = r.tools.filter((t) => {
    if (keep(t.name)) return true;
    hidden.push(t.name);
    return false;
  });
  return { result: hidden.length === 0 ? result : { ...r, tools }, hidden };
}

/**
 * The text a tool result carries, with paths into the result: text content blocks, embedded text
 * resources, and every string of structuredContent. Null when the result is not a tool result.
 */
export function toolResultTexts(result: unknown): ToolFacts['texts'] | null {
  if (!CallToolResultSchema.safeParse(result).success) return null;
  const r = result as { content?: unknown[]; structuredContent?: unknown };
  const texts: ToolFacts['texts'] = [];
  (r.content ?? []).forEach((block, i) => {
    if (typeof block !== 'object' || block === null) return;
    const b = block as Record<string, unknown>;
    if (typeof b.text === 'string') texts.push({ path: ['content', i, 'text'], text: b.text });
    const res = b.resource;
    if (typeof res === 'object' && res !== null && typeof (res as Record<string, unknown>).text === 'string')
      texts.push({ path: ['content', i, 'resource', 'text'], text: (res as { text: string }).text });
  });
  if (r.structuredContent !== undefined) stringsOf(r.structuredContent, ['structuredContent'], texts);
  return texts;
}
