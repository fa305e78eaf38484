// Builds the console: console/src/main.tsx → console/dist/app.js (one minified bundle; the
// GraphQL documents inlined as text). Run by `npm run build --prefix web` (scripts/lib.sh
// does it before cargo builds, which embeds the result).
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
