import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { AigovMetrics } from '../../../src/metrics/metrics.js';
import { startProxy } from '../../support/proxy.js';

/**
 * The alert rules and the Grafana dashboard only query series that aigov exports, and every
 * runbook they point to exists in docs/operations.md.
 */
interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; runbook?: string };
}

const HISTOGRAM_SUFFIX = /_(bucket|count|sum)$/;

function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\baigov_[a-z0-9_]+/g)].map((m) => m[0]);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6} (.+)$/gm))
    out.add(
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replace(/ /g, '-'),
    );
  return out;
}

t.test('alerts and dashboard query only exported series', async (t) => {
  const h = await startProxy({ listen: false });
  t.teardown(() => h.close());
  const exported = new Set(
    [...(await new AigovMetrics(h.services).render()).matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!),
  );
  t.ok(exported.has('aigov_requests_total') && exported.has('aigov_nodejs_eventloop_lag_p99_seconds'));
  const known = (name: string): boolean =>
    exported.has(name) || (HISTOGRAM_SUFFIX.test(name) && exported.has(name.replace(HISTOGRAM_SUFFIX, '')));

  const docs = readFileSync('docs/operations.md', 'utf8');
  const headings = anchors(docs);
  const alerts = parse(readFileSync('deploy/prometheus/alerts.yaml', 'utf8')) as {
    groups: { name: string; rules: Rule[] }[];
  };
  const rules = alerts.groups.flatMap((g) => g.rules);
  t.ok(rules.length >= 8, 'alert rules present');
  for (const want of [
    'AigovHighBlockRate',
    'AigovUpstreamErrors',
    'AigovAuditQueueGrowing',
    'AigovAuditRowsDropped',
    'AigovLimitsDegraded',
    'AigovPolicyReloadFailed',
    'AigovOverheadP99High',
  ])
    t.ok(
      rules.some((r) => r.alert === want),
      `${want} defined`,
    );
  for (const r of rules) {
    t.match(r.labels.severity, /^(critical|warning|info)$/, `${r.alert}: severity`);
    t.ok(r.annotations.summary, `${r.alert}: summary`);
    const names = metricNames(r.expr);
    t.ok(names.length > 0, `${r.alert}: queries aigov series`);
    for (const n of names) t.ok(known(n), `${r.alert}: ${n} is exported`);
    const anchor = /^docs\/operations\.md#(.+)$/.exec(r.annotations.runbook ?? '')?.[1];
    t.ok(anchor && headings.has(anchor), `${r.alert}: runbook ${r.annotations.runbook} exists`);
    t.ok(docs.includes(`\`${r.alert}\``), `${r.alert}: listed in docs/operations.md`);
  }

  const dashboard = JSON.parse(readFileSync('deploy/grafana/aigov.json', 'utf8')) as {
    uid: string;
    panels: { id: number; type: string; title: string; targets?: { expr: string }[] }[];
  };
  t.equal(dashboard.uid, 'aigov-overview');
  const ids = dashboard.panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids unique');
  const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => ({ panel: p.title, ...x })));
  t.ok(targets.length >= 15, 'dashboard has queries');
  for (const x of targets)
    for (const n of metricNames(x.expr)) t.ok(known(n), `dashboard "${x.panel}": ${n} is exported`);

  for (const [, name] of docs.matchAll(/^\| `(aigov_[a-z0-9_]+)/gm))
    t.ok(known(name!), `documented metric ${name} is exported`);
});
