import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Credentials never reach a log line: every header that can carry one is censored wherever it
 * appears (raw request headers, error contexts, upstream requests).
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers["api-key"]',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers["api-key"]',
  'key',
  'apiKey',
  'token',
  'adminToken',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      base: { service: 'aigov' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
