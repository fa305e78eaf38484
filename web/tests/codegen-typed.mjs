#!/usr/bin/env node
// graphql-codegen from the live schema, then a strict tsc over the typed operations.
//
//   node web/tests/codegen-typed.mjs <http://127.0.0.1:PORT/graphql> <access token>
//
// Generates TypeScript types for web/typed/operations.graphql from the server's
// introspection, compiles web/typed/check.ts with `tsc --strict` (must pass) and
// web/typed/check-fails.ts (must fail). Prints one JSON line; exit 0 only if both hold.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from '@graphql-codegen/cli';

const [url, token] = process.argv.slice(2);
const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'heldar-codegen-'));
// Codegen resolves its plugins from the working directory.
process.chdir(web);
const result = { ok: false };

function tsc(file) {
  try {
    execFileSync(
      process.execPath,
      [join(web, 'node_modules/typescript/bin/tsc'), '--strict', '--noEmit', '--noUncheckedIndexedAccess',
        '--exactOptionalPropertyTypes', '--target', 'es2022', '--module', 'es2022', '--moduleResolution', 'bundler',
        join(work, file)],
      { stdio: 'pipe' },
    );
    return { ok: true, output: '' };
  } catch (err) {
    return { ok: false, output: String(err.stdout || err.message).slice(0, 2000) };
  }
}

try {
  await generate(
    {
      schema: { [url]: { headers: { Authorization: `Bearer ${token}` } } },
      documents: [join(web, 'typed/operations.graphql')],
      generates: {
        [join(work, 'graphql.ts')]: {
          plugins: ['typescript-operations'],
          config: {
            strictScalars: true,
            scalars: { DateTime: 'string', Long: 'number', JSON: 'unknown' },
            enumsAsTypes: true,
            avoidOptionals: false,
          },
        },
      },
      silent: true,
      errorsOnly: true,
    },
    true,
  );
  const generated = readFileSync(join(work, 'graphql.ts'), 'utf8');
  result.generatedBytes = generated.length;
  copyFileSync(join(web, 'typed/check.ts'), join(work, 'check.ts'));
  copyFileSync(join(web, 'typed/check-fails.ts'), join(work, 'check-fails.ts'));
  const good = tsc('check.ts');
  const bad = tsc('check-fails.ts');
  result.checkCompiles = good.ok;
  result.checkOutput = good.output;
  result.checkFailsRejected = !bad.ok;
  result.checkFailsOutput = bad.output;
  // Rejected for the right reasons: EventKind is a closed union and Long a number.
  result.enumChecked = bad.output.includes("is not assignable to type 'EventKind'");
  result.longChecked = bad.output.includes("'number | null' is not assignable to type 'string'");
  result.ok = good.ok && !bad.ok && result.enumChecked && result.longChecked;
} catch (err) {
  result.error = String(err && err.message ? err.message : err).slice(0, 2000);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
