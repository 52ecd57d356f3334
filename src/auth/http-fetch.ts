import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';

/**
 * GETs for identity-provider documents (OIDC discovery, JWKS, token endpoint answers): undici, no
 * redirects followed, a size cap, an optional private CA (the cluster CA in Kubernetes) and an
 * optional bearer token read from a file on every call (projected tokens rotate on disk).
 */
export interface IdpHttpOptions {
  caFile?: string | null;
  tokenFile?: string | null;
  timeoutMs?: number;
  maxBytes?: number;
}

export class IdpHttpError extends Error {
  override name = 'IdpHttpError';
}

export class IdpHttp {
  private readonly dispatcher: Agent;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(private readonly options: IdpHttpOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxBytes = options.maxBytes ?? 1024 * 1024;
    this.dispatcher = new Agent({
      connect: {
        timeout: this.timeoutMs,
        ...(options.caFile ? { ca: readFileSync(options.caFile, 'utf8') } : {}),
      },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  private authHeader(): Record<string, string> {
    if (!this.options.tokenFile) return {};
    return { authorization: `Bearer ${readFileSync(this.options.tokenFile, 'utf8').trim()}` };
  }

  /** Status and body bytes; throws on network failure, timeout or an oversized body. */
  async send(
    url: string,
    init: {
      method?: 'GET' | 'POST';
      headers?: Record<string, string>;
      body?: string;
      signal?: AbortSignal;
      auth?: boolean;
    } = {},
  ): Promise<{ status: number; body: Buffer; contentType: string }> {
    const res = await request(url, {
      method: init.method ?? 'GET',
      dispatcher: this.dispatcher,
      headers: {
        accept: 'application/json',
        ...(init.auth === false ? {} : this.authHeader()),
        ...(init.headers ?? {}),
      },
      body: init.body,
      // undici's request() never follows redirects: a 3xx is answered as is (and refused below).
      signal: init.signal ?? AbortSignal.timeout(this.timeoutMs),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > this.maxBytes) {
        res.body.destroy();
        throw new IdpHttpError(`${url}: answer larger than ${this.maxBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    const type = res.headers['content-type'];
    return {
      status: res.statusCode,
      body: Buffer.concat(chunks),
      contentType: typeof type === 'string' ? type : '',
    };
  }

  /** A JSON object from a 200 answer, or an IdpHttpError naming the URL. */
  async getJson(url: string): Promise<Record<string, unknown>> {
    const res = await this.send(url);
    if (res.status !== 200) throw new IdpHttpError(`${url} answered ${res.status}`);
    let value: unknown;
    try {
      value = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw new IdpHttpError(`${url} did not answer JSON`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new IdpHttpError(`${url} did not answer a JSON object`);
    return value as Record<string, unknown>;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/**
 * The OIDC discovery document of an issuer (`<issuer>/.well-known/openid-configuration`). Its
 * `issuer` must equal the configured one exactly (OpenID Connect Discovery 1.0, section 4.3).
 */
export async function discover(http: IdpHttp, issuer: string): Promise<Record<string, unknown>> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const doc = await http.getJson(url);
  if (doc.issuer !== issuer)
    throw new IdpHttpError(
      `${url} names issuer ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(issuer)}`,
    );
  return doc;
}

export function httpUrl(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new IdpHttpError(`the discovery document has no ${what}`);
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new IdpHttpError(`the discovery document's ${what} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new IdpHttpError(`the discovery document's ${what} is not http(s)`);
  return u.toString();
}
