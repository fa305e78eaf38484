// Builds the console: console/src/main.tsx → console/dist/app.js (one minified bundle; the
// GraphQL documents inlined as text). Run by `npm run build --prefix web` (scripts/lib.sh
// does it before cargo builds, which embeds the result).
//
// Then gzips (level 9) the scripts and styles the binary embeds into `.gz/<path>.gz`:
// build.rs embeds a `.gz` beside its original when it is at least as new, and the server
// sends it to clients that accept gzip, so no request pays for compression.
import { gzipSync, constants } from 'node:zlib';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

await build({
  entryPoints: ['console/src/main.tsx'],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.graphql': 'text' },
  outfile: 'console/dist/app.js',
  legalComments: 'linked',
  logLevel: 'warning',
});

// The embedded scripts and styles worth compressing (build.rs lists every embedded file).
const COMPRESSED = [
  'console/dist/app.js',
  'console/console.css',
  'play/play.js',
  'play/play.css',
  'node_modules/hls.js/dist/hls.min.js',
  'graphiql/app.js',
  'graphiql/app.css',
  'node_modules/graphql-ws/umd/graphql-ws.min.js',
  'node_modules/react/umd/react.production.min.js',
  'node_modules/react-dom/umd/react-dom.production.min.js',
  'node_modules/graphiql/graphiql.min.js',
  'node_modules/graphiql/graphiql.min.css',
];
for (const rel of COMPRESSED) {
  try {
    statSync(rel);
  } catch {
    continue; // not installed: build.rs reports it
  }
  const out = join('.gz', `${rel}.gz`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, gzipSync(readFileSync(rel), { level: constants.Z_BEST_COMPRESSION }));
}
