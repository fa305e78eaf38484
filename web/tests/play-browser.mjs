#!/usr/bin/env node
// Drives the player page (/play) in headless Chromium (system /usr/bin/chromium via
// playwright-core): signs in through the form, picks a camera, then plays recorded footage or
// live video and reads the pattern the test source burns into every frame.
//
//   node web/tests/play-browser.mjs <httpBaseUrl> '<json>'
//
// json.mode:
//   "recorded"    {username, password, cameraId, from, to, seekTo?} (ISO UTC strings): click
//                 Play, time to the first presented frame, pattern of that frame (the video is
//                 paused on it while reading), whether currentTime then advances by 1 s within
//                 10 s, and with seekTo the pattern of the frame shown after seeking there
//                 (media time from hls.js' fragment program-date-times; a seekTo in a gap
//                 goes to the footage after it).
//   "live"        {username, password, cameraId}: click Live, time to the first frame, then for
//                 ~5 s every 250 ms the delay between the wall clock and the frame's burnt-in
//                 clock.
//   "live-revoke" like "live", then wait (up to 15 s) for the page to report the socket closed;
//                 the caller revokes the credential meanwhile. When the first frame is shown the
//                 driver writes the line "HELDAR_PLAY first-frame" to stderr.
// from/to go through the page's datetime-local inputs (local time, whole seconds: sub-second
// parts are dropped); seekTo keeps its milliseconds.
// Output: recorded {ok, ttffMs, advanced, startFrame:{n,cs}, seekFrame:{n,cs}|null, currentTime,
// blocked, errors, ...}; live {ok, ttffMs, delays (ms), delayP50, delayMax, state, blocked,
// errors, ...}; live-revoke {ok, ttffMs, closeCode, state, blocked, errors, ...}. Extra fields:
// consoleErrors (reported, not failing; CSP violations and page errors go to errors), status
// (the page's status line), lastError, inputs, startMediaTime, seekMediaTime, frames, dropped.
// Frame pattern (320x180 source, scaled for other sizes): three rows of 16 blocks of 20x60 px,
// bit i = block x in [20i, 20i+20), white = 1: row 0 = frame number mod 2^16, rows 1 and 2 =
// low and high 16 bits of wall-clock centiseconds since the epoch (cs, i.e. mod 2^32).
//
// Every request to a host other than 127.0.0.1 / localhost / [::1] is blocked and recorded.
// Prints one JSON line to stdout; exit 0 only if ok. Env: HELDAR_CHROMIUM (browser binary,
// default /usr/bin/chromium), HELDAR_TEST_TIMEOUT_MS (hard timeout before cleanup, default
// 40000), HELDAR_SCREENSHOT (PNG path), HELDAR_TIMEZONE (IANA zone for the page, default the
// system's; the page reads datetime-local inputs as local time).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const HARD_TIMEOUT_MS = Number(process.env.HELDAR_TEST_TIMEOUT_MS || 40000);
const CHROMIUM = process.env.HELDAR_CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.HELDAR_SCREENSHOT || '';
const TIMEZONE = process.env.HELDAR_TIMEZONE || undefined;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];
const MODES = ['recorded', 'live', 'live-revoke'];

/** Early exits still print one JSON line. */
function bail(code, error) {
  process.stdout.write(JSON.stringify({ ok: false, errors: [error] }) + '\n');
  process.stderr.write(error + '\n');
  process.exit(code);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  bail(3, `cannot load playwright-core (run \`npm ci --prefix web\`): ${err.message}`);
}

const base = process.argv[2];
let cfg;
try {
  cfg = JSON.parse(process.argv[3] || '');
} catch {
  cfg = null;
}
if (!base || !/^https?:\/\//.test(base) || !cfg || !MODES.includes(cfg.mode)) {
  bail(2, `usage: node play-browser.mjs <http://127.0.0.1:PORT> '{"mode":"recorded|live|live-revoke",...}'`);
}
const pageUrl = base.replace(/\/+$/, '') + '/play';

const result = { ok: false, mode: cfg.mode, ttffMs: null };
if (cfg.mode === 'recorded') {
  Object.assign(result, { advanced: false, startFrame: null, seekFrame: null, currentTime: null });
}
if (cfg.mode === 'live') Object.assign(result, { delays: [], delayP50: null, delayMax: null, state: null });
if (cfg.mode === 'live-revoke') Object.assign(result, { closeCode: null, state: null });
Object.assign(result, { blocked: [], errors: [], consoleErrors: [] });

