import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { chromium, type Browser, type Page } from 'playwright-core';
import { mockHeader, startProxy, type ProxyHarness } from '../support/proxy.js';
import { IN_CI } from '../support/db.js';
import { findUiDir } from '../../src/routes/ui.js';
import { buildUi } from '../../scripts/build-ui.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'dashboard-admin-token-0123456789';
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const POLICIES = `version: 1
rules:
  - id: no-forbidden
    description: Nothing forbidden leaves the building
    when: { prompt: { contains: [forbidden] } }
    action: block
    message: "prompt contains a forbidden word"
  - id: mask-email
    when: { detect: [email] }
    action: redact
`;

// Evaluated in the page (strings: the test project has no DOM types).
const TOKEN_IN_STORAGE = "sessionStorage.getItem('aigov.adminToken')";
const UNLABELED_CONTROLS = `Array.from(document.querySelectorAll('input, select, textarea'))
  .filter((el) => !(el.closest('label') || (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.getAttribute('aria-label')))
  .map((el) => el.outerHTML.slice(0, 80))`;

async function chat(h: ProxyHarness, key: string, content: string, model = 'gpt-4o'): Promise<number> {
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function evaluateStatus(h: ProxyHarness, key: string): Promise<number> {
  const res = await fetch(`${h.url}/api/evaluate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
  });
  await res.arrayBuffer();
  return res.status;
}

async function go(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
  await page.getByRole('heading', { level: 1, name: name === 'Keys' ? 'API keys' : name }).waitFor();
}

if (!existsSync(CHROMIUM)) {
  if (IN_CI) t.fail(`CI=true but Chromium is missing at ${CHROMIUM}: apt-get install -y chromium`);
  else
    t.test('dashboard', { skip: `no Chromium at ${CHROMIUM} (apt-get install -y chromium)` }, async () => {});
} else {
  t.test('dashboard: sign in, create a key, see a blocked request, revoke the key', async (t) => {
    // CI builds with `npm run build` first; locally build on demand so the test never sees stale absence.
    if (!findUiDir()) await buildUi({ typecheck: false });
    t.ok(findUiDir(), 'dashboard assets built');

    const h = await startProxy({ policies: POLICIES, overrides: { admin: { token: TOKEN } } });
    t.teardown(() => h.close());
    const browser: Browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    t.teardown(() => browser.close());
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const offsite: string[] = [];
    const consoleErrors: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith(h.url) && !req.url().startsWith('blob:') && !req.url().startsWith('data:'))
        offsite.push(req.url());
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));

    // Some traffic for the overview: two teams, two models, one redaction.
    const finance = await h.newKey({ team: 'finance', owner: 'fin@example.com' });
    for (let i = 0; i < 4; i++) t.equal(await chat(h, h.key, `hello ${i}`), 200);
    t.equal(await chat(h, finance, 'quarterly numbers please', 'gpt-4o-mini'), 200);
    t.equal(await chat(h, finance, 'mail bob@example.com the plan'), 200);

    // Sign in: a wrong token is refused, the right one is kept for the tab.
    await page.goto(`${h.url}/ui/`);
    await page.getByLabel('Admin token').fill('definitely-not-the-admin-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not accepted' }).waitFor();
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    t.equal(await page.evaluate(TOKEN_IN_STORAGE), TOKEN, 'token in sessionStorage');

    // Create a key: shown once, and it works.
    await go(page, 'Keys');
    await page.getByLabel('Owner email').fill('browser@example.com');
    await page.getByLabel('Name', { exact: true }).fill('browser-test');
    await page.getByLabel('Team', { exact: true }).fill('growth');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secretBox = page.getByLabel('New API key');
    await secretBox.waitFor();
    const newKey = await secretBox.inputValue();
    t.match(newKey, /^aigov_/, 'the new key is displayed');
    t.equal(await evaluateStatus(h, newKey), 200, 'the new key authenticates');
    await page.getByRole('button', { name: 'I have stored it' }).click();
    t.equal(await page.getByLabel('New API key').count(), 0, 'the key is not shown again');
    const row = page.locator('tr', { hasText: 'browser-test' });
    await row.getByText('active').waitFor();

    // A blocked request appears in the live decisions table with its reason.
    await go(page, 'Decisions');
    t.equal(await chat(h, newKey, 'please do the forbidden thing'), 403);
    const blocked = page.locator('tbody tr', { hasText: 'no-forbidden' });
    await blocked.waitFor({ timeout: 20_000 }); // the table polls every 3 s
    t.match(await blocked.innerText(), /block/);
    t.match(await blocked.innerText(), /growth/);
    await blocked.getByRole('button').click();
    const detail = page.getByRole('complementary');
    await detail.getByText('prompt contains a forbidden word').waitFor();
    t.match(await detail.innerText(), /no-forbidden/);
    t.match(await detail.innerText(), /HTTP 403/);

    // Token details (migration 005): cached input and reasoning tokens in the detail panel.
    const detailed = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${h.key}`,
        'content-type': 'application/json',
        'x-request-id': 'dashboard-token-details',
        ...mockHeader({ usage: { prompt: 1000, completion: 300, cached: 600, reasoning: 120 } }),
      },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'think hard' }] }),
    });
    t.equal(detailed.status, 200);
    const detailedRow = page.locator('tbody tr[data-request-id="dashboard-token-details"]');
    await detailedRow.waitFor({ timeout: 20_000 });
    await detailedRow.getByRole('button').click();
    await detail.getByText('dashboard-token-details').waitFor();
    const panel = await detail.innerText();
    t.match(
      panel,
      /cached input \/ cache writes \/ reasoning\s+600 \/ — \/ 120/i,
      'cached and reasoning tokens shown',
    );
    t.match(panel, /1,000 \/ 300 \/ 1,300/, 'prompt / completion / total');

    // Filters: only blocks.
    await page.getByLabel('Decision', { exact: true }).selectOption('block');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForFunction(
      "document.querySelectorAll('table.decisions tbody tr[data-request-id]').length === 1",
    );

    // The policy view explains and dry-runs.
    await go(page, 'Policies');
    await page.getByRole('cell', { name: 'Nothing forbidden leaves the building' }).waitFor();
    await page
      .getByLabel('Provider request body (JSON)')
      .fill(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'forbidden words' }] }));
    await page.getByRole('button', { name: 'Evaluate' }).click();
    const result = page.locator('.result');
    await result.getByText('no-forbidden').waitFor();
    t.match(await result.innerText(), /Decision: block/);

    // Revoke the key: confirmed inline, and it stops working.
    await go(page, 'Keys');
    await page.getByRole('button', { name: 'Revoke browser-test' }).click();
    await page.getByRole('button', { name: 'Confirm revoke' }).click();
    await row.getByText('revoked', { exact: true }).first().waitFor();
    t.equal(await evaluateStatus(h, newKey), 401, 'the revoked key is refused');

    // Overview with data; the screenshot is the artifact.
    await go(page, 'Overview');
    await page.getByRole('img', { name: /Requests and blocks per hour/ }).waitFor();
    const totals = page.getByRole('definition').first();
    await page.waitForFunction(
      "Number((document.querySelector('.stats dd')?.textContent ?? '').replace(/\\D/g, '')) >= 7",
    );
    t.ok(await totals.isVisible());
    t.match(await page.locator('.grid3').innerText(), /no-forbidden/);
    t.match(await page.locator('.grid3').innerText(), /finance/);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'dashboard-overview.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.ok(existsSync(shot), `screenshot saved to ${shot}`);

    // Keyboard: the nav is reachable and every form control has a label.
    const unlabeled = await page.evaluate(UNLABELED_CONTROLS);
    t.same(unlabeled, [], 'every control has a label');
    // A reload keeps the session (sessionStorage); the first Tab lands on the skip link.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.keyboard.press('Tab');
    t.equal(await page.evaluate('document.activeElement?.textContent'), 'Skip to content');
    await page.keyboard.press('Enter');
    t.equal(await page.evaluate('document.activeElement?.id'), 'main', 'skip link moves focus to main');

    t.same(offsite, [], 'no request leaves the proxy origin');
    // The one expected error: the browser logs the 401 of the wrong token tried at sign-in.
    t.same(
      consoleErrors.filter((m) => !/status of 401/.test(m)),
      [],
      'no console errors (CSP violations included)',
    );

    // Signing out clears the token.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    t.equal(await page.evaluate(TOKEN_IN_STORAGE), null);
    await context.close();
  });
}
