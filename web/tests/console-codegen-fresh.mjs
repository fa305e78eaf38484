#!/usr/bin/env node
// Fails when web/console/src/gql.ts is stale: generates the console's types again from
// schema.graphql and console/src/operations.graphql (console/codegen.yml's settings) into a
// temporary file and compares. Fix with `npm run codegen --prefix web`.
//
//   node web/tests/console-codegen-fresh.mjs      (prints one JSON line; exit 0 when fresh)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(web); // codegen resolves its plugins and the config's paths from here
const { generate } = await import('@graphql-codegen/cli');
const { parse } = await import('yaml').catch(() => ({ parse: null }));
const work = mkdtempSync(join(tmpdir(), 'heldar-console-codegen-'));
const result = { ok: false, fresh: false };
try {
  const text = readFileSync(join(web, 'console/codegen.yml'), 'utf8');
  const config = parse ? parse(text) : null;
  if (!config) throw new Error('cannot read console/codegen.yml (the yaml package is missing)');
  const [target, output] = Object.entries(config.generates)[0];
  const fresh = join(work, 'gql.ts');
  await generate({ ...config, generates: { [fresh]: output }, silent: true, errorsOnly: true }, true);
  result.fresh = readFileSync(fresh, 'utf8') === readFileSync(join(web, target), 'utf8');
  if (!result.fresh) result.error = `${target} is stale: run \`npm run codegen --prefix web\``;
  result.ok = result.fresh;
} catch (err) {
  result.error = err.message;
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
