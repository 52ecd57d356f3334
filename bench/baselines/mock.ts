/**
 * The mock provider (test/support/mock-provider.ts, requests not recorded) as its own process,
 * shared by every scenario. Behaviour from MOCK_BEHAVIOR (JSON). Prints `READY <url>`.
 */
import { startMockProvider, type MockBehavior } from '../../test/support/mock-provider.js';

const behavior = JSON.parse(process.env.MOCK_BEHAVIOR ?? '{}') as Partial<MockBehavior>;
const mock = await startMockProvider({ record: false, behavior });
process.stdout.write(`READY ${mock.url}\n`);
const close = (): void => {
  void mock.close().finally(() => process.exit(0));
};
process.once('SIGTERM', close);
process.once('SIGINT', close);
