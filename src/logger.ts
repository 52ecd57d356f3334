import pino from 'pino';

export type Logger = pino.Logger;

const CREDENTIAL_HEADERS = [
  'authorization',
  'proxy-authorization',
  '["x-api-key"]',
  '["api-key"]',
  '["x-goog-api-key"]',
  '["x-admin-token"]',
  'cookie',
  '["set-cookie"]',
];

/**
 * Credentials never reach a log line: every header that can carry one is censored wherever it
 * appears (raw request headers, error contexts, upstream requests), and so are fields named like
 * a credential. Values that look like a secret anywhere else are caught by scrubSecrets below.
 */
export const REDACT_PATHS = [
  ...CREDENTIAL_HEADERS.flatMap((h) => {
    const suffix = h.startsWith('[') ? h : `.${h}`;
    return [`req.headers${suffix}`, `headers${suffix}`, `*.headers${suffix}`];
  }),
  'key',
  'apiKey',
  'api_key',
  'token',
  'adminToken',
  'password',
  '*.key',
  '*.apiKey',
  '*.api_key',
  '*.token',
  '*.password',
];

export const REDACTED = '[REDACTED]';

/**
 * Secrets by shape, matched in the finished JSON line: aigov keys, provider keys (OpenAI sk-,
 * sk-proj-, Anthropic sk-ant-), AWS access key ids, GitHub and Slack tokens, Bearer credentials,
 * and credential query parameters. Their characters never include `"` or `\`, so the replacement
 * keeps the line valid JSON.
 */

/** Start of a token: not inside a longer word, or right after a JSON escape such as `\n`. */
const START = String.raw`(?:(?<![A-Za-z0-9_-])|(?<=\\[nrtbf]))`;

const SECRET_RE = new RegExp(
  [
    String.raw`${START}aigov_[A-Za-z0-9_]{16,}`,
    String.raw`${START}sk-(?:ant-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}`,
    String.raw`${START}(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])`,
    String.raw`${START}gh[pousr]_[A-Za-z0-9]{30,}`,
    String.raw`${START}github_pat_[A-Za-z0-9_]{22,}`,
    String.raw`${START}xox[abposr]-[A-Za-z0-9-]{10,}`,
    String.raw`(?<=[Bb]earer )[A-Za-z0-9._~+/=-]{8,}`,
    String.raw`(?<=[?&](?:key|api_key|api-key|apikey|token|access_token)=)[^&"\\\s]+`,
  ].join('|'),
  'g',
);

/** Replaces every secret-shaped token in a serialised log line. */
export function scrubSecrets(line: string): string {
  SECRET_RE.lastIndex = 0;
  return SECRET_RE.test(line) ? line.replace(SECRET_RE, REDACTED) : line;
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      base: { service: 'aigov' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Last line of defence for what paths cannot name: a prompt quoted in an error message, a
      // key in a URL. Log lines are rare on the request path (no per-request line at info).
      hooks: { streamWrite: scrubSecrets },
    },
    destination,
  );
}
