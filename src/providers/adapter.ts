/**
 * The one interface between the proxy and a provider API family.
 *
 * Routes and forwarding code never look inside provider bodies; they call an adapter:
 *
 *   const adapter = getAdapter(providerConfig.family, { authHeader });   // families.ts selects
 *   const spec = adapter.routeFor('POST', '/v1/chat/completions');   // undefined -> 404
 *   // only for spec.governed routes (GET /v1/models has no body: authenticate, then forward)
 *   const req = adapter.normalize({ route, provider, body });          // throws AigovError(invalid_request)
 *   ...decide on req (policies, limits)...
 *   const { body, clientWantsUsage } = adapter.prepareBody(req, redactedBody);
 *   const { url, headers } = adapter.buildUpstream({ baseUrl, route, search, incomingHeaders, credential, requestId });
 *   // non-stream: usage = adapter.usageFromBody(route, json); texts = adapter.responseTexts(route, json)
 *   // stream:     tracker = adapter.createStreamTracker({ route, clientWantsUsage });
 *   //             for each SseEvent from SseParser: if (tracker.onEvent(ev).forward) write its raw bytes
 *   //             (see `forward` below) ... tracker.usage(), tracker.text(), tracker.finished()
 *   // errors:     reply adapter.errorBody(err) with err.status, or write adapter.streamErrorEvent(err)
 *
 * Base URL convention: configure it WITHOUT the trailing /v1 (https://api.openai.com,
 * https://host/openai for a path-prefixed gateway). A base URL ending in /v1 is accepted too:
 * the /v1 is stripped so routes (which all start with /v1) are never doubled.
 */
import type { AigovError } from '../errors.js';
import type { SseEvent } from './sse.js';
import type { JsonPath, NormalizedRequest, ProviderFamily, TextSlot, Usage } from './types.js';

export type RouteKind =
  | 'chat'
  | 'completions'
  | 'embeddings'
  | 'responses'
  | 'models'
  | 'messages'
  | 'count_tokens'
  | 'images'
  | 'audio_speech'
  | 'audio_transcription'
  | 'moderations'
  | 'files'
  | 'batches'
  | 'generate'
  | 'converse'
  | 'invoke';

export interface RouteSpec {
  method: 'GET' | 'POST' | 'DELETE';
  /**
   * The route's identity as the provider documents it (what audit rows and policies' `route` see):
   * a literal path (/v1/chat/completions), a template whose `{name}` segments come from the
   * request path (/openai/deployments/{deployment}/chat/completions, /model/{modelId}/converse),
   * or an OpenAI resource path whose `:name` segments are ids (/v1/files/:file_id).
   */
  path: string;
  /**
   * The HTTP router pattern serving this route when `path` is a template (":name" parameters or a
   * "*" wildcard). Several routes may share one pattern (Gemini's "{model}:action" paths): the
   * adapter's routeFor(method, concretePath) picks the route per request.
   */
  url?: string;
  kind: RouteKind;
  /** false: only authenticate (e.g. GET /v1/models); no policies, limits or budgets. */
  governed: boolean;
  /**
   * How the request body arrives: JSON (default) or multipart/form-data, whose text fields are
   * normalised as a flat object of strings and whose file parts are streamed, never held whole.
   */
  body?: 'json' | 'multipart';
  /** The answer may be binary (audio, file content): relayed as a stream, untouched. */
  binary?: boolean;
}

export interface NormalizeInput {
  /** Route without any /<provider> prefix, e.g. "/v1/messages". */
  route: string;
  /** Configured provider name (e.g. "openai", "groq"). */
  provider: string;
  /** The parsed JSON body; any JSON value is accepted and either normalised or refused. */
  body: unknown;
  /** Extra metadata (e.g. /v1/check's `metadata`); wins over body.metadata on key clashes. */
  metadata?: Record<string, string>;
  /**
   * The concrete request path (no provider prefix, no query) when `route` is a template: families
   * whose model is in the path (azure, gemini, bedrock) read it from here. Absent for /v1/check,
   * where the body's top-level `model` names it instead.
   */
  path?: string;
}

export interface UpstreamInput {
  baseUrl: string;
  route: string;
  /** The incoming query string, with or without the leading "?" ("" for none). */
  search: string;
  /** Node's IncomingHttpHeaders (lower-case names). */
  incomingHeaders: Record<string, string | string[] | undefined>;
  /** Provider credential to inject; null sends none (e.g. a local model server). */
  credential: string | null;
  requestId: string;
  /** The concrete request path when `route` is a template (see NormalizeInput.path). */
  path?: string;
}

/** What a signing adapter signs: the request as built, plus the exact bytes of its body. */
export interface SignInput extends UpstreamRequest {
  method: string;
  body: Buffer | string | null;
}