let browser;
let page;
let finished = false;
const scratch = mkdtempSync(join(tmpdir(), 'heldar-play-'));

async function finish(ok, error) {
  if (finished) return;
  finished = true;
  if (error) result.errors.push(error.replace(/^page\.evaluate: (Error: )?/, ''));
  if (page) {
    // What the page itself shows and reports, also on failure.
    const seen = await Promise.race([
      page
        .evaluate(() => ({
          status: document.getElementById('status').textContent,
          state: window.heldarPlayer && window.heldarPlayer.state,
          lastError: window.heldarPlayer && window.heldarPlayer.lastError,
        }))
        .catch(() => null),
      new Promise((r) => setTimeout(() => r(null), 1000)),
    ]);
    if (seen) {
      result.status = seen.status;
      result.lastError = seen.lastError;
      if ('state' in result && !result.state) result.state = seen.state;
    }
  }
  result.ok = ok && result.errors.length === 0 && result.blocked.length === 0;
  if (SCREENSHOT && page) {
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
  if (!result.ok) {
    process.stderr.write(`play browser test failed: ${result.errors.join(' | ') || 'see the JSON line'}\n`);
  }
  process.exit(result.ok ? 0 : 1);
}

setTimeout(() => finish(false, `hard timeout after ${HARD_TIMEOUT_MS} ms`), HARD_TIMEOUT_MS);

function shorten(text) {
  const t = String(text);
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

/**
 * Runs in the page: window.__heldarProbe with helpers that read frames and wait on the player.
 * Waits fail early when window.heldarPlayer.state becomes 'error'.
 */
function installProbe() {
  const video = document.getElementById('video');
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const player = () => window.heldarPlayer || {};

  async function until(cond, timeoutMs, what) {
    const end = performance.now() + timeoutMs;
    for (;;) {
      if (player().state === 'error') throw new Error('page error: ' + player().lastError);
      const v = cond();
      if (v) return v;
      if (performance.now() > end) throw new Error('timed out waiting for ' + what);
      await sleep(40);
    }
  }

  /** Decodes the burnt-in pattern of the frame currently shown: {n, cs} or null. */
  function readPattern() {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h) return null;
    canvas.width = w;
    canvas.height = h;
    ctx.drawImage(video, 0, 0, w, h);
    const px = ctx.getImageData(0, 0, w, h).data;
    const sx = w / 320;
    const sy = h / 180;
    const rad = Math.max(1, Math.round(2 * Math.min(sx, sy))); // average a small square
    const rows = [0, 0, 0];
    for (let r = 0; r < 3; r++) {
      for (let i = 0; i < 16; i++) {
        const cx = Math.round((20 * i + 10) * sx);
        const cy = Math.round((60 * r + 30) * sy);
        let sum = 0;
        let count = 0;
        for (let y = cy - rad; y <= cy + rad; y++) {
          for (let x = cx - rad; x <= cx + rad; x++) {
            const o = (y * w + x) * 4;
            sum += (px[o] + px[o + 1] + px[o + 2]) / 3;
            count++;
          }
        }
        if (sum / count >= 128) rows[r] |= 1 << i;
      }
    }
    return { n: rows[0], cs: rows[2] * 65536 + rows[1] };
  }

  /** Signed difference now − cs in ms, modulo 2^32 centiseconds. */
  function delayMs(cs) {
    const nowCs = Math.floor(Date.now() / 10) % 2 ** 32;
    let d = (nowCs - cs) % 2 ** 32;
    if (d < 0) d += 2 ** 32;
    if (d >= 2 ** 31) d -= 2 ** 32;
    return d * 10;
  }

  function presented(timeoutMs) {
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(null), timeoutMs);
      video.requestVideoFrameCallback((_now, meta) => {
        clearTimeout(t);
        resolve(meta);
      });
    });
  }

  const probe = {
    t0: null,
    first: null,
    readPattern,

    async signedIn(cameraId, timeoutMs) {
      await until(
        () => {
          const sel = document.getElementById('camera');
          return !sel.disabled && [...sel.options].some((o) => o.value === cameraId);
        },
        timeoutMs,
        'the camera list with ' + cameraId,
      );
    },

    /** Sets the datetime-local inputs from UTC ISO strings (local time of this page, seconds). */
    setRange(fromIso, toIso) {
      const pad = (n) => String(n).padStart(2, '0');
      const local = (iso) => {
        const d = new Date(iso);
        if (Number.isNaN(d.getTime())) throw new Error('bad date ' + iso);
        return (
          d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
          pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds())
        );
      };
      for (const [id, iso] of [['from', fromIso], ['to', toIso]]) {
        const el = document.getElementById(id);
        el.value = local(iso);
        el.dispatchEvent(new Event('input', { bubbles: true }));
        el.dispatchEvent(new Event('change', { bubbles: true }));
      }
      return [document.getElementById('from').value, document.getElementById('to').value];
    },

    /**
     * Records the click time on #buttonId and the first frame presented after it (optionally
     * pausing on it while its pattern is read).
     */
    arm(buttonId, pauseOnFirst) {
      probe.t0 = null;
      probe.first = null;
      document.getElementById(buttonId).addEventListener('click', () => (probe.t0 = performance.now()), {
        capture: true,
        once: true,
      });
      const onFrame = () => {
        if (probe.first) return;
        const state = player().state;
        if (probe.t0 === null || !video.videoWidth || (state !== 'recorded' && state !== 'live')) {
          video.requestVideoFrameCallback(onFrame);
          return;
        }
        const first = { t: performance.now() };
        if (pauseOnFirst) video.pause();
        first.currentTime = video.currentTime;
        first.frame = readPattern();
        if (pauseOnFirst) video.play().catch(() => {});
        probe.first = first;
      };
      video.requestVideoFrameCallback(onFrame);
      // A new source (hls.js attaching, MediaSource) must not lose the callback.
      video.addEventListener('loadstart', () => probe.first || video.requestVideoFrameCallback(onFrame));
    },

    async firstFrame(timeoutMs) {
      const f = await until(() => probe.first, timeoutMs, 'the first video frame');
      return { ttffMs: Math.round(f.t - probe.t0), frame: f.frame, currentTime: f.currentTime };
    },

    async advances(seconds, timeoutMs) {
      const c0 = video.currentTime;
      try {
        await until(() => video.currentTime >= c0 + seconds, timeoutMs, 'playback to advance');
        return true;
      } catch (err) {
        if (player().state === 'error') throw err;
        return false;
      }
    },

    /** Seeks to the media time of wall-clock `iso` per hls.js' level details; reads the frame. */
    async seek(iso, timeoutMs) {
      const hls = player().hls;
      if (!hls) throw new Error('no hls.js instance to map the wall-clock time');
      const level = hls.levels[hls.currentLevel >= 0 ? hls.currentLevel : 0];
      const details = (level && level.details) || hls.latestLevelDetails;
      if (!details) throw new Error('hls.js has no level details');
      const at = Date.parse(iso);
      const frags = details.fragments;
      let k = -1;
      frags.forEach((f, i) => {
        if (f.programDateTime !== null && f.programDateTime <= at) k = i;
      });
      if (k < 0) throw new Error('no fragment starts at or before ' + iso);
      const frag = frags[k];
      let target = frag.start + (at - frag.programDateTime) / 1000;
      // In a gap (the media timeline has none): the next footage.
      if (target >= frag.start + frag.duration && frags[k + 1]) target = frags[k + 1].start;
      video.pause();
      const seeked = new Promise((r) => video.addEventListener('seeked', r, { once: true }));
      const frame = presented(timeoutMs);
      video.currentTime = target;
      await Promise.race([
        seeked,
        sleep(timeoutMs).then(() => {
          throw new Error('timed out waiting for seeked');
        }),
      ]);
      // The frame for the new position is presented around 'seeked'; while paused there is no
      // further one, so give it a moment and read whatever is shown.
      await Promise.race([frame, sleep(1000)]);
      return { target, frame: readPattern(), currentTime: video.currentTime, fragStart: frag.start };
    },

    async sampleLive(count, everyMs) {
      const samples = [];
      for (let i = 0; i < count; i++) {
        if (player().state !== 'live') break;
        const p = readPattern();
        if (p) samples.push({ n: p.n, cs: p.cs, delayMs: delayMs(p.cs) });
        await sleep(everyMs);
      }
      return samples;
    },

    delayMs,

    async closed(timeoutMs) {
      await until(() => player().state === 'closed', timeoutMs, 'the live socket to close');
      return player().closeCode;
    },
  };
  window.__heldarProbe = probe;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : null;
}

