/**
 * Scenarios must not inherit each other's backlog: after an overload run (the fixed-rate run at
 * half of baseline A's peak piles up requests the proxy cannot serve), a proxy still writes tens
 * of thousands of audit rows to Postgres for a while, and that work lands on whatever runs next
 * (baseline included, since all share two cores). This waits until every proxy's audit queue
 * and spool are empty, read from its own /metrics.
 */
import { request } from 'undici';
import type { ServerChild } from './children.js';

const BACKLOG = /^aigov_audit_(?:queue_depth|spooled_rows) (\d+(?:\.\d+)?)$/gm;

async function backlogOf(child: ServerChild): Promise<number> {
  const res = await request(`${child.url}/metrics`);
  const text = await res.body.text();
  let rows = 0;
  for (const m of text.matchAll(BACKLOG)) rows += Number(m[1]);
  return rows;
}

export async function settle(
  proxies: readonly (ServerChild | null)[],
  log: (line: string) => void,
  timeoutMs = 120_000,
): Promise<void> {
  const started = Date.now();
  let waited = false;
  for (const child of proxies) {
    if (!child) continue;
    for (;;) {
      const rows = await backlogOf(child).catch(() => 0);
      if (rows === 0) break;
      if (Date.now() - started > timeoutMs) {
        log(
          `  settle: ${child.name} still has ${rows} audit rows queued after ${timeoutMs / 1000} s; going on`,
        );
        break;
      }
      waited = true;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (waited)
    log(`  settle: waited ${((Date.now() - started) / 1000).toFixed(1)} s for audit backlogs to drain`);
  // Let Postgres finish what it was handed (commit, WAL) before the next measurement.
  await new Promise((r) => setTimeout(r, 1_000));
}
