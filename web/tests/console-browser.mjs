#!/usr/bin/env node
// Drives the operator console (/) in headless Chromium (system /usr/bin/chromium via
// playwright-core) through its main flows, every request outside loopback refused:
//   1. a wrong password is refused on the form; sign in as `admin`; the live wall shows each
//      camera's state; given `liveUrl`, the camera's stream URL is changed to it while its tile
//      waits for the old one, and the tile must play the new stream;
//   2. Timeline: UTC, the day of `playAt`; the camera's bar shows its gaps; hovering shows a
//      preview; a click at `playAt` plays from that instant (hls.js) and the video advances;
//   3. the picked moment exported as a 4 s clip (progress from the `clipExport` subscription),
//      downloaded with its manifest, whose SHA-256 must be the clip's; then held as evidence;
//   4. Zones: a region with too few points is refused on its `points` field; drawn with four
//      clicks it is created; a person posted into it (ingestDetections) shows a ZONE_ENTER live
//      and the zone's occupancy (zoneOccupancy) goes to 1; after a silent token refresh a new
//      track's ENTER still arrives (the open websocket took the new token);
//   5. Admin: a new API key is shown once, then listed by its prefix only; the webhook's
//      delivery log lists an accepted delivery; an AI task created, paused; a user created
//      from the keyboard alone;
//   6. Review: open `reviewId` (its footage plays); mark it reviewed; sign out; sign in as
//      `viewer` from the keyboard alone: still unreviewed for them; the timeline plays the day
//      on Enter.
//
//   node web/tests/console-browser.mjs <httpBaseUrl> '<json>'
// Each page is scanned with axe-core: a serious or critical violation fails the run.
//   json: {admin: {username, password}, viewer: {username, password}, cameraId, playAt (ISO UTC), reviewId, liveUrl?}
//
// Prints one JSON line {ok, gaps, played, advanced, reviewedByAdmin, unreviewedForViewer,
// screenshots, blocked, errors}; exit 0 only if ok. Env: HELDAR_CHROMIUM (default
// /usr/bin/chromium), HELDAR_TEST_TIMEOUT_MS (default 120000), HELDAR_SCREENSHOT_DIR (PNG per page).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { finisher, loopbackOnly } from './driver.mjs';

const CHROMIUM = process.env.HELDAR_CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.HELDAR_TEST_TIMEOUT_MS || 120000);
const SHOTS = process.env.HELDAR_SCREENSHOT_DIR || '';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const result = { ok: false, a11y: {}, gaps: 0, played: false, advanced: false, exported: false, clipBytes: 0, hashMatches: false, held: false, zoneFieldError: false, zoneCreated: false, pointRemoved: false, zoneEnter: false, occupancy: false, refreshKeptLive: false, liveFollowed: false, keyShownOnce: false, signInRefusalShown: false, liveState: false, preview: false, deliveryLog: false, taskToggled: false, adminKeyboard: false, reviewPlayed: false, monthRenderMs: null, keyboard: false, reviewedByAdmin: false, unreviewedForViewer: false, screenshots: [], blocked: [], errors: [] };
let browser;
const finish = finisher(result, () => browser, TIMEOUT_MS);

const base = (process.argv[2] || '').replace(/\/+$/, '');
let cfg;
try {
  cfg = JSON.parse(process.argv[3] || '');
} catch {
  await finish(false, 'usage: node console-browser.mjs <http://127.0.0.1:PORT> <json>');
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  await finish(false, `cannot load playwright-core (run \`npm ci --prefix web\`): ${err.message}`);
}

