import { Pool, type Dispatcher } from 'undici';
import type { McpServerConfig } from '../config/schema.js';
import { AigovError } from '../errors.js';

/** Caller headers the Streamable HTTP transport defines; nothing else of the caller's is forwarded. */
const PASSED_THROUGH = ['accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'] as const;

/** Upstream answer headers the client needs back (session, protocol, body type, method list). */
export const RETURNED_HEADERS = ['content-type', 'mcp-session-id', 'mcp-protocol-version', 'allow'] as const;

export interface McpServerRuntime {
  name: string;
  url: URL;
  /** Configured headers with values read from the environment; missing variables are listed. */
  headers: Record<string, string>;
  missingEnv: string[];
  pool: Pool;
  firstByteMs: number;
}

/** The configured upstream MCP servers, each with its own connection pool. */
export class McpServers {
  private readonly byName = new Map<string, McpServerRuntime>();

  constructor(servers: readonly McpServerConfig[], env: Record<string, string | undefined>) {
    for (const s of servers) {
      const url = new URL(s.url);
      const headers: Record<string, string> = {};
      const missingEnv: string[] = [];
      for (const [name, envName] of Object.entries(s.headers)) {
        const value = env[envName];
        if (value === undefined || value === '') missingEnv.push(envName);
        else headers[name.toLowerCase()] = value;
      }
      this.byName.set(s.name, {
        name: s.name,
        url,
        headers,
        missingEnv,
        pool: new Pool(url.origin, {
          connect: { timeout: s.timeouts.connect },
          headersTimeout: s.timeouts.first_byte,
          // MCP's GET stream and SSE answers stay open for as long as the session lives.
          bodyTimeout: 0,
        }),
        firstByteMs: s.timeouts.first_byte,
      });
    }
  }

  get(name: string): McpServerRuntime | undefined {
    return this.byName.get(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  async close(): Promise<void> {
    // GET streams live as long as their sessions: at shutdown they are cut, not waited for.
    await Promise.allSettled([...this.byName.values()].map((s) => s.pool.destroy()));
  }
}

/**
 * Headers for the upstream: the transport's own headers from the caller (an allow-list: the
 * caller's Authorization, cookies and anything else stay here), then the configured ones.
 */
export function upstreamHeaders(
  server: McpServerRuntime,
  incoming: Record<string, string | string[] | undefined>,
  requestId: string,
  hasBody: boolean,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASSED_THROUGH) {
    const v = incoming[name];
    if (typeof v === 'string') out[name] = v;
    else if (Array.isArray(v)) out[name] = v.join(', ');
  }
  if (hasBody) out['content-type'] = 'application/json';
  out['accept-encoding'] = 'identity';
  out['x-request-id'] = requestId;
  Object.assign(out, server.headers);
  return out;
}

export interface McpUpstreamCall {
  method: 'GET' | 'POST' | 'DELETE';
  headers: Record<string, string>;
  body: string | null;
  signal: AbortSignal;
}

/** One request to the server's URL; connection failures become the catalogue's 502/504. */
export async function sendToServer(
  server: McpServerRuntime,
  call: McpUpstreamCall,
): Promise<Dispatcher.ResponseData> {
  if (server.missingEnv.length > 0)
    throw new AigovError('provider_not_configured', {
      message: `MCP server ${server.name} is not configured: set ${server.missingEnv.join(', ')}`,
    });
  try {
    return await server.pool.request({
      method: call.method,
      path: server.url.pathname + server.url.search,
      headers: call.headers,
      body: call.body,
      signal: call.signal,
    });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT')
      throw new AigovError('upstream_timeout', {
        message: `MCP server ${server.name} timed out`,
        cause: err,
      });
    throw new AigovError('upstream_error', {
      message: `MCP server ${server.name} is unreachable`,
      cause: err,
    });
  }
}
