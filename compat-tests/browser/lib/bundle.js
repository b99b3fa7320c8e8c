'use strict';
// kurento-utils is published for bundlers only (no browser build in the npm package). The tutorial
// pages load it as the global `kurentoUtils`; we build that global with esbuild from the installed
// package, once per test process, into a temp dir.

const fs = require('node:fs');
const path = require('node:path');
const { tempDir } = require('./procs');

let cached = null;

/** Builds (once) and returns the path of the IIFE bundle that defines `window.kurentoUtils`. */
async function kurentoUtilsBundle() {
  if (cached && fs.existsSync(cached)) return cached;
  const esbuild = require('esbuild');
  const outfile = path.join(tempDir('kms-bundle-'), 'kurento-utils.js');
  // lib/browser.js is the package's own browser entry point (it guards against IE8 and re-exports
  // lib/index.js). `events` resolves to the npm `events` polyfill, as in browserify builds.
  await esbuild.build({
    entryPoints: [require.resolve('kurento-utils/lib/browser.js')],
    bundle: true,
    format: 'iife',
    globalName: 'kurentoUtils',
    platform: 'browser',
    target: 'chrome100',
    outfile,
    logLevel: 'silent',
  });
  process.once('exit', () => fs.rmSync(path.dirname(outfile), { recursive: true, force: true }));
  cached = outfile;
  return outfile;
}

module.exports = { kurentoUtilsBundle };