/** axe-core on the page as it stands: serious and critical violations fail the run. */
async function audit(page, name) {
  await page.evaluate(AXE); // through DevTools, so the page's CSP does not apply
  const violations = await page.evaluate(async () => {
    const run = await window.axe.run(document, { resultTypes: ['violations'] });
    return run.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
  result.a11y[name] = violations;
  if (violations.length) result.errors.push(`accessibility on ${name}: ${violations.join('; ')}`);
}

async function shot(page, name) {
  await audit(page, name);
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  result.screenshots.push(path);
}

async function signIn(page, who, check = false) {
  await page.goto(base + '/');
  if (check) await shot(page, 'sign-in');
  await page.fill('#username', who.username);
  await page.fill('#password', who.password);
  await page.click('#signin');
  await page.waitForSelector('#nav-review, #signin-error', { timeout: 10000 });
  const refused = await page.$('#signin-error');
  if (refused) throw new Error('sign-in refused: ' + (await refused.textContent()));
}

try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'UTC' });
  await loopbackOnly(context, result.blocked);
  const page = await context.newPage();
  page.on('pageerror', (err) => result.errors.push('page error: ' + err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && /Content Security Policy/.test(msg.text())) result.errors.push('CSP: ' + msg.text());
  });

  // 1. A refused sign-in says why; then sign in.
  await signIn(page, { username: cfg.admin.username, password: 'not the password' }, true).catch(() => {});
  result.signInRefusalShown = /UNAUTHENTICATED|invalid|password/i.test((await page.textContent('#signin-error').catch(() => '')) || '');
  await signIn(page, cfg.admin);
  await page.waitForSelector(`#live-wall figure[data-camera="${cfg.cameraId}"][data-state]`, { timeout: 10000 });
  result.liveState = true;
  if (cfg.liveUrl) {
    // The camera's stream URL changes while its tile waits for the old one (a camera that does
    // not answer): the server closes the tile's socket (1012) and the tile plays the new one.
    const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem('heldar.console.session')).accessToken);
    const gql = async (query, variables) => (await page.request.post(base + '/graphql', {
      headers: { authorization: `Bearer ${session}`, 'content-type': 'application/json' },
      data: { query, variables },
    })).json();
    // The tile's socket is open and waiting (it counts as a viewer) before the change.
    for (let i = 0; ; i++) {
      const seen = await gql('query($c: ID!) { camera(id: $c) { liveViewers } }', { c: cfg.cameraId });
      if (seen.data?.camera?.liveViewers === 1) break;
      if (i > 100) throw new Error('the live tile never opened its socket');
      await new Promise((r) => setTimeout(r, 100));
    }
    await gql('mutation($i: UpdateCameraInput!) { updateCamera(input: $i) { id } }', { i: { id: cfg.cameraId, streamUrl: cfg.liveUrl } });
    await page.waitForFunction((id) => {
      const video = document.querySelector(`#live-wall figure[data-camera="${id}"] video`);
      return video && video.videoWidth > 0 && video.currentTime > 0;
    }, cfg.cameraId, { timeout: 20000 });
    result.liveFollowed = true;
  }
  await shot(page, 'live-wall');

  // 2. Timeline: the day of playAt in UTC, click at playAt.
  await page.click('#nav-timeline');
  await page.selectOption('#tz', 'UTC');
  const playAt = new Date(cfg.playAt);
  await page.fill('#day', playAt.toISOString().slice(0, 10));
  const bar = `#bar-${cfg.cameraId}`;
  await page.waitForSelector(`${bar} .gap`, { timeout: 10000 });
  result.gaps = await page.locator(`${bar} .gap`).count();
  const box = await page.locator(bar).boundingBox();
  const dayStart = Date.UTC(playAt.getUTCFullYear(), playAt.getUTCMonth(), playAt.getUTCDate());
  const ratio = (playAt.getTime() - dayStart) / 86_400_000;
  // Hovering shows a preview of that moment.
  // (A still is cut by ffmpeg on first request: slow on a loaded machine.)
  await page.mouse.move(box.x + ratio * box.width, box.y + box.height / 2);
  await page.mouse.move(box.x + ratio * box.width + 1, box.y + box.height / 2);
  await page.waitForFunction(() => window.heldarConsole.previewShown > 0, null, { timeout: 30000 });
  result.preview = true;
  await page.mouse.click(box.x + ratio * box.width, box.y + box.height / 2);
  await page.waitForFunction(() => window.heldarConsole.player === 'playing', null, { timeout: 15000 });
  result.played = true;
  const t0 = await page.evaluate(() => document.getElementById('player').currentTime);
  await page.waitForFunction((t) => document.getElementById('player').currentTime >= t + 1, t0, { timeout: 10000 });
  result.advanced = true;
  await shot(page, 'timeline');
  // Thirty days at once: one footageTimeline query, hourly buckets drawn on a canvas.
  await page.selectOption('#span', '30');
  await page.waitForFunction(() => window.heldarConsole.timelineRenderMs > 0, null, { timeout: 10000 });
  result.monthRenderMs = await page.evaluate(() => window.heldarConsole.timelineRenderMs);
  await shot(page, 'timeline-30-days');
  await page.selectOption('#span', '1');

  // 3. Export the picked moment, check the download against its manifest, then hold it.
  // A click on a day-wide bar is a minute or so wide: the exact start is typed in (UTC page).
  await page.fill('#export-from', cfg.playAt.slice(0, 19));
  await page.fill('#export-seconds', '4');
  await page.click('#export');
  await page.waitForSelector('#export-download', { timeout: 30000 });
  result.exported = true;
  const href = (sel) => page.getAttribute(sel, 'href');
  const clip = await page.request.get(base + (await href('#export-download')));
  const manifest = await (await page.request.get(base + (await href('#export-manifest')))).json();
  const bytes = await clip.body();
  result.clipBytes = bytes.length;
  result.hashMatches = createHash('sha256').update(bytes).digest('hex') === manifest.sha256;
  await page.click('#hold');
  await page.waitForFunction(() => /Held as hold_/.test(document.getElementById('selection-note')?.textContent || ''), null, { timeout: 10000 });
  result.held = true;
  await shot(page, 'export');

  // 4. Zones: draw, a field error, create, and a live ENTER.
  await page.click('#nav-zones');
  await page.waitForSelector('#zone-canvas');
  await page.selectOption('#zone-camera', cfg.cameraId);
  const canvas = await page.locator('#zone-canvas').boundingBox();
  const clickAt = (x, y) => page.mouse.click(canvas.x + x * canvas.width, canvas.y + y * canvas.height);
  await page.fill('#zone-name', 'driveway');
  await page.fill('#zone-labels', 'person');
  await page.fill('#zone-confirm', '1');
  await clickAt(0.05, 0.05);
  await clickAt(0.95, 0.05);
  await page.click('#zone-save');
  await page.waitForSelector('#zone-points-error', { timeout: 10000 });
  result.zoneFieldError = true;
  // A stray point, removed by a double click on it.
  await clickAt(0.5, 0.5);
  await page.waitForFunction(() => /^3 points/.test(document.getElementById('zone-points').textContent), null, { timeout: 5000 });
  await page.mouse.dblclick(canvas.x + 0.5 * canvas.width, canvas.y + 0.5 * canvas.height);
  await page.waitForFunction(() => /^2 points/.test(document.getElementById('zone-points').textContent), null, { timeout: 5000 });
  result.pointRemoved = true;
  await clickAt(0.95, 0.95);
  await clickAt(0.05, 0.95);
  await page.click('#zone-save');
  await page.waitForSelector('#zone-list li[data-zone="driveway"]', { timeout: 10000 });
  result.zoneCreated = true;
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('heldar.console.session')).accessToken);
  for (let i = 0; i < 2; i++) {
    await page.request.post(base + '/graphql', {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      data: {
        query: 'mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { events } }',
        variables: { i: { cameraId: cfg.cameraId, taskType: 'detect', frameId: `console-${i}`, capturedAt: new Date().toISOString(),
          detections: [{ label: 'person', confidence: 0.9, trackId: 'walker', bbox: { x: 0.4, y: 0.4, w: 0.1, h: 0.1 } }] } },
      },
    });
  }
  await page.waitForSelector('#zone-events li[data-kind="ZONE_ENTER"]', { timeout: 10000 });
  result.zoneEnter = true;
  await page.waitForSelector('#zone-list li[data-zone="driveway"] .occupancy[data-count="1"]', { timeout: 10000 });
  result.occupancy = true;
  // The silent refresh (as its timer runs it) keeps the live subscriptions: a new track's
  // ENTER still arrives after it.
  await page.evaluate(() => window.heldarConsole.refresh());
  const fresh = await page.evaluate(() => JSON.parse(sessionStorage.getItem('heldar.console.session')).accessToken);
  if (fresh === token) throw new Error('the refresh did not change the access token');
  await page.request.post(base + '/graphql', {
    headers: { authorization: `Bearer ${fresh}`, 'content-type': 'application/json' },
    data: {
      query: 'mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { events } }',
      variables: { i: { cameraId: cfg.cameraId, taskType: 'detect', frameId: 'console-after-refresh', capturedAt: new Date().toISOString(),
        detections: [{ label: 'person', confidence: 0.9, trackId: 'runner', bbox: { x: 0.6, y: 0.6, w: 0.1, h: 0.1 } }] } },
    },
  });
  await page.waitForSelector('#zone-events li[data-kind="ZONE_ENTER"]:has-text("runner")', { timeout: 10000 });
  result.refreshKeptLive = true;
  await shot(page, 'zones');

  // 5. Admin: a key shown once.
  await page.click('#nav-admin');
  await page.waitForSelector('#new-key');
  await page.fill('#new-key input[name="name"]', 'console-key');
  await page.click('#new-key button[type="submit"]');
  await page.waitForSelector('#new-key .note', { timeout: 10000 });
  const shown = await page.textContent('#new-key .note');
  const key = (/shown once: (\S+)/.exec(shown) || [])[1] || '';
  await page.waitForSelector('#admin-keys td:text("console-key")', { timeout: 10000 });
  await shot(page, 'admin');
  await page.click('#nav-review');
  await page.click('#nav-admin');
  await page.waitForSelector('#admin-keys td:text("console-key")', { timeout: 10000 });
  result.keyShownOnce = key.length > 20 && !(await page.content()).includes(key);
  // The webhook's delivery log.
  await page.click('#admin-webhooks button.deliveries');
  await page.waitForSelector('#admin-deliveries tr[data-ok="true"]', { timeout: 10000 });
  result.deliveryLog = true;
  // An AI task: created, then paused.
  await page.selectOption('#new-task select[name="cameraId"]', cfg.cameraId);
  await page.click('#new-task button[type="submit"]');
  const task = '#admin-tasks tr[data-task]';
  await page.waitForSelector(`${task} button.toggle:text("Pause")`, { timeout: 10000 });
  await page.click(`${task} button.toggle`);
  await page.waitForSelector(`${task} button.toggle:text("Resume")`, { timeout: 10000 });
  result.taskToggled = true;
  await shot(page, 'admin-integrations');
  // A user created from the keyboard alone.
  await page.focus('#new-user input[name="username"]');
  await page.keyboard.type('typist');
  await page.keyboard.press('Tab');
  await page.keyboard.type('a long enough password 1');
  await page.keyboard.press('Tab');
  await page.keyboard.press('ArrowDown'); // GUARD
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#admin-users td:text("typist")', { timeout: 10000 });
  result.adminKeyboard = true;

  // 6. Review: mark reviewed as admin; another user still sees it unreviewed.
  await page.click('#nav-review');
  const item = `#review-list li[data-id="${cfg.reviewId}"]`;
  await page.waitForSelector(`${item}[data-reviewed="false"]`, { timeout: 10000 });
  await page.evaluate(() => { window.heldarConsole.player = 'idle'; });
  await page.click(`${item} .open`);
  await page.waitForFunction(() => window.heldarConsole.player === 'playing', null, { timeout: 15000 });
  result.reviewPlayed = true;
  await page.click(`${item} .mark`);
  await page.waitForSelector(`${item}[data-reviewed="true"]`, { timeout: 10000 });
  result.reviewedByAdmin = true;
  await shot(page, 'review');
  await page.click('#signout');
  await page.waitForSelector('#signin', { timeout: 10000 });
  // The viewer works from the keyboard only: sign in, the review queue, the timeline.
  await page.goto(base + '/');
  await page.focus('#username');
  await page.keyboard.type(cfg.viewer.username);
  await page.keyboard.press('Tab');
  await page.keyboard.type(cfg.viewer.password);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#nav-review', { timeout: 10000 });
  await page.focus('#nav-review');
  await page.keyboard.press('Enter');
  await page.waitForSelector(`${item}[data-reviewed="false"]`, { timeout: 10000 });
  result.unreviewedForViewer = true;
  await page.focus('#nav-timeline');
  await page.keyboard.press('Enter');
  await page.selectOption('#tz', 'UTC');
  await page.fill('#day', playAt.toISOString().slice(0, 10));
  await page.waitForSelector(`${bar} .gap`, { timeout: 10000 });
  await page.focus(bar);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => window.heldarConsole.player === 'playing', null, { timeout: 15000 });
  result.keyboard = true;
  await finish(true);
} catch (err) {
  // What the page said, to explain the failure.
  const pages = browser?.contexts()[0]?.pages() ?? [];
  if (pages[0]) {
    result.pageText = await pages[0].evaluate(() => (document.getElementById('selection') || document.querySelector('main'))?.innerText?.slice(0, 600)).catch(() => null);
  }
  await finish(false, err.message);
}
