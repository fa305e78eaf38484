// Zones: draw and edit a camera's regions and lines over its latest picture (click to add a
// point, drag to move one, double-click one or the button to remove), with label filter, dwell, confirmation and
// severity; errors shown on the field they name; live events and occupancy per zone.
import { useEffect, useRef, useState } from 'preact/hooks';

import { ApiError, op, subscribe } from './api';
import { VirtualList } from './virtual';
import type {
  CamerasQuery,
  CreateZoneMutation,
  OccupancySubscription,
  Severity,
  ThumbnailQuery,
  ZoneEventsSubscription,
  ZoneKind,
  ZonesQuery,
} from './gql';

type Camera = CamerasQuery['cameras']['nodes'][number];
type Zone = ZonesQuery['zones'][number];
type Point = { x: number; y: number };
type Event = ZoneEventsSubscription['perceptionEvents'];

interface Draft {
  id: string | null;
  name: string;
  kind: ZoneKind;
  labels: string;
  severity: Severity;
  dwellSeconds: number;
  confirmFrames: number;
  points: Point[];
}

const EMPTY: Draft = { id: null, name: '', kind: 'REGION', labels: 'person', severity: 'WARNING', dwellSeconds: 0, confirmFrames: 1, points: [] };

/** Which form field an error names (`input.points[2].x` → `points`). */
function fieldOf(err: unknown): [string, string] {
  if (err instanceof ApiError) {
    const field = (err.field ?? '').replace(/^input\./, '').replace(/[[.].*$/, '') || 'form';
    return [field, err.message];
  }
  return ['form', err instanceof Error ? err.message : String(err)];
}

export function Zones({ cameras }: { cameras: Camera[] }) {
  const [camera, setCamera] = useState<string>('');
  const [zones, setZones] = useState<Zone[]>([]);
  const [picture, setPicture] = useState<string | null>(null);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [events, setEvents] = useState<Event[]>([]);
  const [inside, setInside] = useState<Record<string, number>>({});
  const svg = useRef<SVGSVGElement>(null);
  const dragging = useRef<number | null>(null);
  const cameraId = camera || cameras[0]?.id || '';

  const load = () => {
    if (!cameraId) return;
    op<ZonesQuery>('Zones', { cameraId }).then((d) => setZones(d.zones)).catch(() => setZones([]));
  };
  useEffect(() => {
    if (!cameraId) return;
    load();
    setPicture(null);
    op<ThumbnailQuery>('Thumbnail', { cameraId, at: new Date().toISOString() })
      .then((t) => setPicture(t.thumbnail.url))
      .catch(() => setPicture(null));
    setEvents([]);
    setInside({});
    // Arrivals are applied once per frame, however many came: a burst of thousands of events
    // costs one list update and one render a frame, not one each.
    let fresh: Event[] = [];
    let counts: Record<string, number> = {};
    let frame = 0;
    const flush = () => {
      frame = 0;
      const [arrived, changed] = [fresh, counts];
      fresh = [];
      counts = {};
      if (arrived.length) setEvents((all) => [...arrived.reverse(), ...all].slice(0, 10_000));
      if (Object.keys(changed).length) setInside((now) => ({ ...now, ...changed }));
    };
    const soon = () => { if (!frame) frame = requestAnimationFrame(flush); };
    const events = subscribe<ZoneEventsSubscription>('ZoneEvents', { cameraIds: [cameraId] }, (d) => {
      fresh.push(d.perceptionEvents);
      soon();
    });
    // The server's own count per zone (tracks inside now), then every change.
    const occupancy = subscribe<OccupancySubscription>('Occupancy', { cameraId }, (d) => {
      counts[d.zoneOccupancy.zoneId] = d.zoneOccupancy.count;
      soon();
    });
    return () => {
      events();
      occupancy();
      cancelAnimationFrame(frame);
    };
  }, [cameraId]);

  useEffect(() => {
    // What tests and benchmarks read: how many live events the list holds.
    (window as unknown as { heldarConsole: { eventsShown: number } }).heldarConsole.eventsShown = events.length;
  }, [events]);

  const at = (ev: MouseEvent): Point => {
    const rect = (svg.current as SVGSVGElement).getBoundingClientRect();
    const clamp = (v: number) => Math.round(Math.min(Math.max(v, 0), 1) * 1000) / 1000;
    return { x: clamp((ev.clientX - rect.left) / rect.width), y: clamp((ev.clientY - rect.top) / rect.height) };
  };
  const onDown = (ev: MouseEvent) => {
    const target = ev.target as Element;
    const handle = target.getAttribute('data-point');
    if (handle !== null) {
      dragging.current = Number(handle);
      return;
    }
    setDraft({ ...draft, points: [...draft.points, at(ev)] });
  };
  const onMove = (ev: MouseEvent) => {
    const i = dragging.current;
    if (i === null) return;
    const points = draft.points.slice();
    points[i] = at(ev);
    setDraft({ ...draft, points });
  };
  /** A double click on a point removes it. */
  const onDouble = (ev: MouseEvent) => {
    const handle = (ev.target as Element).getAttribute('data-point');
    if (handle === null) return;
    dragging.current = null;
    setDraft({ ...draft, points: draft.points.filter((_, i) => i !== Number(handle)) });
  };
  const save = async (ev: Event | SubmitEvent) => {
    (ev as SubmitEvent).preventDefault?.();
    setErrors({});
    const fields = {
      name: draft.name,
      kind: draft.kind,
      labels: draft.labels.split(',').map((l) => l.trim()).filter(Boolean),
      severity: draft.severity,
      dwellSeconds: draft.dwellSeconds,
      confirmFrames: draft.confirmFrames,
      points: draft.points,
    };
    try {
      if (draft.id) await op('UpdateZone', { input: { id: draft.id, ...fields } });
      else await op<CreateZoneMutation>('CreateZone', { input: { cameraId, ...fields } });
      setDraft(EMPTY);
      load();
    } catch (err) {
      const [field, text] = fieldOf(err);
      setErrors({ [field]: text });
    }
  };
  const remove = async (id: string) => {
    await op('DeleteZone', { id }).catch((err) => setErrors({ form: fieldOf(err)[1] }));
    load();
  };
  const edit = (z: Zone) =>
    setDraft({ id: z.id, name: z.name, kind: z.kind, labels: z.labels.join(', '), severity: z.severity, dwellSeconds: z.dwellSeconds, confirmFrames: z.confirmFrames, points: z.points.map((p) => ({ x: p.x, y: p.y })) });
  const err = (field: string) => errors[field] && <span class="error" id={`zone-${field}-error`} role="alert">{errors[field]}</span>;
  const shape = (points: Point[], kind: ZoneKind) => {
    const text = points.map((p) => `${p.x},${p.y}`).join(' ');
    return kind === 'LINE' ? <polyline points={text} /> : <polygon points={text} />;
  };

  return (
    <section id="zones" aria-label="Zones">
      <label>Camera <select id="zone-camera" value={cameraId} onChange={(e) => setCamera((e.target as HTMLSelectElement).value)}>
        {cameras.map((c) => <option key={c.id} value={c.id}>{c.name}</option>)}
      </select></label>
      <div class="zone-editor">
        <div class="stage">
          {picture ? <img src={picture} alt={`Latest picture of ${cameraId}`} /> : <div class="no-picture">No recorded picture yet</div>}
          <svg id="zone-canvas" ref={svg} viewBox="0 0 1 1" preserveAspectRatio="none" role="img" aria-label="Zone drawing area: click to add a point, drag one to move it, double-click one to remove it"
            onMouseDown={onDown} onMouseMove={onMove} onMouseUp={() => { dragging.current = null; }} onDblClick={onDouble}>
            {zones.map((z) => <g key={z.id} class="zone">{shape(z.points, z.kind)}</g>)}
            <g class="draft">
              {shape(draft.points, draft.kind)}
              {draft.points.map((p, i) => <circle key={i} data-point={i} cx={p.x} cy={p.y} r={0.015} />)}
            </g>
          </svg>
        </div>
        <form id="zone-form" onSubmit={save} aria-label={draft.id ? 'Edit zone' : 'New zone'}>
          <label>Name <input id="zone-name" value={draft.name} onInput={(e) => setDraft({ ...draft, name: (e.target as HTMLInputElement).value })} /></label>{err('name')}
          <label>Kind <select id="zone-kind" value={draft.kind} onChange={(e) => setDraft({ ...draft, kind: (e.target as HTMLSelectElement).value as ZoneKind })}>
            <option value="REGION">Region</option><option value="LINE">Line</option>
          </select></label>{err('kind')}
          <label>Labels <input id="zone-labels" value={draft.labels} onInput={(e) => setDraft({ ...draft, labels: (e.target as HTMLInputElement).value })} /></label>{err('labels')}
          <label>Dwell seconds <input id="zone-dwell" type="number" min={0} value={draft.dwellSeconds} onInput={(e) => setDraft({ ...draft, dwellSeconds: Number((e.target as HTMLInputElement).value) })} /></label>{err('dwellSeconds')}
          <label>Confirm frames <input id="zone-confirm" type="number" min={1} max={10} value={draft.confirmFrames} onInput={(e) => setDraft({ ...draft, confirmFrames: Number((e.target as HTMLInputElement).value) })} /></label>{err('confirmFrames')}
          <label>Severity <select id="zone-severity" value={draft.severity} onChange={(e) => setDraft({ ...draft, severity: (e.target as HTMLSelectElement).value as Severity })}>
            <option value="INFO">Info</option><option value="WARNING">Warning</option><option value="CRITICAL">Critical</option>
          </select></label>{err('severity')}
          <p id="zone-points">{draft.points.length} points {err('points')}</p>
          <button type="button" id="zone-undo" onClick={() => setDraft({ ...draft, points: draft.points.slice(0, -1) })}>Remove last point</button>
          <button type="button" onClick={() => setDraft(EMPTY)}>Clear</button>
          <button type="submit" id="zone-save">{draft.id ? 'Save changes' : 'Create zone'}</button>
          {err('form')}
        </form>
      </div>
      <ul id="zone-list">
        {zones.map((z) => (
          <li key={z.id} data-zone={z.name}>
            <strong>{z.name}</strong> ({z.kind.toLowerCase()}, {z.labels.join(', ') || 'any label'}): <span class="occupancy" data-count={inside[z.id] ?? 0}>{inside[z.id] ?? 0} inside</span>{' '}
            <button type="button" onClick={() => edit(z)}>Edit</button> <button type="button" onClick={() => remove(z.id)}>Delete</button>
          </li>
        ))}
      </ul>
      <h2>Live events</h2>
      <VirtualList id="zone-events" items={events} rowHeight={22} height={264} row={(e) => (
        <li key={e.id} data-kind={e.kind}>{new Date(e.occurredAt).toLocaleTimeString()} {e.kind} {e.label ?? ''} {e.trackId ?? ''}</li>
      )} />
    </section>
  );
}
