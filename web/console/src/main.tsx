// The operator console, served at `/`: sign-in, a live wall, a day timeline per camera (gaps by
// reason, previews on hover, click to play) and the review queue. Built only on the public
// GraphQL API, with the documents typed by codegen (src/gql.ts).
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import Hls from 'hls.js';
import { ApiError, Session, current, onSession, op, refresh, signIn, signOut, subscribe } from './api';
import { playLive } from './live';
import { Admin } from './admin';
import { VirtualList } from './virtual';
import { Zones } from './zones';
import type {
  CameraStatusSubscription,
  CamerasQuery,
  ClipExportSubscription,
  ExportClipMutation,
  LockEvidenceMutation,
  CoverageQuery,
  LiveStreamQuery,
  MarkReviewedMutation,
  PlaybackQuery,
  ReviewQuery,
  ReviewSummaryQuery,
  ReviewUpdatesSubscription,
  ThumbnailQuery,
  TimelineQuery,
} from './gql';

type Camera = CamerasQuery['cameras']['nodes'][number];
type Status = CameraStatusSubscription['cameraStatus']['status'];
type Page = 'live' | 'timeline' | 'review' | 'zones' | 'admin';

/** What tests read: the page shown and what the player is doing. */
const probe = { page: 'signin', player: 'idle', playing: null as null | { from: string; to: string }, error: '', timelineRenderMs: 0, reviewLoaded: 0, previewShown: 0, eventsShown: 0 };
(window as unknown as { heldarConsole: typeof probe & { refresh: typeof refresh } }).heldarConsole = Object.assign(probe, { refresh });

