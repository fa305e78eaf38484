#!/usr/bin/env node
// Loads the GraphiQL page in headless Chromium (system /usr/bin/chromium via
// playwright-core), runs an introspection query from the editor and opens the docs pane,
// which must list the root Query fields.
//
//   node web/tests/graphiql-browser.mjs <httpBaseUrl>
//
// Every request to a host other than 127.0.0.1 / localhost / [::1] is
// blocked and recorded. Exit 0 only if the editor rendered, the result pane
// showed "Query" and no non-local request was attempted. Prints one JSON
// line to stdout. Env: HELDAR_SCREENSHOT (PNG path), HELDAR_CHROMIUM
// (browser binary, default /usr/bin/chromium), HELDAR_TEST_TIMEOUT_MS
// (hard timeout before cleanup, default 26000).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HARD_TIMEOUT_MS = Number(process.env.HELDAR_TEST_TIMEOUT_MS || 26000);
const CHROMIUM = process.env.HELDAR_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.HELDAR_SCREENSHOT || '';
const QUERY = '{ __schema { queryType { name } } }';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  process.stderr.write(`cannot load playwright-core (run \`npm ci --prefix web\`): ${err.message}\n`);
  process.exit(3);
}

const base = process.argv[2];
if (!base || !/^https?:\/\//.test(base)) {
  process.stderr.write('usage: node graphiql-browser.mjs <http://127.0.0.1:PORT>\n');
  process.exit(2);
}
const pageUrl = base.replace(/\/+$/, '') + '/graphql';

const result = {
  ok: false,
  url: pageUrl,
  editorRendered: false,
  introspectionResult: false,
  blocked: [],
  consoleErrors: [], // distinct messages
  consoleErrorCount: 0,
  pageErrors: [],
  failedRequests: [],
};
let browser;
let page;
let finished = false;
// playwright-core runs Chromium with a fresh temporary profile of its own;
// this directory only holds artifacts Chromium might write outside it.
const scratch = mkdtempSync(join(tmpdir(), 'heldar-graphiql-'));