export interface UpstreamRequest {
  url: string;
  headers: Record<string, string>;
}

export interface PreparedBody {
  body: Record<string, unknown>;
  /** The body differs from the input and must be re-serialised. */
  changed: boolean;
  /**
   * The client asked for usage in the stream itself. When false and the adapter injected the
   * request for usage, the tracker drops the usage-only chunk so the client sees what it asked for.
   */
  clientWantsUsage: boolean;
}

export interface StreamTrackerOptions {
  /** From prepareBody; default true (forward everything). */
  clientWantsUsage?: boolean;
  /** The route, when known; trackers also recognise event shapes without it. */
  route?: string;
}

export interface StreamTracker {
  /**
   * Observe one parsed event. `forward: false` means: do not send this event's bytes to the
   * client (only the injected usage-only chunk the client did not ask for). Since the parser
   * reports parsed events, a forwarder that filters re-serialises forwarded events with
   * `serializeSseEvent`; one that does not need filtering (forward is always true when
   * clientWantsUsage is true) may pass upstream bytes through untouched.
   */
  onEvent(ev: SseEvent): { forward: boolean };
  usage(): Usage;
  /** Output text so far: content deltas and tool-call argument fragments, one line per choice/block. */
  text(): string;
  /** Saw the stream's proper end ([DONE], message_stop, response.completed). */
  finished(): boolean;
}

export interface AdapterOptions {
  /** Header carrying the provider credential for OpenAI-compatible APIs: Azure uses "api-key". */
  authHeader?: 'authorization' | 'api-key';
  /** Ask OpenAI-compatible upstreams for stream usage (stream_options.include_usage); default true. */
  injectStreamUsage?: boolean;
  /** Azure OpenAI: deployment name -> model name. */
  deployments?: Readonly<Record<string, string>>;
  /** Bedrock: region and AWS credentials for SigV4 (from the standard AWS environment variables). */
  aws?: AwsSigning;
}

export interface AwsSigning {
  region: string;
  accessKeyId: string | null;
  secretAccessKey: string | null;
  sessionToken: string | null;
}

/** Incremental decoder of a streamed answer into events (SSE events, or event-stream messages). */
export interface StreamDecoder {
  push(chunk: Buffer): SseEvent[];
  /** Whatever the stream's end completes. */
  end(): SseEvent[];
}

/**
 * How a family frames streamed answers. SSE is the default; Bedrock's AWS event-stream messages
 * are decoded into SseEvent values (event = the message's :event-type, data = its JSON payload)
 * so trackers and output rules work unchanged, and encoded back for the client.
 */
export interface StreamCodec {
  /** Content type of a streamed answer (matched as a substring of the upstream's). */
  contentType: string;
  decoder(): StreamDecoder;
  encode(ev: SseEvent): string | Uint8Array;
}

export interface ProviderAdapter {
  readonly family: ProviderFamily;
  readonly routes: readonly RouteSpec[];
  routeFor(method: string, path: string): RouteSpec | undefined;
  /** Best route for a bare body (used by /v1/check, which has no route of its own). */
  inferRoute(body: unknown): string;
  normalize(input: NormalizeInput): NormalizedRequest;
  buildUpstream(input: UpstreamInput): UpstreamRequest;
  prepareBody(req: NormalizedRequest, body: Record<string, unknown>): PreparedBody;
  usageFromBody(route: string, body: unknown): Usage;
  createStreamTracker(opts?: StreamTrackerOptions): StreamTracker;
  /** Output text of a non-streamed response, with paths so output redaction can rewrite it. */
  responseTexts(route: string, body: unknown): TextSlot[];
  errorBody(err: AigovError): unknown;
  /** Bytes that end a stream with an error the provider's SDK raises as an APIError. */
  streamErrorEvent(err: AigovError): string | Uint8Array;
  /** Extra headers on an error answer (Bedrock's x-amzn-ErrorType names the SDK's error class). */
  errorHeaders?(err: AigovError): Record<string, string>;
  /** The model the concrete request path names (azure deployment, gemini and bedrock model), if any. */
  modelFromPath?(path: string): string | null;
  /** Non-SSE stream framing; absent: text/event-stream. */
  readonly streamCodec?: StreamCodec;
  /** A query parameter that may carry the caller's key (Gemini's `?key=`); never forwarded. */
  readonly queryKey?: string;
  /**
   * Signs the built request (SigV4); called with the exact body bytes right before sending.
   * Throws a catalogue error when the provider has no usable credential.
   */
  sign?(req: SignInput): Promise<UpstreamRequest>;
  /**
   * This provider can stand in for one of another family (a fallback) with the same body: the
   * route to call here for that family's route, or undefined when it cannot.
   */
  fallbackRoute?(family: ProviderFamily, route: string): string | undefined;
}

export type { JsonPath };
