// The console's only door to the server: GraphQL over HTTP with the access token, a silent
// refresh a minute before the token expires (handed to the open websocket too, so
// subscriptions survive it), and sign-out. Errors keep the server's code and
// message (a locked or rate-limited sign-in says so).

import { Client, createClient } from 'graphql-ws';

import DOCUMENTS from './operations.graphql';
import type { LoginMutation, RefreshMutation } from './gql';

export interface Session {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
  name: string;
  role: string;
}

export class ApiError extends Error {
  constructor(message: string, readonly code: string, readonly field?: string) {
    super(message);
  }
}

const STORE = 'heldar.console.session';
let session: Session | null = JSON.parse(sessionStorage.getItem(STORE) || 'null');
let refreshTimer: number | undefined;
const listeners = new Set<(s: Session | null) => void>();

export function current(): Session | null {
  return session;
}

export function onSession(listener: (s: Session | null) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

let sockets: Client | null = null;
let socket: WebSocket | null = null;

/** `refreshed`: the same holder's new token, handed to the open socket in a `ping` (the server
 * swaps the socket's credential, so live subscriptions go on); otherwise a new holder (or
 * none) gets a new connection. */
function keep(next: Session | null, refreshed = false): void {
  if (refreshed && next && socket?.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: 'ping', payload: { authorization: `Bearer ${next.accessToken}` } }));
  } else if (!refreshed || !next) {
    void sockets?.dispose();
    sockets = null;
    socket = null;
  }
  session = next;
  if (next) sessionStorage.setItem(STORE, JSON.stringify(next));
  else sessionStorage.removeItem(STORE);
  window.clearTimeout(refreshTimer);
  if (next) {
    const due = new Date(next.expiresAt).getTime() - Date.now() - 60_000;
    refreshTimer = window.setTimeout(() => void refresh(), Math.max(due, 1_000));
  }
  listeners.forEach((l) => l(next));
}

/** Each operation of src/operations.graphql by name (the file holds no fragments). */
const OPERATIONS: Map<string, string> = (() => {
  const found = new Map<string, string>();
  let name = '';
  let lines: string[] = [];
  const flush = () => { if (name) found.set(name, lines.join('\n')); };
  for (const line of DOCUMENTS.split('\n')) {
    const head = /^(query|mutation|subscription)\s+(\w+)/.exec(line);
    if (head) {
      flush();
      name = head[2];
      lines = [];
    }
    if (name && !line.startsWith('#')) lines.push(line);
  }
  flush();
  return found;
})();

/** Runs the operation `name` of the console's documents (src/operations.graphql). */
export async function op<T, V = Record<string, unknown>>(name: string, variables?: V, anonymous = false): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (session && !anonymous) headers.authorization = `Bearer ${session.accessToken}`;
  const query = OPERATIONS.get(name);
  if (!query) throw new ApiError(`no operation ${name}`, 'CONSOLE');
  const body = JSON.stringify({ query, operationName: name, variables });
  const response = await fetch('/graphql', { method: 'POST', headers, body });
  const result = await response.json();
  if (result.errors?.length) {
    const e = result.errors[0];
    if (e.extensions?.code === 'UNAUTHENTICATED' && !anonymous) keep(null);
    throw new ApiError(e.message, e.extensions?.code ?? 'ERROR', e.extensions?.field);
  }
  return result.data as T;
}

type Tokens = LoginMutation['login'];

function toSession(t: Tokens): Session {
  return { accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: t.expiresAt, name: t.principal.name, role: t.principal.role };
}

export async function signIn(username: string, password: string): Promise<void> {
  const data = await op<LoginMutation>('Login', { username, password }, true);
  keep(toSession(data.login));
}

export async function refresh(): Promise<void> {
  if (!session) return;
  try {
    const data = await op<RefreshMutation>('Refresh', { refreshToken: session.refreshToken }, true);
    keep(toSession(data.refreshSession), true);
  } catch {
    keep(null);
  }
}

export async function signOut(): Promise<void> {
  try {
    await op('Logout');
  } finally {
    keep(null);
  }
}

if (session) keep(session);

/** Follows the subscription `name` over `/graphql/ws` (graphql-ws); returns the unsubscribe. */
export function subscribe<T>(name: string, variables: Record<string, unknown>, next: (data: T) => void): () => void {
  const query = OPERATIONS.get(name);
  if (!query) throw new ApiError(`no operation ${name}`, 'CONSOLE');
  if (!sockets) {
    sockets = createClient({
      url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`,
      connectionParams: () => ({ authorization: `Bearer ${session?.accessToken ?? ''}` }),
      on: {
        connected: (s) => { socket = s as WebSocket; },
        closed: () => { socket = null; },
      },
    });
  }
  return sockets.subscribe(
    { query, operationName: name, variables },
    { next: (r) => { if (r.data) next(r.data as T); }, error: () => undefined, complete: () => undefined },
  );
}
