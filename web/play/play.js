/*
 * Heldar player page (served at /play): sign in over GraphQL, pick a camera,
 * then play
 *  - recorded footage: `playback` gives an HLS VOD playlist, played with
 *    hls.js (window.Hls from /play/hls.min.js) or natively where hls.js
 *    cannot run (Safari on iOS);
 *  - live video: `liveStream` gives a WebSocket path that sends a JSON
 *    "init" text message, the init segment, then one fMP4 fragment per
 *    binary message; they are appended to a single MediaSource SourceBuffer.
 * window.heldarPlayer exposes the state to tests:
 *   { state: 'idle'|'recorded'|'live'|'closed'|'error', closeCode, lastError, hls, dropped }.
 */
(function () {
  'use strict';

  const TOKEN_KEY = 'heldar.play.accessToken';
  const ENDPOINT = document.body.dataset.graphqlEndpoint || '/graphql';
  const LIVE_MAX_LAG_S = 1.0; // behind the newest data by more than this: jump
  const LIVE_TARGET_LAG_S = 0.2; // ... to this far behind it
  const LIVE_CATCH_UP_S = 0.15; // more than target + this behind: play at 1.1x
  const LIVE_SETTLE_MS = 1500; // at first, jump instead (a new stream starts with a cached GOP)
  const LIVE_KEEP_S = 30; // keep this much played video in the buffer
  const LIVE_TRIM_SLACK_S = 5; // trim in steps of at least this much
  // What the live socket's own close codes mean (others show the server's reason).
  const CLOSE_REASONS = {
    4403: ': access revoked or no longer allowed',
    4404: ': the camera is gone or disabled',
    1012: ": the camera's stream changed; press Play again",
  };

  const LOGIN = 'mutation($u:String!,$p:String!){ login(username:$u,password:$p){ accessToken } }';
  const CAMERAS = '{ cameras(first:100){ nodes { id name } } }';
  const PLAYBACK =
    'query($c:ID!,$f:DateTime!,$t:DateTime!){ playback(cameraId:$c, from:$f, to:$t)' +
    '{ url expiresAt coveredSeconds gaps { from to seconds reason } } }';
  const LIVE = 'query($c:ID!){ liveStream(cameraId:$c, profile: MAIN){ url hlsUrl expiresAt } }';

  const $ = (id) => document.getElementById(id);
  const video = $('video');
  const player = (window.heldarPlayer = {
    state: 'idle',
    closeCode: null,
    lastError: null,
    hls: null,
    dropped: 0,
  });
  let token = sessionStorage.getItem(TOKEN_KEY);
  let teardown = null; // stops whatever is playing

  // ---- small helpers -------------------------------------------------------

  function setStatus(text, kind) {
    const el = $('status');
    el.textContent = text;
    el.className = 'status' + (kind ? ' ' + kind : '');
  }

  function fail(err) {
    const message = err && err.message ? err.message : String(err);
    player.state = 'error';
    player.lastError = message;
    setStatus(message, 'error');
  }

  async function gql(query, variables) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const body = JSON.stringify({ query, variables });
    const res = await fetch(ENDPOINT, { method: 'POST', headers, body });
    let answer;
    try {
      answer = await res.json();
    } catch {
      throw new Error('HTTP ' + res.status + ' from ' + ENDPOINT);
    }
    if (answer.errors && answer.errors.length) throw new Error(answer.errors.map((e) => e.message).join('; '));
    if (!res.ok || !answer.data) throw new Error('HTTP ' + res.status + ' from ' + ENDPOINT);
    return answer.data;
  }

  const pad = (n) => String(n).padStart(2, '0');

  /** Date → datetime-local value in the browser's time zone, with seconds. */
  function toLocalInput(d) {
    return (
      d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) +
      'T' + pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds())
    );
  }

  /** datetime-local value (local time, no offset) → UTC ISO string. */
  function fromLocalInput(value, label) {
    const d = new Date(value); // date-time without an offset parses as local time
    if (!value || Number.isNaN(d.getTime())) throw new Error(label + ': enter a date and time');
    return d.toISOString();
  }

  const DATE_FORMAT = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: 'numeric', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 1,
  });
  const formatDate = (d) => DATE_FORMAT.format(d);

  function stop() {
    if (teardown) {
      const t = teardown;
      teardown = null;
      t();
    }
    video.removeAttribute('src');
    video.load();
    video.playbackRate = 1;
    player.state = 'idle';
    player.closeCode = null;
    player.hls = null;
    $('clock').textContent = '';
  }

  // ---- session and cameras ------------------------------------------------

  function showSignedIn(signedIn) {
    $('signin-form').hidden = signedIn;
    $('session').hidden = !signedIn;
    for (const id of ['camera', 'play', 'live']) $(id).disabled = !signedIn;
  }

  async function loadCameras() {
    const data = await gql(CAMERAS);
    const select = $('camera');
    const previous = select.value;
    select.replaceChildren(
      ...data.cameras.nodes.map((c) => {
        const opt = document.createElement('option');
        opt.value = c.id;
        opt.textContent = c.name || c.id;
        return opt;
      }),
    );
    if (previous) select.value = previous;
    showSignedIn(true);
    setStatus(data.cameras.nodes.length ? '' : 'No cameras visible to this account.', 'note');
  }

  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    stop();
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    setStatus('Signing in…');
    try {
      const data = await gql(LOGIN, { u: $('username').value, p: $('password').value });
      token = data.login.accessToken;
      sessionStorage.setItem(TOKEN_KEY, token);
      $('password').value = '';
      await loadCameras();
    } catch (err) {
      fail(err);
    }
  });

  $('signout').addEventListener('click', () => {
    stop();
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('camera').replaceChildren();
    showSignedIn(false);
    setStatus('Signed out.');
  });

  // ---- recorded footage (HLS) ---------------------------------------------

  function showGaps(gaps) {
    $('gaps').replaceChildren(
      ...gaps.map((g) => {
        const li = document.createElement('li');
        li.textContent =
          'gap ' + formatDate(new Date(g.from)) + ' → ' + formatDate(new Date(g.to)) +
          ' (' + g.seconds + ' s' + (g.reason ? ', ' + g.reason : '') + ')';
        return li;
      }),
    );
  }

  function wallClock() {
    if (player.state !== 'recorded') return null;
    if (player.hls) return player.hls.playingDate;
    // Native HLS (Safari): the start date comes from EXT-X-PROGRAM-DATE-TIME.
    const start = video.getStartDate ? video.getStartDate() : null;
    if (start && !Number.isNaN(start.getTime())) return new Date(start.getTime() + video.currentTime * 1000);
    return null;
  }

  $('recorded-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    stop();
    try {
      const from = fromLocalInput($('from').value, 'From');
      const to = fromLocalInput($('to').value, 'To');
      if (from >= to) throw new Error('"From" must be before "To"');
      setStatus('Looking up footage…');
      $('gaps').replaceChildren();
      const { playback } = await gql(PLAYBACK, { c: $('camera').value, f: from, t: to });
      if (!playback) throw new Error('No footage for that camera and time range.');
      showGaps(playback.gaps || []);
      player.state = 'recorded';
      setStatus(
        'Recorded: ' + playback.coveredSeconds + ' s of footage, ' + (playback.gaps || []).length +
          ' gap(s); link valid until ' + formatDate(new Date(playback.expiresAt)) + '.',
      );
      playHls(playback.url);
    } catch (err) {
      fail(err);
    }
  });

  function playHls(url) {
    const Hls = window.Hls;
    if (Hls && Hls.isSupported()) {
      // startPosition -1 (default) honours EXT-X-START, i.e. playback starts at "from".
      const hls = new Hls({ enableWorker: false });
      let mediaRecoveries = 0;
      player.hls = hls;
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries++ < 1) {
          hls.recoverMediaError();
          return;
        }
        fail(new Error('Playback failed: ' + data.type + ' / ' + data.details));
        hls.destroy();
      });
      // Position the element at EXT-X-START ("from") before any media is appended: set while
      // nothing is loaded, currentTime becomes where playback begins, so the keyframe lead-in
      // before "from" is never painted first (hls.js would seek there only after the first
      // fragment was buffered and shown).
      hls.once(Hls.Events.LEVEL_LOADED, (_event, data) => {
        const offset = data.details && data.details.startTimeOffset;
        if (offset > 0 && video.readyState === 0) video.currentTime = offset;
      });
      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
      hls.loadSource(url);
      hls.attachMedia(video);
      teardown = () => hls.destroy();
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url;
      video.play().catch(() => {});
    } else {
      throw new Error('This browser can play neither HLS nor MediaSource video.');
    }
  }

  // ---- live video (fMP4 over a WebSocket into MediaSource) ----------------

  $('live').addEventListener('click', async () => {
    stop();
    try {
      setStatus('Opening live stream…');
      $('gaps').replaceChildren();
      const { liveStream } = await gql(LIVE, { c: $('camera').value });
      if (!liveStream) throw new Error('No live stream for that camera.');
      if (window.MediaSource) {
        playLive(liveStream.url);
      } else if (liveStream.hlsUrl && video.canPlayType('application/vnd.apple.mpegurl')) {
        player.state = 'live'; // HLS fallback (Safari without MSE)
        video.src = liveStream.hlsUrl;
        video.play().catch(() => {});
        setStatus('Live (HLS).');
      } else {
        throw new Error('This browser supports neither MediaSource nor HLS.');
      }
    } catch (err) {
      fail(err);
    }
  });

  function playLive(path) {
    const mediaSource = new MediaSource();
    const objectUrl = URL.createObjectURL(mediaSource);
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path);
    ws.binaryType = 'arraybuffer';
    const JUMP = 'jump'; // queue marker: jump to the fragment appended after it
    const queue = []; // ArrayBuffers (and JUMP markers) waiting for the SourceBuffer
    let mimeType = null;
    let sourceBuffer = null;
    let jump = true; // move the playhead to the newest data after the next append
    let settleUntil = 0;
    let stopped = false;

    player.state = 'live';
    video.src = objectUrl;

    function liveFail(message) {
      if (stopped) return;
      stopped = true;
      ws.close(1000);
      fail(new Error(message));
    }

    function setUp() {
      if (sourceBuffer || !mimeType || mediaSource.readyState !== 'open') return;
      if (!MediaSource.isTypeSupported(mimeType)) {
        liveFail('This browser cannot decode ' + mimeType + '.');
        return;
      }
      sourceBuffer = mediaSource.addSourceBuffer(mimeType);
      sourceBuffer.addEventListener('updateend', afterUpdate);
      pump();
    }

    function pump() {
      if (!sourceBuffer || sourceBuffer.updating || stopped) return;
      while (queue[0] === JUMP) {
        queue.shift();
        jump = true;
      }
      if (queue.length === 0) return;
      try {
        sourceBuffer.appendBuffer(queue[0]);
        queue.shift();
      } catch (err) {
        if (err.name === 'QuotaExceededError' && video.currentTime > 1) {
          sourceBuffer.remove(0, video.currentTime - 1); // retried on updateend
        } else {
          liveFail('Live video: ' + err.message);
        }
      }
    }

    function afterUpdate() {
      if (stopped) return;
      const ranges = sourceBuffer.buffered;
      if (ranges.length > 0) {
        const last = ranges.length - 1;
        const start = ranges.start(last);
        const end = ranges.end(last);
        const now = video.currentTime;
        const lag = end - now;
        const started = settleUntil !== 0;
        if (!started) settleUntil = performance.now() + LIVE_SETTLE_MS;
        const behind = lag > LIVE_TARGET_LAG_S + LIVE_CATCH_UP_S;
        const settling = performance.now() < settleUntil;
        if (started && video.paused && !jump) {
          // Paused by the viewer: leave the playhead alone (resuming jumps back to live).
        } else if (jump || now < start || lag > LIVE_MAX_LAG_S || (settling && behind)) {
          jump = false;
          video.currentTime = Math.max(start, end - LIVE_TARGET_LAG_S);
          if (video.paused) video.play().catch(() => {});
        } else {
          // Between jumps, play slightly fast to creep back towards the target lag.
          video.playbackRate = behind ? 1.1 : 1;
        }
        if (!sourceBuffer.updating && now - ranges.start(0) > LIVE_KEEP_S + LIVE_TRIM_SLACK_S) {
          sourceBuffer.remove(0, now - LIVE_KEEP_S);
          return; // the next updateend continues with the queue
        }
      }
      pump();
    }

    mediaSource.addEventListener(
      'sourceopen',
      () => {
        URL.revokeObjectURL(objectUrl);
        setUp();
      },
      { once: true },
    );

    ws.addEventListener('message', (ev) => {
      if (stopped) return;
      if (typeof ev.data !== 'string') {
        queue.push(ev.data);
        pump();
        return;
      }
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === 'init') {
        mimeType = msg.mimeType;
        setStatus('Live.');
        setUp();
      } else if (msg.type === 'dropped') {
        // The next fragment starts at a keyframe further on: go straight to it.
        player.dropped += msg.frames || 0;
        queue.push(JUMP);
        pump();
        setStatus('Live: fell behind, skipped ' + msg.frames + ' frame(s).', 'note');
      }
    });

    ws.addEventListener('close', (ev) => {
      if (stopped) return;
      stopped = true;
      player.state = 'closed';
      player.closeCode = ev.code;
      setStatus(
        'closed (' + ev.code + ')' + (CLOSE_REASONS[ev.code] || (ev.reason ? ': ' + ev.reason : '')),
        ev.code === 1000 ? '' : 'error',
      );
    });

    teardown = () => {
      stopped = true;
      ws.close(1000);
    };
  }

  $('stop').addEventListener('click', () => {
    stop();
    setStatus('Stopped.');
  });

  // ---- clock readout and media errors -------------------------------------

  video.addEventListener('timeupdate', () => {
    let text = '';
    if (player.state === 'recorded') {
      const d = wallClock();
      if (d) text = 'Watching ' + formatDate(d);
    } else if (player.state === 'live' && video.buffered.length > 0) {
      const behind = video.buffered.end(video.buffered.length - 1) - video.currentTime;
      text = 'Live, ' + Math.max(0, behind).toFixed(1) + ' s behind the newest frame';
    }
    $('clock').textContent = text;
  });

  video.addEventListener('error', () => {
    // hls.js reports (and recovers from) its own media errors.
    if (player.hls || player.state === 'idle' || !video.error) return;
    fail(new Error('Video error: ' + (video.error.message || 'code ' + video.error.code)));
    if (teardown) teardown();
  });

  // ---- start ---------------------------------------------------------------

  const now = new Date();
  $('to').value = toLocalInput(now);
  $('from').value = toLocalInput(new Date(now.getTime() - 10 * 60 * 1000));
  showSignedIn(false);
  if (token) {
    loadCameras().catch((err) => {
      token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      showSignedIn(false);
      fail(new Error('Please sign in again (' + err.message + ').'));
    });
  }
})();
