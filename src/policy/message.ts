/** The request facts a message can mention, already sanitised by the evaluation context. */
export interface MessageFacts {
  model: string | null;
  provider: string;
  route: string;
  team: string | null;
  owner: string;
  keyId: string;
  /** MCP server and tool of a tool call (null for LLM requests). */
  server: string | null;
  tool: string | null;
}

export const MESSAGE_PLACEHOLDERS = [
  'model',
  'provider',
  'route',
  'team',
  'owner',
  'key_id',
  'rule',
  'server',
  'tool',
] as const;
type Placeholder = (typeof MESSAGE_PLACEHOLDERS)[number];

const PLACEHOLDER_RE = /\{\{\s*([a-zA-Z_]+)\s*\}\}/g;

export function unknownPlaceholders(template: string): string[] {
  const known = new Set<string>(MESSAGE_PLACEHOLDERS);
  const bad: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER_RE)) {
    const name = m[1] ?? '';
    if (!known.has(name)) bad.push(name);
  }
  return bad;
}

export type MessageRenderer = (facts: MessageFacts) => string;

function valueOf(name: Placeholder, ruleId: string, f: MessageFacts): string {
  switch (name) {
    case 'model':
      return f.model ?? 'unknown';
    case 'provider':
      return f.provider;
    case 'route':
      return f.route;
    case 'team':
      return f.team ?? 'none';
    case 'owner':
      return f.owner;
    case 'key_id':
      return f.keyId;
    case 'rule':
      return ruleId;
    case 'server':
      return f.server ?? 'none';
    case 'tool':
      return f.tool ?? 'none';
  }
}

/** Splits the template once at load; rendering is then a join of literal parts and lookups. */
export function compileMessage(template: string, ruleId: string): MessageRenderer {
  const parts: (string | Placeholder)[] = [];
  const literal: boolean[] = [];
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER_RE)) {
    parts.push(template.slice(last, m.index));
    literal.push(true);
    parts.push((m[1] ?? 'rule') as Placeholder);
    literal.push(false);
    last = m.index + m[0].length;
  }
  if (parts.length === 0) return () => template;
  parts.push(template.slice(last));
  literal.push(true);
  return (facts) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      out += literal[i] === true ? p : valueOf(p as Placeholder, ruleId, facts);
    }
    return out;
  };
}
