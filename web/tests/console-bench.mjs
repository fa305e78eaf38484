#!/usr/bin/env node
// The console benchmark's browser side (bench/run console), in headless Chromium with every
// request outside loopback refused:
//   - first load: `rounds` fresh contexts open `/`; time from navigation start to the sign-in
//     form ready, and (signed in, reloaded) to the console with every camera's tile;
//   - the script's size on the wire (encodedBodySize of /console/app.js) and decoded;
//   - the 30-day timeline of every camera: drawing time (the page's own measure) and from the
//     span chosen to drawn, `rounds` times;
//   - the review queue scrolled until `items` items are loaded (pages of 500), then scrolled
//     through while every animation frame's interval is recorded;
//   - the live event list on `zoneCamera` fed `items` ENTER events (ingestDetections, 100 new
//     tracks a batch, into the zone the benchmark made), then scrolled the same way.
//
//   node web/tests/console-bench.mjs <httpBaseUrl> '{"username","password","cameras","days","rounds","items","zoneCamera"}'
// Prints one JSON line; exit 0 only if ok.
import { finisher, loopbackOnly } from './driver.mjs';

const CHROMIUM = process.env.HELDAR_CHROMIUM || '/usr/bin/chromium';
const base = (process.argv[2] || '').replace(/\/+$/, '');
const cfg = JSON.parse(process.argv[3] || '{}');
const result = { ok: false, blocked: [], errors: [] };
let browser;
const finish = finisher(result, () => browser, 600_000);

function stats(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return { p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1], n: sorted.length };
}

async function context() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'UTC' });
  await loopbackOnly(ctx, result.blocked);
  return ctx;
}

/** Milliseconds since navigation start when `predicate` first holds (checked every frame). */
async function readyAt(page, predicate, arg) {
  await page.waitForFunction(predicate, arg, { polling: 'raf', timeout: 20000 });
  return page.evaluate(() => performance.now());
}

/** Scrolls the list inside `selector`'s scroller top to bottom in `steps` frames; the frame intervals. */
async function scrollFrames(page, selector, steps = 240) {
  return page.evaluate(async ({ selector, steps }) => {
    const scroller = document.querySelector(selector).parentElement;
    const frames = [];
    let last = performance.now();
    const total = scroller.scrollHeight - scroller.clientHeight;
    for (let i = 1; i <= steps; i++) {
      scroller.scrollTop = (total * i) / steps;
      await new Promise((r) => requestAnimationFrame(r));
      const now = performance.now();
      frames.push(now - last);
      last = now;
    }
    return { frames, domRows: document.querySelectorAll(`${selector} > li`).length };
  }, { selector, steps });
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });

  // First loads, each in a fresh context (nothing cached).
  const signIn = [];
  const consoleReady = [];
  let page;
  for (let round = 0; round < cfg.rounds; round++) {
    const ctx = await context();
    page = await ctx.newPage();
    await page.goto(base + '/', { waitUntil: 'commit' });
    signIn.push(await readyAt(page, () => {
      const b = document.getElementById('signin');
      return b && !b.disabled;
    }));
    if (round === 0) {
      const entry = await page.evaluate(() => performance.getEntriesByType('resource').find((e) => e.name.endsWith('/console/app.js')));
      result.scriptEncoded = entry?.encodedBodySize;
      result.scriptDecoded = entry?.decodedBodySize;
    }
    await page.fill('#username', cfg.username);
    await page.fill('#password', cfg.password);
    await page.click('#signin');
    await page.waitForSelector('#nav-review', { timeout: 10000 });
    // Signed in: the next load goes straight to the console (the session is kept per tab).
    await page.reload({ waitUntil: 'commit' });
    consoleReady.push(await readyAt(page, (n) => document.querySelectorAll('#live-wall figure[data-state]').length >= n, cfg.cameras));
    if (round < cfg.rounds - 1) await ctx.close();
  }
  result.signInReady = stats(signIn);
  result.consoleReady = stats(consoleReady);

  // The 30-day timeline of every camera, starting `days` days ago.
  await page.click('#nav-timeline');
  await page.selectOption('#tz', 'UTC');
  const first = new Date(Date.now() - (cfg.days - 1) * 86_400_000).toISOString().slice(0, 10);
  await page.fill('#day', first);
  const draw = [];
  const total = [];
  for (let round = 0; round < cfg.rounds; round++) {
    await page.selectOption('#span', '1');
    await page.evaluate(() => { window.heldarConsole.timelineRenderMs = 0; });
    const began = await page.evaluate(() => performance.now());
    await page.selectOption('#span', '30');
    const done = await readyAt(page, () => window.heldarConsole.timelineRenderMs > 0);
    draw.push(await page.evaluate(() => window.heldarConsole.timelineRenderMs));
    total.push(done - began);
  }
  result.monthDraw = stats(draw);
  result.monthTotal = stats(total);

  // The review queue, loaded by scrolling, then scrolled through.
  await page.click('#nav-review');
  await page.waitForSelector('#review-list li', { timeout: 20000 });
  const loadBegan = Date.now();
  while ((await page.evaluate(() => window.heldarConsole.reviewLoaded)) < cfg.items) {
    if (Date.now() - loadBegan > 120_000) throw new Error('the review queue did not load its pages');
    await page.evaluate(() => {
      const s = document.getElementById('review-list').parentElement;
      s.scrollTop = s.scrollHeight;
      s.dispatchEvent(new Event('scroll'));
    });
    await page.waitForTimeout(50);
  }
  const review = await scrollFrames(page, '#review-list');
  result.review = { items: await page.evaluate(() => window.heldarConsole.reviewLoaded), frames: stats(review.frames), domRows: review.domRows };

  // The live event list, fed by ingestDetections.
  await page.click('#nav-zones');
  await page.selectOption('#zone-camera', cfg.zoneCamera);
  await page.waitForTimeout(500); // the subscriptions are up
  const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('heldar.console.session')).accessToken);
  const perBatch = 100;
  for (let b = 0; b < cfg.items / perBatch; b++) {
    const detections = Array.from({ length: perBatch }, (_, i) => ({ label: 'person', confidence: 0.9, trackId: `t${b}-${i}`, bbox: { x: 0.4, y: 0.4, w: 0.1, h: 0.1 } }));
    const response = await page.request.post(base + '/graphql', {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      data: {
        query: 'mutation($i: DetectionBatchInput!) { ingestDetections(input: $i) { events } }',
        variables: { i: { cameraId: cfg.zoneCamera, taskType: 'detect', frameId: `bench-${b}`, capturedAt: new Date().toISOString(), detections } },
      },
    });
    const body = await response.json();
    if (body.errors) throw new Error('ingest: ' + JSON.stringify(body.errors).slice(0, 300));
  }
  await page.waitForFunction((n) => window.heldarConsole.eventsShown >= n, cfg.items, { timeout: 60000 });
  const events = await scrollFrames(page, '#zone-events');
  result.events = { items: await page.evaluate(() => window.heldarConsole.eventsShown), frames: stats(events.frames), domRows: events.domRows };
  await finish(true);
} catch (err) {
  const pages = browser?.contexts().at(-1)?.pages() ?? [];
  if (pages[0]) result.pageText = await pages[0].evaluate(() => [...document.querySelectorAll('.error, #review, .legend')].map((e) => e.textContent).join(' / ').slice(0, 800) + ' probe ' + JSON.stringify(window.heldarConsole)).catch(() => null);
  await finish(false, err.message);
}
