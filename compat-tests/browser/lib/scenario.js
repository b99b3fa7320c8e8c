'use strict';
// Runs one browser scenario with a hard deadline, tears down everything it started (in reverse
// order, even after a timeout), and prints the logs of the parts involved when it fails.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { sleep, waitFor } = require('./procs');

const LOG_TAIL = Number(process.env.BROWSER_TEST_LOG_TAIL) || 20000;

function tail(text) {
  const s = String(text || '');
  return s.length > LOG_TAIL ? `…(${s.length - LOG_TAIL} chars cut)…\n${s.slice(-LOG_TAIL)}` : s;
}

/**
 * body(sc) gets `sc.defer(name, fn)` (cleanup, run last-in first-out) and `sc.report(name, fn)`
 * (a log source printed on failure, or always with BROWSER_TEST_SHOW_LOGS=1).
 */
async function withScenario(name, { timeoutMs = 60000 } = {}, body) {
  const cleanups = [];
  const reports = [];
  const sc = {
    defer: (what, fn) => cleanups.push({ what, fn }),
    report: (what, fn) => reports.push({ what, fn }),
  };
  let timer;
  let failure = null;
  try {
    await Promise.race([
      body(sc),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${name}: scenario did not finish within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    failure = err;
  } finally {
    clearTimeout(timer);
    if (failure || process.env.BROWSER_TEST_SHOW_LOGS) {
      const parts = [];
      for (const r of reports) {
        let text;
        try {
          text = await r.fn();
        } catch (e) {
          text = `(could not read: ${e.message})`;
        }
        parts.push(`===== ${name}: ${r.what} =====\n${tail(text)}`);
      }
      if (parts.length) process.stderr.write(`\n${parts.join('\n')}\n===== end of logs =====\n`);
    }
    for (const c of cleanups.reverse()) {
      try {
        await Promise.race([c.fn(), sleep(10000)]);
      } catch (e) {
        process.stderr.write(`cleanup of ${c.what} failed: ${e.message}\n`);
      }
    }
  }
  if (failure) throw failure;
}

/**
 * page.waitForFunction with a failure message that says what was expected and dumps the page's
 * window.testState (what the signalling saw so far).
 */
async function waitInPage(page, predicate, what, timeoutMs = 20000) {
  try {
    await page.waitForFunction(predicate, null, { timeout: timeoutMs });
  } catch (err) {
    const state = await page.evaluate(() => window.testState).catch(() => null);
    throw new Error(
      `${what}: not reached within ${timeoutMs} ms (${String(err.message).split('\n')[0]}); page testState: ${JSON.stringify(state)}`,
    );
  }
}

/** Reads window.testStats(...args) of a page. */
function pageStats(page, ...args) {
  return page.evaluate((a) => window.testStats(...a), args);
}

/**
 * The media check of every test: the remote <video> shows decoded frames (framesDecoded rises
 * across two samples at least 1 s apart and videoWidth > 0) and audio RTP arrives
 * (packetsReceived > 0 on the audio inbound-rtp). Returns the second sample.
 */
async function expectMediaFlowing(page, label, { timeoutMs = 25000, statsArgs = [] } = {}) {
  const first = await waitFor(
    `${label}: first decoded video frames and audio packets`,
    async () => {
      const s = await pageStats(page, ...statsArgs);
      return s && s.stats.framesDecoded > 0 && s.stats.audioPacketsReceived > 0 && s.remoteVideo.videoWidth > 0
        ? s
        : false;
    },
    { timeoutMs, intervalMs: 250 },
  );
  await sleep(1200);
  const second = await pageStats(page, ...statsArgs);
  assert.ok(
    second.stats.framesDecoded > first.stats.framesDecoded,
    `${label}: framesDecoded must keep rising (${first.stats.framesDecoded} → ${second.stats.framesDecoded}); ${JSON.stringify(second)}`,
  );
  assert.ok(second.remoteVideo.videoWidth > 0, `${label}: remote <video> has no width: ${JSON.stringify(second)}`);
  assert.ok(second.stats.audioPacketsReceived > 0, `${label}: no inbound audio packets: ${JSON.stringify(second)}`);
  return second;
}

/** Media stays (or becomes) flowing: framesDecoded rises across 1.2 s. */
async function expectStillDecoding(page, label, statsArgs = []) {
  const a = await pageStats(page, ...statsArgs);
  await sleep(1200);
  const b = await pageStats(page, ...statsArgs);
  assert.ok(
    b && a && b.stats.framesDecoded > a.stats.framesDecoded,
    `${label}: framesDecoded stopped rising (${a && a.stats.framesDecoded} → ${b && b.stats.framesDecoded})`,
  );
  return b;
}

/**
 * Writes PNGs of the page's current frames, through its window.testSnapshot(which) (a data: URL
 * or null): `files` maps 'remote' / 'local' to file paths. Returns the paths written, for failure
 * messages.
 */
async function dumpSnapshots(page, files) {
  const written = [];
  for (const [which, file] of Object.entries(files)) {
    const url = await page.evaluate((w) => window.testSnapshot(w), which).catch(() => null);
    if (!url) continue;
    fs.writeFileSync(file, Buffer.from(url.slice(url.indexOf(',') + 1), 'base64'));
    written.push(file);
  }
  return written;
}

/** The browser's console log as lines ("[page1 log] text"; launchBrowser's consoleLog()). */
function consoleLines(browser) {
  const text = browser.consoleLog();
  return text ? text.split('\n') : [];
}

/**
 * Waits until a line of the browser's console log matches `pattern`, looking only at the lines
 * from index `from` on (consoleLines(browser).length taken earlier: what came after that moment),
 * and returns that line.
 */
function waitForConsoleLine(browser, pattern, what, { timeoutMs = 20000, from = 0 } = {}) {
  return waitFor(
    `${what}: a page console line matching ${pattern}`,
    () => consoleLines(browser).slice(from).find((line) => pattern.test(line)) || false,
    { timeoutMs, intervalMs: 200 },
  );
}

module.exports = {
  withScenario,
  waitInPage,
  pageStats,
  expectMediaFlowing,
  expectStillDecoding,
  dumpSnapshots,
  consoleLines,
  waitForConsoleLine,
};
