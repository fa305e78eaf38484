// Admin: users, API keys (a new key shown once), cameras (create and edit; passwords stay
// masked: sending the masked URL back keeps them), webhooks and their delivery log, AI tasks
// and the frame samplers serving them, the retention preview and the audit log. Errors are shown on the form they came from, naming the field.
import { useEffect, useState } from 'preact/hooks';

import { ApiError, op } from './api';
import type { AdminQuery, CreateApiKeyMutation, Role, WebhookDeliveriesQuery } from './gql';

function say(err: unknown): string {
  if (err instanceof ApiError) return err.field ? `${err.field}: ${err.message.replace(/^[^:]*: /, '')}` : err.message;
  return String(err);
}

const ROLES: Role[] = ['VIEWER', 'GUARD', 'MANAGER', 'INTEGRATION', 'ADMIN'];

/** A small form: named inputs, submitted as an object; shows the error or `done`. */
function Form({ id, fields, submit, label }: {
  id: string;
  label: string;
  fields: Array<{ name: string; label: string; type?: string; options?: string[]; value?: string }>;
  submit: (values: Record<string, string>) => Promise<string | void>;
}) {
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const onSubmit = async (ev: Event) => {
    ev.preventDefault();
    const form = ev.currentTarget as HTMLFormElement;
    const values = Object.fromEntries(Array.from(new FormData(form).entries()).map(([k, v]) => [k, String(v)]));
    setError('');
    setNote('');
    try {
      setNote((await submit(values)) || 'Done.');
      form.reset();
    } catch (err) {
      setError(say(err));
    }
  };
  return (
    <form id={id} class="admin-form" onSubmit={onSubmit} aria-label={label}>
      {fields.map((f) => (
        <label key={f.name}>{f.label}{' '}
          {f.options
            ? <select name={f.name}>{f.options.map((o) => <option key={o} value={o}>{o}</option>)}</select>
            : <input name={f.name} type={f.type ?? 'text'} defaultValue={f.value} />}
        </label>
      ))}
      <button type="submit">{label}</button>
      {error && <p class="error" role="alert">{error}</p>}
      {note && <p class="note" role="status">{note}</p>}
    </form>
  );
}

/** A webhook's latest delivery attempts, newest first. */
function Deliveries({ log }: { log: WebhookDeliveriesQuery['webhookDeliveries'] }) {
  return (
    <table id="admin-deliveries" aria-label={`Delivery log: the latest ${log.nodes.length} of ${log.totalCount} attempts`}>
      <thead><tr><th>When</th><th>Event</th><th>Attempt</th><th>Answer</th><th>Time</th></tr></thead>
      <tbody>
        {log.nodes.map((d) => (
          <tr key={d.id} data-ok={String(d.ok)}><td>{new Date(d.at).toLocaleString()}</td><td><code>{d.eventId}</code></td><td>{d.attempt}</td>
            <td>{d.ok ? `${d.status} OK` : `${d.status ?? 'no answer'}${d.error ? `: ${d.error}` : ''}`}</td><td>{d.latencyMs} ms</td></tr>
        ))}
      </tbody>
    </table>
  );
}

