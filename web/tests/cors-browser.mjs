#!/usr/bin/env node
// A page on another origin calls the API from headless Chromium.
//
//   node web/tests/cors-browser.mjs <http://127.0.0.1:API_PORT> <access token> <allowed page port>
//
// Serves a blank page at http://localhost:<allowed page port> (an origin the server lists)
// and at a second, unlisted port, and from each POSTs a query with a bearer token (which
// makes the browser send a preflight). The listed origin must get data; the unlisted one
// must be stopped by the browser. Prints one JSON line; exit 0 only if both hold.
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [api, token, allowedPort] = process.argv.slice(2);
const CHROMIUM = process.env.HELDAR_CHROMIUM || '/usr/bin/chromium';
const scratch = mkdtempSync(join(tmpdir(), 'heldar-cors-'));
const result = { ok: false };

function serve(port) {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>console</title>');
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

async function callFrom(browser, origin) {
  const page = await browser.newPage();
  await page.goto(origin + '/');
  const outcome = await page.evaluate(
    async ({ api, token }) => {
      try {
        const response = await fetch(api + '/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: '{ me { role } }' }),
        });
        return { status: response.status, body: await response.json() };
      } catch (err) {
        return { error: String(err) };
      }
    },
    { api, token },
  );
  await page.close();
  return outcome;
}

let browser;
const servers = [];
try {
  servers.push(await serve(Number(allowedPort)));
  servers.push(await serve(0));
  const otherPort = servers[1].address().port;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    env: { ...process.env, HOME: scratch, XDG_CONFIG_HOME: scratch, XDG_CACHE_HOME: scratch },
  });
  result.allowed = await callFrom(browser, `http://localhost:${allowedPort}`);
  result.unlisted = await callFrom(browser, `http://localhost:${otherPort}`);
  result.ok =
    result.allowed.status === 200 &&
    result.allowed.body?.data?.me?.role === 'ADMIN' &&
    typeof result.unlisted.error === 'string';
} catch (err) {
  result.error = String(err && err.message ? err.message : err).split('\n')[0];
} finally {
  if (browser) await browser.close().catch(() => {});
  for (const server of servers) server.close();
  rmSync(scratch, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