async function finish(ok, error) {
  if (finished) return;
  finished = true;
  result.ok = ok;
  if (error) result.error = error;
  if (SCREENSHOT && page && !result.screenshot) {
    // Also on failure: a picture of what went wrong.
    await Promise.race([
      page.screenshot({ path: SCREENSHOT }).then(() => (result.screenshot = SCREENSHOT), () => {}),
      new Promise((r) => setTimeout(r, 2000)),
    ]);
  }
  const closing = browser ? browser.close().catch(() => {}) : Promise.resolve();
  await Promise.race([closing, new Promise((r) => setTimeout(r, 2000))]);
  try {
    rmSync(scratch, { recursive: true, force: true });
  } catch {
    /* ignore */
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  if (!ok) process.stderr.write(`graphiql browser test failed: ${error}\n`);
  process.exit(ok ? 0 : 1);
}

setTimeout(() => {
  finish(false, `hard timeout after ${HARD_TIMEOUT_MS} ms`);
}, HARD_TIMEOUT_MS);

/** Console texts can embed whole data: URLs (fonts); keep them readable. */
function shorten(text) {
  const t = String(text).replace(/(data:[\w/+.-]+;base64,)[^'"\s]*/g, (_m, head) => head + '…');
  return t.length > 500 ? t.slice(0, 500) + '…' : t;
}

function isLocalUrl(raw) {
  let u;
  try {
    u = new URL(raw);
  } catch {
    return false;
  }
  if (u.protocol === 'data:' || u.protocol === 'blob:' || u.protocol === 'about:') return true;
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '::1' ||
    /^127(\.\d{1,3}){3}$/.test(host)
  );
}

async function main() {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 15000,
    env: { ...process.env, HOME: scratch, XDG_CONFIG_HOME: scratch, XDG_CACHE_HOME: scratch },
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });

  await context.route(
    (url) => !isLocalUrl(url.href),
    (route) => {
      const req = route.request();
      result.blocked.push({ url: req.url(), method: req.method(), resourceType: req.resourceType() });
      return route.abort('blockedbyclient');
    },
  );
  await context.routeWebSocket(
    (url) => !isLocalUrl(url.href),
    (ws) => {
      result.blocked.push({ url: ws.url(), method: 'GET', resourceType: 'websocket' });
      return ws.close({ code: 1008, reason: 'blocked by test' });
    },
  );

  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    result.consoleErrorCount += 1;
    const text = shorten(msg.text());
    if (!result.consoleErrors.includes(text)) result.consoleErrors.push(text);
  });
  page.on('pageerror', (err) => result.pageErrors.push(shorten(err && err.message ? err.message : err)));
  page.on('requestfailed', (req) => {
    if (isLocalUrl(req.url())) {
      result.failedRequests.push({ url: req.url(), error: req.failure() && req.failure().errorText });
    }
  });

  const response = await page.goto(pageUrl, { waitUntil: 'load', timeout: 15000 });
  if (!response) throw new Error('navigation produced no response');
  result.status = response.status();
  result.contentType = response.headers()['content-type'] || null;
  if (!response.ok()) throw new Error(`GET ${pageUrl} answered HTTP ${response.status()}`);

  const editorSelector = '.graphiql-query-editor .CodeMirror';
  await page.waitForSelector(editorSelector, { state: 'visible', timeout: 15000 });
  result.editorRendered = true;

  // Replace the query through CodeMirror's API; fall back to the keyboard.
  const viaApi = await page.evaluate(
    ({ sel, query }) => {
      const el = document.querySelector(sel);
      if (!el || !el.CodeMirror) return false;
      el.CodeMirror.setValue(query);
      el.CodeMirror.focus();
      return true;
    },
    { sel: editorSelector, query: QUERY },
  );
  if (!viaApi) {
    await page.click(editorSelector);
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(QUERY);
  }
  result.queryEditorText = await page.evaluate((sel) => {
    const el = document.querySelector(sel);
    return el && el.CodeMirror ? el.CodeMirror.getValue() : el ? el.innerText : null;
  }, editorSelector);

  await page.click('.graphiql-execute-button', { timeout: 5000 });

  const handle = await page.waitForFunction(
    () => {
      const el = document.querySelector('.graphiql-response .CodeMirror');
      if (!el) return null;
      const text = el.CodeMirror ? el.CodeMirror.getValue() : el.innerText;
      return text && text.includes('"Query"') ? text : null;
    },
    null,
    { timeout: 10000, polling: 100 },
  );
  result.responseText = await handle.jsonValue();
  result.introspectionResult = true;

  // The docs pane loads the schema with the standard introspection query: it must list the
  // root fields, not "Error fetching schema".
  await page.click('button[aria-label="Show Documentation Explorer"]', { timeout: 5000 });
  await page.waitForSelector('.graphiql-doc-explorer', { state: 'visible', timeout: 5000 });
  await page
    .locator('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name', { hasText: /^Query$/ })
    .first()
    .click({ timeout: 10000 });
  const fields = await page.waitForFunction(
    () => {
      const pane = document.querySelector('.graphiql-doc-explorer');
      if (!pane) return null;
      if (/error fetching schema/i.test(pane.innerText)) return ['<error fetching schema>'];
      const names = [...pane.querySelectorAll('.graphiql-doc-explorer-field-name')].map((e) => e.textContent);
      return names.includes('cameras') ? names : null;
    },
    null,
    { timeout: 10000, polling: 100 },
  );
  result.docsRootFields = await fields.jsonValue();
  if (!result.docsRootFields.includes('footageCoverage')) {
    throw new Error(`the docs pane lists no Query fields: ${result.docsRootFields.join(', ')}`);
  }

  if (SCREENSHOT) {
    await page.screenshot({ path: SCREENSHOT, fullPage: false });
    result.screenshot = SCREENSHOT;
  }

  if (result.blocked.length > 0) {
    throw new Error(`the page tried to reach non-local hosts: ${result.blocked.map((b) => b.url).join(', ')}`);
  }
}

main().then(
  () => finish(true),
  (err) => finish(false, err && err.message ? err.message.split('\n')[0] : String(err)),
);
