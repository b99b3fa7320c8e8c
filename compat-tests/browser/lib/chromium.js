'use strict';
// Headless Chromium with fake camera/microphone, driven by playwright-core (test-peers.md §3).

const fs = require('node:fs');
const { tempDir } = require('./procs');

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  // Real host IPs instead of mDNS names, and 127.0.0.1 host candidates at all.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
];

/**
 * Launches a browser with a fresh profile. Returns { context, newPage(), consoleLog(), close() };
 * page console output and page errors are collected for failure reports.
 * @param {object} [o]
 * @param {string} [o.fakeVideoFile] a .y4m (or .mjpeg) clip the fake camera plays in a loop
 *   (--use-file-for-fake-video-capture) instead of Chromium's built-in test pattern
 */
async function launchBrowser({ fakeVideoFile = null } = {}) {
  const { chromium } = require('playwright-core');
  if (fakeVideoFile && !fs.existsSync(fakeVideoFile)) throw new Error(`fake camera clip not found: ${fakeVideoFile}`);
  const profile = tempDir('kms-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: fakeVideoFile ? [...ARGS, `--use-file-for-fake-video-capture=${fakeVideoFile}`] : ARGS,
  });
  const lines = [];
  let pageNo = 0;
  const newPage = async () => {
    const n = ++pageNo;
    const page = await context.newPage();
    page.on('console', (m) => lines.push(`[page${n} ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => lines.push(`[page${n} pageerror] ${e.stack || e.message}`));
    return page;
  };
  return {
    context,
    newPage,
    consoleLog: () => lines.join('\n'),
    async close() {
      try {
        await context.close();
      } finally {
        fs.rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}

module.exports = { launchBrowser, ARGS };
