import type { KeyIdentity } from '../auth/identity.js';
import type { JsonPath, NormalizedRequest } from '../providers/types.js';
import { normalizeForDetection, type NormalizedText } from './detectors/normalize.js';
import type { Detector, Finding } from './detectors/types.js';
import type { MessageFacts } from './message.js';

export interface SlotView {
  /** Null when the text has no place in the body (a bare `prompt` without texts). */
  path: JsonPath | null;
  text: string;
}

const EMPTY_METADATA: Readonly<Record<string, unknown>> = Object.freeze({});
const NO_TAGS: readonly string[] = Object.freeze([]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

function str(v: unknown, fallback: string): string {
  return typeof v === 'string' ? v : fallback;
}

function strOrNull(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function slotsOf(texts: unknown, prompt: string): SlotView[] {
  const slots: SlotView[] = [];
  if (Array.isArray(texts)) {
    for (const t of texts as unknown[]) {
      if (isRecord(t) && typeof t.text === 'string') {
        slots.push({ path: Array.isArray(t.path) ? (t.path as JsonPath) : null, text: t.text });
      }
    }
  }
  if (slots.length === 0 && prompt !== '') slots.push({ path: null, text: prompt });
  return slots;
}

/**
 * One evaluation's view of the request: fields read defensively once (evaluate is total even on
 * malformed input), and detector results memoised so each detector runs at most once per call.
 */
export class EvalContext implements MessageFacts {
  readonly model: string | null;
  readonly provider: string;
  readonly route: string;
  readonly prompt: string;
  readonly maxTokens: number | null;
  readonly stream: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly keyId: string;
  readonly keyName: string | null;
  readonly team: string | null;
  readonly owner: string;
  readonly tags: readonly string[];
  readonly slots: SlotView[];
  /** MCP server and tool name: set for tool calls and tool results only. */
  readonly server: string | null;
  readonly tool: string | null;
  private normalized: (NormalizedText | undefined)[] | undefined;
  private lowered: (string | undefined)[] | undefined;
  private findings: Map<string, Finding[][]> | undefined;

  constructor(req: NormalizedRequest | unknown, key: KeyIdentity | unknown) {
    const r: Record<string, unknown> = isRecord(req) ? req : {};
    const k: Record<string, unknown> = isRecord(key) ? key : {};
    this.model = strOrNull(r.model);
    this.provider = str(r.provider, '');
    this.route = str(r.route, '');
    this.maxTokens = typeof r.maxTokens === 'number' && !Number.isNaN(r.maxTokens) ? r.maxTokens : null;
    this.stream = r.stream === true;
    this.metadata = isRecord(r.metadata) ? r.metadata : EMPTY_METADATA;
    this.keyId = str(k.id, '');
    this.keyName = strOrNull(k.name);
    this.team = strOrNull(k.team);
    this.owner = str(k.owner, '');
    this.tags = Array.isArray(k.tags) ? (k.tags as unknown[]).filter((t) => typeof t === 'string') : NO_TAGS;
    const textsPrompt = typeof r.prompt === 'string' ? r.prompt : '';
    this.slots = slotsOf(r.texts, textsPrompt);
    this.server = strOrNull(r.server);
    this.tool = strOrNull(r.tool);
    this.prompt = typeof r.prompt === 'string' ? r.prompt : this.slots.map((s) => s.text).join('\n');
  }

  normalizedSlot(i: number): NormalizedText {
    this.normalized ??= new Array<NormalizedText | undefined>(this.slots.length);
    let n = this.normalized[i];
    if (n === undefined) {
      n = normalizeForDetection(this.slots[i]?.text ?? '');
      this.normalized[i] = n;
    }
    return n;
  }

  /** Normalised and lower-cased, for case-insensitive `contains`. */
  loweredSlot(i: number): string {
    this.lowered ??= new Array<string | undefined>(this.slots.length);
    let l = this.lowered[i];
    if (l === undefined) {
      l = this.normalizedSlot(i).text.toLowerCase();
      this.lowered[i] = l;
    }
    return l;
  }

  /** Findings of one detector in every slot; computed on first use only. */
  findingsOf(detector: Detector): Finding[][] {
    this.findings ??= new Map();
    let perSlot = this.findings.get(detector.name);
    if (perSlot === undefined) {
      perSlot = this.slots.map((_, i) => detector.find(this.normalizedSlot(i).text));
      this.findings.set(detector.name, perSlot);
    }
    return perSlot;
  }

  /** Which detectors ran (for tests asserting the memoisation and laziness). */
  detectorsRun(): string[] {
    return this.findings === undefined ? [] : [...this.findings.keys()];
  }
}
