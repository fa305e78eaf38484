#!/usr/bin/env node
// Drives a graphql-transport-ws server with the real graphql-ws client.
//
//   node web/tests/graphql-ws-interop.mjs <wsUrl> [accessToken]
//
// Prints one JSON line to stdout ({"ok":true,"checks":{...}} on success) and
// exits 0; on failure prints {"ok":false,...}, a message on stderr, exits 1.
// Usage errors exit 2. Hard timeout: HELDAR_TEST_TIMEOUT_MS (default 28000).

const HARD_TIMEOUT_MS = Number(process.env.HELDAR_TEST_TIMEOUT_MS || 28000);
const STEP_TIMEOUT_MS = Math.min(10000, HARD_TIMEOUT_MS);

const [wsUrl, token] = process.argv.slice(2);
if (!wsUrl || !/^wss?:\/\//.test(wsUrl)) {
  process.stderr.write('usage: node graphql-ws-interop.mjs <ws://host:port/graphql/ws> [accessToken]\n');
  process.exit(2);
}

let createClient;
let WebSocket;
try {
  ({ createClient } = await import('graphql-ws'));
  ({ default: WebSocket } = await import('ws'));
} catch (err) {
  process.stderr.write(`cannot load graphql-ws/ws (run \`npm ci --prefix web\`): ${err.message}\n`);
  process.exit(3);
}

const checks = {
  query: false,
  subscriptionLimit: false,
  validationError: false,
  unsubscribe: false,
  queryAfterUnsubscribe: false,
  dispose: false,
};
const details = {};
let step = 'connect';
let finished = false;

function finish(ok, error) {
  if (finished) return;
  finished = true;
  const out = { ok, checks, details };
  if (!ok) {
    out.failedStep = step;
    out.error = error;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  if (!ok) process.stderr.write(`graphql-ws interop failed at step "${step}": ${error}\n`);
  // Exit explicitly: never wait for sockets or timers to drain.
  process.exit(ok ? 0 : 1);
}

const hardTimer = setTimeout(
  () => finish(false, `hard timeout after ${HARD_TIMEOUT_MS} ms`),
  HARD_TIMEOUT_MS,
);

function describe(err) {
  if (err === undefined || err === null) return String(err);
  if (Array.isArray(err)) return 'GraphQL errors: ' + JSON.stringify(err);
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && 'code' in err && 'reason' in err) {
    return `socket closed with code ${err.code} ${err.reason || ''}`.trim();
  }
  if (typeof err === 'object' && err.type === 'error' && err.message) return 'socket error: ' + err.message;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

function withTimeout(promise, what, ms = STEP_TIMEOUT_MS) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Runs one operation; resolves with {nexts, error, completed, order}. */
function run(client, query) {
  return new Promise((resolve) => {
    const res = { nexts: [], error: undefined, completed: false, order: [] };
    client.subscribe(
      { query },
      {
        next: (v) => {
          res.order.push('next');
          res.nexts.push(v);
        },
        error: (e) => {
          res.order.push('error');
          res.error = e;
          resolve(res);
        },
        complete: () => {
          res.order.push('complete');
          res.completed = true;
          resolve(res);
        },
      },
    );
  });
}

let connectionError;
let resolveClosed;
const closed = new Promise((r) => (resolveClosed = r));

const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  lazy: false,
  retryAttempts: 0,
  connectionParams: token ? { authorization: `Bearer ${token}` } : undefined,
  onNonLazyError: (err) => {
    connectionError = err;
    if (!checks.dispose) finish(false, `connection failed: ${describe(err)}`);
  },
  on: {
    connected: (_socket, payload) => {
      details.connectionAckPayload = payload ?? null;
    },
    closed: (event) => {
      resolveClosed(event);
    },
  },
});

async function checkQuery(key) {
  const r = await withTimeout(run(client, '{ serverInfo { version } }'), 'query');
  if (r.error) throw new Error(`query failed: ${describe(r.error)}`);
  if (!r.completed) throw new Error('query did not complete');
  if (r.nexts.length !== 1) throw new Error(`query yielded ${r.nexts.length} results, expected 1`);
  const res = r.nexts[0];
  if (res.errors && res.errors.length) throw new Error(`query returned errors: ${JSON.stringify(res.errors)}`);
  const version = res.data && res.data.serverInfo && res.data.serverInfo.version;
  if (typeof version !== 'string' || version.length === 0) {
    throw new Error(`query returned no version: ${JSON.stringify(res)}`);
  }
  details.version = version;
  checks[key] = true;
}

