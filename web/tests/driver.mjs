// What the console's browser drivers share: loopback-only routing and the one JSON result line.

/** Whether a request stays on this machine (loopback, or data:/blob:/about:). */
export function isLocal(raw) {
  try {
    const u = new URL(raw);
    if (['data:', 'blob:', 'about:'].includes(u.protocol)) return true;
    const host = u.hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
  } catch {
    return false;
  }
}

/** Refuses every request of `context` that leaves loopback, listing it in `blocked`. */
export async function loopbackOnly(context, blocked) {
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (isLocal(url)) return route.continue();
    blocked.push(url);
    return route.abort();
  });
}

/** `finish(ok, error)`: closes the browser (`browser()` returns it, if launched), prints
 * `result` as one JSON line and exits 0 only if it is ok (no errors, nothing blocked). A hard
 * timeout finishes it after `timeoutMs`. */
export function finisher(result, browser, timeoutMs) {
  const finish = async (ok, error) => {
    if (error) result.errors.push(String(error).slice(0, 500));
    result.ok = ok && result.errors.length === 0 && result.blocked.length === 0;
    const b = browser();
    if (b) await Promise.race([b.close().catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
    process.stdout.write(JSON.stringify(result) + '\n');
    process.exit(result.ok ? 0 : 1);
  };
  setTimeout(() => finish(false, `hard timeout after ${timeoutMs} ms`), timeoutMs);
  return finish;
}