async function main() {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 15000,
    env: { ...process.env, HOME: scratch, XDG_CONFIG_HOME: scratch, XDG_CACHE_HOME: scratch },
  });
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, timezoneId: TIMEZONE });
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
    const text = shorten(msg.text());
    // A CSP violation is a bug in the page; other console errors are reported only.
    if (/Content Security Policy/i.test(text)) result.errors.push(text);
    else if (!result.consoleErrors.includes(text)) result.consoleErrors.push(text);
  });
  page.on('pageerror', (err) => result.errors.push(shorten(err && err.message ? err.message : err)));

  const response = await page.goto(pageUrl, { waitUntil: 'load', timeout: 15000 });
  if (!response) throw new Error('navigation produced no response');
  if (!response.ok()) throw new Error(`GET ${pageUrl} answered HTTP ${response.status()}`);
  await page.evaluate(installProbe);

  await page.fill('#username', String(cfg.username ?? ''));
  await page.fill('#password', String(cfg.password ?? ''));
  await page.click('#signin');
  await page.evaluate((id) => window.__heldarProbe.signedIn(id, 10000), String(cfg.cameraId));
  await page.selectOption('#camera', String(cfg.cameraId));

  if (cfg.mode === 'recorded') {
    result.inputs = await page.evaluate(([f, t]) => window.__heldarProbe.setRange(f, t), [cfg.from, cfg.to]);
    await page.evaluate(() => window.__heldarProbe.arm('play', true));
    await page.click('#play');
    const first = await page.evaluate(() => window.__heldarProbe.firstFrame(15000));
    result.ttffMs = first.ttffMs;
    result.startFrame = first.frame;
    result.startMediaTime = first.currentTime;
    result.advanced = await page.evaluate(() => window.__heldarProbe.advances(1, 10000));
    if (cfg.seekTo) {
      const s = await page.evaluate((iso) => window.__heldarProbe.seek(iso, 8000), cfg.seekTo);
      result.seekFrame = s.frame;
      result.seekMediaTime = s.target;
    }
    result.currentTime = await page.evaluate(() => document.getElementById('video').currentTime);
    result.clock = await page.evaluate(() => document.getElementById('clock').textContent);
    if (!result.advanced) throw new Error('playback did not advance by 1 s within 10 s');
    if (!result.startFrame) throw new Error('could not read the first frame');
    if (cfg.seekTo && !result.seekFrame) throw new Error('could not read the frame after seeking');
    return;
  }

  // live, live-revoke
  await page.evaluate(() => window.__heldarProbe.arm('live', false));
  await page.click('#live');
  const first = await page.evaluate(() => window.__heldarProbe.firstFrame(15000));
  result.ttffMs = first.ttffMs;
  result.startFrame = first.frame;
  if (cfg.mode === 'live-revoke') {
    process.stderr.write('HELDAR_PLAY first-frame\n');
    result.closeCode = await page.evaluate(() => window.__heldarProbe.closed(15000));
    result.state = await page.evaluate(() => window.heldarPlayer.state);
    return;
  }
  const samples = await page.evaluate(() => window.__heldarProbe.sampleLive(20, 250));
  result.delays = samples.map((s) => s.delayMs);
  result.frames = samples.map((s) => s.n);
  result.delayP50 = median(result.delays);
  result.delayMax = result.delays.length ? Math.max(...result.delays) : null;
  Object.assign(
    result,
    await page.evaluate(() => ({
      state: window.heldarPlayer.state,
      dropped: window.heldarPlayer.dropped,
      currentTime: document.getElementById('video').currentTime,
    })),
  );
  if (result.state !== 'live') throw new Error(`the player left the live state: ${result.state}`);
  if (result.delays.length === 0) throw new Error('no live frame could be read');
}

main().then(
  () => finish(true),
  (err) => finish(false, err && err.message ? err.message.split('\n')[0] : String(err)),
);
