/**
 * Entry point for the docker-compose demo's fake upstream: the same mock
 * OpenAI/Anthropic server the tests use, bound to all interfaces so the aigov
 * container can reach it as http://mock:9000.
 *
 *   node --import tsx deploy/mock-provider.ts      (MOCK_PORT, MOCK_HOST)
 */
import { startMockProvider } from '../test/support/mock-provider.js';

const port = Number(process.env.MOCK_PORT ?? 9000);
const host = process.env.MOCK_HOST ?? '0.0.0.0';

const mock = await startMockProvider({ port, host });
console.log(`mock provider listening on ${host}:${port}`);

// Exit promptly on `docker compose down` instead of waiting for SIGKILL.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    const closing = (mock as { close?: () => unknown } | undefined)?.close?.();
    void Promise.resolve(closing).finally(() => process.exit(0));
  });
}