async function main() {
  // (i) query over the socket
  step = 'query';
  await checkQuery('query');

  // (ii) subscription with a limit: exactly seq 1,2,3 then complete
  step = 'subscriptionLimit';
  {
    const r = await withTimeout(
      run(client, 'subscription { serverClock(everyMs: 50, limit: 3) { seq at } }'),
      'limited subscription',
    );
    if (r.error) throw new Error(`subscription failed: ${describe(r.error)}`);
    const seqs = r.nexts.map((v) => {
      if (v.errors && v.errors.length) throw new Error(`event had errors: ${JSON.stringify(v.errors)}`);
      const tick = v.data && v.data.serverClock;
      if (!tick || typeof tick.at !== 'string' || !tick.at) {
        throw new Error(`malformed event: ${JSON.stringify(v)}`);
      }
      return tick.seq;
    });
    details.limitedSeqs = seqs;
    if (JSON.stringify(seqs) !== '[1,2,3]') throw new Error(`expected seq [1,2,3], got ${JSON.stringify(seqs)}`);
    if (!r.completed) throw new Error('subscription did not complete after 3 events');
    checks.subscriptionLimit = true;
  }

  // (iii) validation failure: sink.error with an array of GraphQL errors, no completion first
  step = 'validationError';
  {
    const r = await withTimeout(run(client, 'subscription { nope }'), 'invalid subscription');
    details.validationOrder = r.order;
    if (r.order[0] !== 'error') {
      throw new Error(`expected an error first, got ${JSON.stringify(r.order)} (nexts: ${JSON.stringify(r.nexts)})`);
    }
    if (!Array.isArray(r.error) || r.error.length === 0) {
      throw new Error(`expected an array of GraphQL errors, got ${describe(r.error)}`);
    }
    if (!r.error.every((e) => e && typeof e.message === 'string')) {
      throw new Error(`errors lack a message: ${JSON.stringify(r.error)}`);
    }
    details.validationErrors = r.error.map((e) => e.message);
    checks.validationError = true;
  }

  // (iv) open-ended subscription: take 2 events, unsubscribe, client still usable
  step = 'unsubscribe';
  {
    const seqs = [];
    let dispose;
    let sinkError;
    await withTimeout(
      new Promise((resolve, reject) => {
        dispose = client.subscribe(
          { query: 'subscription { serverClock(everyMs: 50) { seq at } }' },
          {
            next: (v) => {
              if (v.errors && v.errors.length) {
                reject(new Error(`event had errors: ${JSON.stringify(v.errors)}`));
                return;
              }
              seqs.push(v.data && v.data.serverClock && v.data.serverClock.seq);
              if (seqs.length === 2) resolve();
            },
            error: (e) => {
              sinkError = e;
              reject(new Error(`long subscription failed: ${describe(e)}`));
            },
            complete: () => {
              if (seqs.length < 2) reject(new Error(`long subscription completed after ${seqs.length} events`));
            },
          },
        );
      }),
      'long subscription',
    );
    dispose();
    details.unsubscribedAfterSeqs = seqs.slice(0, 2);
    if (sinkError) throw new Error(`long subscription failed: ${describe(sinkError)}`);
    checks.unsubscribe = true;

    step = 'queryAfterUnsubscribe';
    await checkQuery('queryAfterUnsubscribe');
  }

  // (v) dispose closes the socket cleanly
  step = 'dispose';
  {
    await client.dispose();
    const ev = await withTimeout(closed, 'close after dispose', 5000);
    details.closeCode = ev && ev.code;
    details.closeWasClean = ev && ev.wasClean;
    // 1000 echoed by the server; 1005 if its close frame carried no code.
    if (!ev || (ev.code !== 1000 && ev.code !== 1005) || ev.wasClean === false) {
      throw new Error(`expected a clean close (1000), got ${describe(ev)} wasClean=${ev && ev.wasClean}`);
    }
    if (connectionError) throw new Error(`connection error: ${describe(connectionError)}`);
    checks.dispose = true;
  }

  clearTimeout(hardTimer);
  finish(true);
}

main().catch((err) => {
  try {
    client.terminate();
  } catch {
    /* ignore */
  }
  finish(false, describe(err));
});