export function Admin() {
  const [data, setData] = useState<AdminQuery | null>(null);
  const [error, setError] = useState('');
  const load = () => op<AdminQuery>('Admin').then(setData).catch((err) => setError(say(err)));
  useEffect(() => { void load(); }, []);
  const after = async (p: Promise<unknown>, message?: string) => {
    try {
      await p;
    } finally {
      await load();
    }
    return message;
  };
  const [log, setLog] = useState<{ id: string; data: WebhookDeliveriesQuery['webhookDeliveries'] } | null>(null);
  const showLog = async (id: string) => {
    if (log?.id === id) return setLog(null);
    try {
      setLog({ id, data: (await op<WebhookDeliveriesQuery>('WebhookDeliveries', { webhookId: id })).webhookDeliveries });
    } catch (err) {
      setError(say(err));
    }
  };
  if (!data) return <section id="admin">{error ? <p class="error" role="alert">{error}</p> : <p>Loading…</p>}</section>;
  return (
    <section id="admin" aria-label="Administration">
      {error && <p class="error" role="alert">{error}</p>}
      <h2>Users</h2>
      <table id="admin-users"><thead><tr><th>User</th><th>Role</th><th>State</th><th>Cameras</th></tr></thead><tbody>
        {data.users.nodes.map((u) => <tr key={u.id}><td>{u.username}</td><td>{u.role}</td><td>{u.lockedUntil ? `locked until ${new Date(u.lockedUntil).toLocaleString()}` : u.active ? 'active' : 'inactive'}</td><td>{u.cameraIds?.join(', ') ?? 'all'}</td></tr>)}
      </tbody></table>
      <Form id="new-user" label="Create user" fields={[{ name: 'username', label: 'Username' }, { name: 'password', label: 'Password', type: 'password' }, { name: 'role', label: 'Role', options: ROLES }]}
        submit={(v) => after(op('CreateUser', { input: { username: v.username, password: v.password, role: v.role } }))} />

      <h2>API keys</h2>
      <table id="admin-keys"><thead><tr><th>Name</th><th>Prefix</th><th>Role</th><th>Last used</th><th /></tr></thead><tbody>
        {data.apiKeys.nodes.map((k) => (
          <tr key={k.id}><td>{k.name}</td><td><code>{k.prefix}</code></td><td>{k.role}</td><td>{k.lastUsedAt ? new Date(k.lastUsedAt).toLocaleString() : 'never'}</td>
            <td><button type="button" onClick={() => void after(op('RevokeApiKey', { id: k.id }))}>Revoke</button></td></tr>
        ))}
      </tbody></table>
      <Form id="new-key" label="Create API key" fields={[{ name: 'name', label: 'Name' }, { name: 'role', label: 'Role', options: ['INTEGRATION', ...ROLES.filter((r) => r !== 'INTEGRATION')] }]}
        submit={async (v) => {
          const made = await op<CreateApiKeyMutation>('CreateApiKey', { input: { name: v.name, role: v.role } });
          await load();
          return `Copy it now, it is shown once: ${made.createApiKey.key}`;
        }} />

      <h2>Cameras</h2>
      <table id="admin-cameras"><thead><tr><th>Camera</th><th>Stream</th><th>Sub stream</th><th>Recording</th></tr></thead><tbody>
        {data.adminCameras.nodes.map((c) => (
          <tr key={c.id}><td>{c.name} <code>{c.id}</code></td><td><code>{c.streamUrl}</code></td><td><code>{c.subStreamUrl ?? '—'}</code></td>
            <td>{c.enabled ? (c.recordEnabled ? `${c.retentionHours} h${c.recordSub ? ', sub too' : ''}` : 'off') : 'disabled'}</td></tr>
        ))}
      </tbody></table>
      <Form id="new-camera" label="Create camera" fields={[{ name: 'name', label: 'Name' }, { name: 'streamUrl', label: 'Stream URL' }, { name: 'subStreamUrl', label: 'Sub stream URL (optional)' }]}
        submit={(v) => after(op('CreateCamera', { input: { name: v.name, streamUrl: v.streamUrl, subStreamUrl: v.subStreamUrl || null } }))} />
      <Form id="edit-camera" label="Change camera" fields={[{ name: 'id', label: 'Camera id' }, { name: 'streamUrl', label: 'New stream URL (masked password kept)' }, { name: 'retentionHours', label: 'Retention hours', type: 'number' }]}
        submit={(v) => after(op('UpdateCamera', { input: { id: v.id, streamUrl: v.streamUrl || null, retentionHours: v.retentionHours ? Number(v.retentionHours) : null } }))} />

      <h2>Webhooks</h2>
      <table id="admin-webhooks"><thead><tr><th>URL</th><th>State</th><th /></tr></thead><tbody>
        {data.webhooks.map((w) => (
          <tr key={w.id} data-webhook={w.id}><td><code>{w.url}</code></td>
            <td>{w.enabled ? w.state : 'off'}{w.failingSince ? ` since ${new Date(w.failingSince).toLocaleString()}` : ''}</td>
            <td><button type="button" class="deliveries" aria-expanded={log?.id === w.id} onClick={() => void showLog(w.id)}>Delivery log</button></td></tr>
        ))}
      </tbody></table>
      {log && <Deliveries log={log.data} />}

      <h2>AI tasks</h2>
      <table id="admin-tasks"><thead><tr><th>Camera</th><th>Task</th><th>Wants</th><th>Priority</th><th /></tr></thead><tbody>
        {data.aiTasks.map((t) => (
          <tr key={t.id} data-task={t.id}><td>{t.cameraId}</td><td>{t.taskType}</td><td>{t.fps} fps at {t.width} px ({t.streamProfile})</td><td>{t.priority}</td>
            <td><button type="button" class="toggle" onClick={() => void after(op('UpdateAiTask', { input: { id: t.id, enabled: !t.enabled } }))}>{t.enabled ? 'Pause' : 'Resume'}</button>{' '}
              <button type="button" onClick={() => void after(op('DeleteAiTask', { id: t.id }))}>Delete</button></td></tr>
        ))}
      </tbody></table>
      <Form id="new-task" label="Create AI task" fields={[{ name: 'cameraId', label: 'Camera id', options: data.adminCameras.nodes.map((c) => c.id) }, { name: 'taskType', label: 'Task type', value: 'detect' }, { name: 'fps', label: 'Frames a second', type: 'number', value: '2' }, { name: 'width', label: 'Width (px)', type: 'number', value: '640' }]}
        submit={(v) => after(op('CreateAiTask', { input: { cameraId: v.cameraId, taskType: v.taskType, fps: Number(v.fps), width: Number(v.width) } }))} />

      <h2>Frame samplers</h2>
      <table id="admin-samplers"><thead><tr><th>Camera</th><th>State</th><th>Granted</th><th>Asked</th><th>Restarts</th><th>Last error</th></tr></thead><tbody>
        {data.aiSamplers.length === 0 && <tr><td colSpan={6}>No sampler runs: no enabled task needs frames.</td></tr>}
        {data.aiSamplers.map((s) => (
          <tr key={`${s.cameraId}-${s.streamProfile}`} data-state={s.state}><td>{s.cameraId} ({s.streamProfile})</td><td>{s.state}</td><td>{s.fps} fps at {s.width} px</td>
            <td>{s.requestedFps} fps at {s.requestedWidth} px</td><td>{s.restarts}</td><td>{s.lastError ?? ''}</td></tr>
        ))}
      </tbody></table>

      <h2>Retention preview</h2>
      <p id="admin-retention">{data.retentionPreview.totalSegments} segments ({(data.retentionPreview.totalBytes / 1e9).toFixed(2)} GB) would go now
        {data.retentionPreview.byReason.map((r) => `; ${r.reason}: ${r.segments}`).join('')}
        {data.retentionPreview.warnings.map((w) => ` ⚠ ${w.code}`).join('')}</p>

      <h2>Audit log</h2>
      <ol id="admin-audit">{data.auditLog.nodes.map((a) => <li key={a.id}>{new Date(a.createdAt).toLocaleString()} {a.actorName} {a.action} {a.targetType ?? ''} {a.targetId ?? ''}</li>)}</ol>
    </section>
  );
}