function message(err: unknown): string {
  if (err instanceof ApiError) return `${err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(err);
}

function SignIn() {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const form = ev.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    setBusy(true);
    setError('');
    try {
      await signIn(String(data.get('username')), String(data.get('password')));
    } catch (err) {
      setError(message(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Heldar</h1>
        <label>Username <input id="username" name="username" autocomplete="username" required /></label>
        <label>Password <input id="password" name="password" type="password" autocomplete="current-password" required /></label>
        <button id="signin" type="submit" disabled={busy}>Sign in</button>
        {error && <p id="signin-error" class="error" role="alert">{error}</p>}
      </form>
    </main>
  );
}

/** A recorded playback in a <video> through hls.js (or native HLS). */
function usePlayer() {
  const video = useRef<HTMLVideoElement>(null);
  const hls = useRef<Hls | null>(null);
  const [status, setStatus] = useState('');
  const play = useCallback(async (cameraId: string, from: Date, to: Date) => {
    const el = video.current;
    if (!el) return;
    hls.current?.destroy();
    probe.player = 'loading';
    probe.playing = { from: from.toISOString(), to: to.toISOString() };
    try {
      const data = await op<PlaybackQuery>('Playback', { cameraId, from: from.toISOString(), to: to.toISOString() });
      const { url, coveredSeconds } = data.playback;
      setStatus(`Playing ${coveredSeconds.toFixed(0)} s of footage from ${from.toLocaleString()}`);
      if (Hls.isSupported()) {
        const h = new Hls({ enableWorker: false });
        hls.current = h;
        // Start at EXT-X-START ("from") before any media is appended, so the keyframe lead-in
        // before it is never painted first (hls.js seeks there only once a fragment shows).
        h.once(Hls.Events.LEVEL_LOADED, (_event, loaded) => {
          const offset = loaded.details.startTimeOffset;
          if (offset !== null && offset > 0 && el.readyState === 0) el.currentTime = offset;
        });
        h.loadSource(url);
        h.attachMedia(el);
      } else {
        el.src = url;
      }
      el.addEventListener('playing', () => { probe.player = 'playing'; }, { once: true });
      await el.play().catch(() => undefined);
    } catch (err) {
      probe.player = 'error';
      setStatus(message(err));
    }
  }, []);
  useEffect(() => () => hls.current?.destroy(), []);
  const view = (
    <section class="player" aria-label="Player">
      <video id="player" ref={video} controls muted playsInline />
      <p class="status" role="status">{status}</p>
    </section>
  );
  return { play, view };
}

function LiveTile({ camera, status, focused, onFocus }: { camera: Camera; status: Status; focused: boolean; onFocus: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [closed, setClosed] = useState<number | null>(null);
  // Bumped to open the live view again: the server closes it with 1012 when the camera's
  // stream URL changed (come back for the new stream).
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    if (!camera.enabled || !video.current) return;
    let stop = () => {};
    let cancelled = false;
    let again: ReturnType<typeof setTimeout> | undefined;
    const onClose = (code: number) => {
      if (code === 1012) again = setTimeout(() => setGeneration((g) => g + 1), 500);
      else setClosed(code);
    };
    setClosed(null);
    op<LiveStreamQuery>('LiveStream', { cameraId: camera.id })
      .then((data) => {
        if (!cancelled && video.current) stop = playLive(video.current, data.liveStream.url, onClose);
      })
      .catch(() => setClosed(-1));
    return () => {
      cancelled = true;
      clearTimeout(again);
      stop();
    };
  }, [camera.id, camera.enabled, generation]);
  return (
    <figure class={`tile${focused ? ' focused' : ''}`} data-camera={camera.id} data-state={status.state}>
      <button type="button" class="tile-focus" onClick={onFocus} aria-pressed={focused} aria-label={`Focus ${camera.name}`}>
        <video ref={video} muted playsInline />
      </button>
      <figcaption>
        {camera.name} <span class={`state state-${status.state}`} title={status.lastError ?? ''}>{status.state}</span>
        {closed !== null && <span class="error"> live closed ({closed})</span>}
      </figcaption>
    </figure>
  );
}

function LiveWall({ cameras, states }: { cameras: Camera[]; states: Record<string, Status> }) {
  const [focus, setFocus] = useState<string | null>(null);
  return (
    <section id="live-wall" class={`wall${focus ? ' has-focus' : ''}`} aria-label="Live wall">
      {cameras.map((c) => (
        <LiveTile key={c.id} camera={c} status={states[c.id] ?? c.status} focused={focus === c.id} onFocus={() => setFocus(focus === c.id ? null : c.id)} />
      ))}
    </section>
  );
}

/** The UTC instant of local midnight starting `day` (YYYY-MM-DD) in time zone `tz`. */
function zonedMidnight(day: string, tz: string): Date {
  const [y, m, d] = day.split('-').map(Number);
  const guess = Date.UTC(y, m - 1, d);
  const offset = (at: number) => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
        .formatToParts(new Date(at))
        .map((p) => [p.type, p.value]),
    );
    const local = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return local - at;
  };
  const first = guess - offset(guess);
  return new Date(guess - offset(first));
}

/** What to do with a moment picked on the timeline: export a clip from it, or hold it. */
/** A Date as a `datetime-local` value (the browser's time zone, whole seconds). */
function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function Selection({ camera, from: picked }: { camera: string; from: Date }) {
  const [from, setFrom] = useState(new Date(Math.floor(picked.getTime() / 1000) * 1000));
  const [seconds, setSeconds] = useState(10);
  const [job, setJob] = useState<ClipExportSubscription['clipExport'] | null>(null);
  const [note, setNote] = useState('');
  const stop = useRef<() => void>();
  useEffect(() => () => stop.current?.(), []);
  const to = new Date(from.getTime() + seconds * 1000);
  const exportClip = async () => {
    setNote('');
    try {
      const created = await op<ExportClipMutation>('ExportClip', { input: { cameraId: camera, from: from.toISOString(), to: to.toISOString() } });
      stop.current?.();
      stop.current = subscribe<ClipExportSubscription>('ClipExport', { id: created.exportClip.id }, (d) => setJob(d.clipExport));
    } catch (err) {
      setNote(message(err));
    }
  };
  const hold = async () => {
    try {
      const held = await op<LockEvidenceMutation>('LockEvidence', { input: { cameraId: camera, from: from.toISOString(), to: to.toISOString() } });
      setNote(`Held as ${held.lockEvidence.id}: retention keeps this footage until the hold is released.`);
    } catch (err) {
      setNote(message(err));
    }
  };
  return (
    <section id="selection" aria-label="Selection">
      <p>
        <label>From <input id="export-from" type="datetime-local" step={1} value={localInput(from)}
          onChange={(e) => { const d = new Date((e.target as HTMLInputElement).value); if (!Number.isNaN(d.getTime())) setFrom(d); }} /></label>{' '}
        on {camera}, for <label><input id="export-seconds" type="number" min={1} max={3600} value={seconds}
          onInput={(e) => setSeconds(Number((e.target as HTMLInputElement).value) || 1)} /> seconds</label>
      </p>
      <button id="export" type="button" onClick={exportClip}>Export clip</button>{' '}
      <button id="hold" type="button" onClick={hold}>Hold as evidence</button>
      {job && (
        <p id="export-state" data-status={job.status}>
          <progress id="export-progress" max={1} value={job.progress} aria-label="Export progress" /> {job.status}
          {job.error && <span class="error"> {job.error}</span>}
          {job.downloadUrl && <> <a id="export-download" href={job.downloadUrl} download>Download</a></>}
          {job.manifestUrl && <> <a id="export-manifest" href={job.manifestUrl}>Manifest</a></>}
        </p>
      )}
      {note && <p id="selection-note" role="status">{note}</p>}
    </section>
  );
}

/** Several days at once: one `footageTimeline` query (hourly buckets, every camera), each
 * camera's row drawn on a canvas (thousands of buckets stay cheap); a click plays that hour. */
function MultiDay({ cameras, start, days, tz, play }: { cameras: Camera[]; start: Date; days: number; tz: string; play: (camera: string, from: Date, to: Date) => void }) {
  const [rows, setRows] = useState<TimelineQuery['footageTimeline']>([]);
  const [error, setError] = useState('');
  const canvases = useRef<Record<string, HTMLCanvasElement | null>>({});
  const end = new Date(start.getTime() + days * 86_400_000);
  useEffect(() => {
    if (cameras.length === 0) return;
    const ids = cameras.map((c) => c.id);
    const groups: string[][] = [];
    for (let i = 0; i < ids.length; i += TIMELINE_CAMERAS) groups.push(ids.slice(i, i + TIMELINE_CAMERAS));
    Promise.all(groups.map((cameraIds) => op<TimelineQuery>('Timeline', { cameraIds, from: start.toISOString(), to: end.toISOString(), timeZone: tz })))
      .then((answers) => setRows(answers.flatMap((d) => d.footageTimeline)))
      .catch((err) => setError(message(err)));
  }, [cameras, start.getTime(), days, tz]);
  useEffect(() => {
    const began = performance.now();
    const span = end.getTime() - start.getTime();
    for (const row of rows) {
      const canvas = canvases.current[row.cameraId];
      if (!canvas) continue;
      const width = (canvas.width = canvas.clientWidth || 800);
      const height = (canvas.height = canvas.clientHeight || 24);
      const ctx = canvas.getContext('2d');
      if (!ctx) continue;
      ctx.clearRect(0, 0, width, height);
      // The compact form: starts and ratios side by side; an hour ends where the next begins.
      const starts = row.bucketStarts.map((s) => new Date(s).getTime());
      row.coverageRatios.forEach((ratio, i) => {
        const from = starts[i];
        const to = starts[i + 1] ?? from + 3_600_000;
        const x = ((from - start.getTime()) / span) * width;
        ctx.fillStyle = ratio >= 0.99 ? '#2f8f46' : ratio > 0 ? '#d97706' : '#9ca3af';
        ctx.fillRect(x, 0, Math.max(((to - from) / span) * width, 1), height);
      });
    }
    probe.timelineRenderMs = performance.now() - began;
  }, [rows]);
  const onClick = (camera: string) => (ev: MouseEvent) => {
    const rect = (ev.currentTarget as HTMLElement).getBoundingClientRect();
    const ratio = (ev.clientX - rect.left) / rect.width;
    const at = new Date(start.getTime() + Math.floor((ratio * (end.getTime() - start.getTime())) / 3_600_000) * 3_600_000);
    play(camera, at, new Date(at.getTime() + 3_600_000));
  };
  return (
    <>
      {error && <p class="error" role="alert">{error}</p>}
      {cameras.map((c) => (
        <div key={c.id} class="row">
          <span class="row-name">{c.name}</span>
          <canvas class="bar" id={`days-${c.id}`} ref={(el) => { canvases.current[c.id] = el; }} role="img"
            aria-label={`${c.name}: hourly coverage over ${days} days; click an hour to play it`} onClick={onClick(c.id)} />
        </div>
      ))}
      <p class="legend">Each hour: green recorded, amber partly, grey nothing.</p>
    </>
  );
}

function Timeline({ cameras, play }: { cameras: Camera[]; play: (camera: string, from: Date, to: Date) => void }) {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const zones = useMemo(() => {
    const all = (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf('timeZone');
    return Array.from(new Set(['UTC', here, ...all]));
  }, [here]);
  const [tz, setTz] = useState(here);
  const [day, setDay] = useState(new Date().toLocaleDateString('sv-SE'));
  const [coverage, setCoverage] = useState<Record<string, CoverageQuery['footageCoverage']>>({});
  const [preview, setPreview] = useState<{ camera: string; url: string; left: number } | null>(null);
  const [error, setError] = useState('');
  const [picked, setPicked] = useState<{ camera: string; from: Date } | null>(null);
  const [days, setDays] = useState(1);
  const start = zonedMidnight(day, tz);
  const end = new Date(start.getTime() + 86_400_000);
  useEffect(() => {
    setError('');
    Promise.all(
      cameras.map((c) => op<CoverageQuery>('Coverage', { cameraId: c.id, from: start.toISOString(), to: end.toISOString() })),
    )
      .then((all) => setCoverage(Object.fromEntries(all.map((a) => [a.footageCoverage.cameraId, a.footageCoverage]))))
      .catch((err) => setError(message(err)));
  }, [cameras, day, tz]);
  const at = (ev: MouseEvent) => {
    const bar = ev.currentTarget as HTMLElement;
    const rect = bar.getBoundingClientRect();
    const ratio = Math.min(Math.max((ev.clientX - rect.left) / rect.width, 0), 1);
    return { when: new Date(start.getTime() + ratio * 86_400_000), left: ev.clientX - rect.left };
  };
  const hover = useRef<number>();
  const onMove = (camera: string) => (ev: MouseEvent) => {
    const { when, left } = at(ev);
    window.clearTimeout(hover.current);
    hover.current = window.setTimeout(() => {
      op<ThumbnailQuery>('Thumbnail', { cameraId: camera, at: when.toISOString() })
        .then((t) => setPreview({ camera, url: t.thumbnail.url, left }))
        .catch(() => setPreview(null));
    }, 200);
  };
  const pct = (iso: string) => ((new Date(iso).getTime() - start.getTime()) / 86_400_000) * 100;
  return (
    <section id="timeline" aria-label="Timeline">
      <div class="toolbar">
        <label>Day <input id="day" type="date" value={day} onChange={(e) => setDay((e.target as HTMLInputElement).value)} /></label>
        <label>Span <select id="span" value={String(days)} onChange={(e) => setDays(Number((e.target as HTMLSelectElement).value))}>
          <option value="1">Day</option><option value="7">Week from the day</option><option value="30">30 days from the day</option>
        </select></label>
        <label>Time zone <select id="tz" value={tz} onChange={(e) => setTz((e.target as HTMLSelectElement).value)}>
          {zones.map((z) => <option key={z} value={z}>{z}</option>)}
        </select></label>
      </div>
      {error && <p class="error" role="alert">{error}</p>}
      {days > 1 && <MultiDay cameras={cameras} start={start} days={days} tz={tz} play={play} />}
      {days === 1 && cameras.map((c) => {
        const cov = coverage[c.id];
        return (
          <div key={c.id} class="row">
            <span class="row-name">{c.name}</span>
            <div
              class="bar"
              id={`bar-${c.id}`}
              role="button"
              tabIndex={0}
              aria-label={`${c.name}: ${cov ? Math.round(cov.coveredSeconds / 60) : 0} minutes recorded; click to play`}
              onMouseMove={onMove(c.id)}
              onMouseLeave={() => { window.clearTimeout(hover.current); setPreview(null); }}
              onClick={(ev) => {
                const { when } = at(ev as MouseEvent);
                setPicked({ camera: c.id, from: when });
                play(c.id, when, new Date(Math.min(when.getTime() + 3_600_000, end.getTime())));
              }}
              onKeyDown={(ev) => { if (ev.key === 'Enter') play(c.id, start, end); }}
            >
              {cov?.gaps.map((g) => (
                <span
                  key={g.from}
                  class={`gap reason-${g.reason ?? 'UNKNOWN'}`}
                  style={{ left: `${pct(g.from)}%`, width: `${Math.max(pct(g.to) - pct(g.from), 0.1)}%` }}
                  title={`${g.reason ?? 'no footage'}: ${new Date(g.from).toLocaleTimeString('en-GB', { timeZone: tz })}, ${g.seconds.toFixed(0)} s`}
                />
              ))}
              {preview?.camera === c.id && <img class="preview" src={preview.url} alt="" style={{ left: `${preview.left}px` }} onLoad={() => { probe.previewShown += 1; }} />}
            </div>
          </div>
        );
      })}
      {picked && <Selection key={`${picked.camera}${picked.from.getTime()}`} camera={picked.camera} from={picked.from} />}
      {days === 1 && <p class="legend">Green: recorded. Gaps: <span class="gap-key reason-CAMERA_OFFLINE">camera offline</span> <span class="gap-key reason-LOGIN_REFUSED">login refused</span> <span class="gap-key reason-RECORDING_DISABLED">recording off</span> <span class="gap-key reason-PRUNED">pruned</span> <span class="gap-key reason-STREAM_PAUSED">stream paused</span> <span class="gap-key reason-UNKNOWN">other</span></p>}
    </section>
  );
}

type Item = ReviewQuery['reviewItems']['nodes'][number];

/** The review queue: pages of 500 fetched as the list nears its end, kept current by the
 * `reviewItems` subscription (changed items in place, new ones on top) and live counts. */
function Review({ play }: { play: (camera: string, from: Date, to: Date) => void }) {
  const [items, setItems] = useState<Item[]>([]);
  const [summary, setSummary] = useState<ReviewSummaryQuery['reviewSummary'] | null>(null);
  const [error, setError] = useState('');
  const next = useRef<{ after: string | null; more: boolean; busy: boolean }>({ after: null, more: true, busy: false });
  const page = useCallback(async () => {
    const at = next.current;
    if (!at.more || at.busy) return;
    at.busy = true;
    try {
      const d = await op<ReviewQuery>('Review', { first: 500, after: at.after });
      at.after = d.reviewItems.pageInfo.endCursor ?? null;
      at.more = d.reviewItems.pageInfo.hasNextPage;
      setItems((all) => {
        const seen = new Set(all.map((i) => i.id));
        return [...all, ...d.reviewItems.nodes.filter((i) => !seen.has(i.id))];
      });
      probe.reviewLoaded += d.reviewItems.nodes.length;
    } catch (err) {
      setError(message(err));
    } finally {
      at.busy = false;
    }
  }, []);
  const counts = useRef<number>();
  const count = useCallback(() => {
    window.clearTimeout(counts.current);
    counts.current = window.setTimeout(() => {
      const to = new Date();
      const from = new Date(to.getTime() - 7 * 86_400_000);
      op<ReviewSummaryQuery>('ReviewSummary', { from: from.toISOString(), to: new Date(to.getTime() + 60_000).toISOString(), timeZone: 'UTC' })
        .then((d) => setSummary(d.reviewSummary))
        .catch((err) => setError(message(err)));
    }, 200);
  }, []);
  useEffect(() => {
    void page();
    count();
    return subscribe<ReviewUpdatesSubscription>('ReviewUpdates', {}, (d) => {
      const changed = d.reviewItems;
      setItems((all) => {
        const i = all.findIndex((x) => x.id === changed.id);
        if (i < 0) return [changed, ...all];
        const copy = all.slice();
        copy[i] = changed;
        return copy;
      });
      count();
    });
  }, [page, count]);
  const mark = async (id: string) => {
    try {
      const done = await op<MarkReviewedMutation>('MarkReviewed', { ids: [id] });
      const reviewed = new Set(done.markReviewed.filter((m) => m.reviewed).map((m) => m.id));
      setItems((all) => all.map((x) => (reviewed.has(x.id) ? { ...x, reviewed: true } : x)));
      count();
    } catch (err) {
      setError(message(err));
    }
  };
  return (
    <section id="review" aria-label="Review queue">
      <p id="unreviewed-count" aria-live="polite">{summary ? `${summary.unreviewedAlerts} alerts and ${summary.unreviewedDetections} detections to review this week` : 'Loading…'}</p>
      {error && <p class="error" role="alert">{error}</p>}
      <VirtualList id="review-list" items={items} rowHeight={44} height={440} onNearEnd={() => void page()} row={(item) => (
        <li key={item.id} data-id={item.id} data-reviewed={String(item.reviewed)} class={item.reviewed ? 'reviewed' : ''}>
          <button type="button" class="link open" onClick={() => play(item.cameraId, new Date(new Date(item.startedAt).getTime() - 5_000), new Date(new Date(item.endedAt).getTime() + 5_000))}>
            <strong>{item.severity}</strong> {item.labels.join(', ')} on {item.cameraId}, {new Date(item.startedAt).toLocaleString()} ({item.eventCount} events)
          </button>
          {!item.reviewed && <button type="button" class="mark" onClick={() => mark(item.id)}>Mark reviewed</button>}
        </li>
      )} />
    </section>
  );
}

/** Every camera, a page of 100 at a time. */
async function allCameras(): Promise<Camera[]> {
  const all: Camera[] = [];
  let after: string | null = null;
  for (;;) {
    const d: CamerasQuery = await op<CamerasQuery>('Cameras', { after });
    all.push(...d.cameras.nodes);
    if (!d.cameras.pageInfo.hasNextPage) return all;
    after = d.cameras.pageInfo.endCursor ?? null;
  }
}

/** Cameras per `footageTimeline` query: 30 days of hourly buckets for 16 cameras stay well
 * under the server's default complexity limit (and its 64 cameras per query). */
const TIMELINE_CAMERAS = 16;

function Console({ session }: { session: Session }) {
  const [page, setPage] = useState<Page>('live');
  const [cameras, setCameras] = useState<Camera[]>([]);
  const [states, setStates] = useState<Record<string, Status>>({});
  const [error, setError] = useState('');
  const { play, view } = usePlayer();
  useEffect(() => {
    allCameras().then(setCameras).catch((err) => setError(message(err)));
    // Each camera's recorder state as it changes (the tiles and rows show it).
    return subscribe<CameraStatusSubscription>('CameraStatus', {}, (d) => {
      const { cameraId, status } = d.cameraStatus;
      setStates((all) => ({ ...all, [cameraId]: status }));
    });
  }, []);
  probe.page = page;
  const go = (camera: string, from: Date, to: Date) => {
    if (page === 'live') setPage('timeline');
    play(camera, from, to);
  };
  return (
    <>
      <header class="top">
        <span class="brand">Heldar</span>
        <nav aria-label="Pages">
          {(['live', 'timeline', 'review', 'zones', ...(session.role === 'ADMIN' ? ['admin'] : [])] as Page[]).map((p) => (
            <button key={p} id={`nav-${p}`} type="button" aria-current={page === p ? 'page' : undefined} onClick={() => setPage(p)}>
              {p[0].toUpperCase() + p.slice(1)}
            </button>
          ))}
        </nav>
        <span class="who">{session.name} ({session.role})</span>
        <button id="signout" type="button" onClick={() => void signOut()}>Sign out</button>
      </header>
      <main>
        {error && <p class="error" role="alert">{error}</p>}
        {page === 'live' && <LiveWall cameras={cameras} states={states} />}
        {page === 'timeline' && <Timeline cameras={cameras} play={go} />}
        {page === 'review' && <Review play={go} />}
        {page === 'zones' && <Zones cameras={cameras} />}
        {page === 'admin' && <Admin />}
        {(page === 'timeline' || page === 'review') && view}
      </main>
    </>
  );
}

function App() {
  const [session, setSession] = useState(current());
  useEffect(() => onSession(setSession), []);
  probe.page = session ? probe.page : 'signin';
  return session ? <Console session={session} /> : <SignIn />;
}

render(<App />, document.getElementById('app') as HTMLElement);
