// Bundles src/ into dist/, which the hub embeds (//go:embed all:web/dist).
// One bundle serves both pages: app.js routes /dashboard to the fleet
// dashboard and everything else to the customer page.
import * as esbuild from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';

await mkdir('dist', { recursive: true });
await esbuild.build({
  entryPoints: ['src/app.js'],
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'iife',
  // Phones from about 2021 on: getStats framesDecoded, restartIce,
  // setLocalDescription() without arguments.
  target: ['chrome96', 'safari15', 'firefox96'],
  outfile: 'dist/app.js',
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) {
  await copyFile(`src/${f}`, `dist/${f}`);
}
