'use strict';
// The session replayer's shape matcher must reject what it should, or the session tests prove nothing.
// Pure unit tests, no server.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Matcher, parseSessionFile } = require('../lib/replay');

const PIPE = '6ba9067f-cdcf-4ea6-a6ee-d74519585acd_kurento.MediaPipeline';
const EP = `${PIPE}/087b7777-aab5-4787-816f-f0de19e5b1d9_kurento.WebRtcEndpoint`;

describe('replay matcher', () => {
  it('objects need exactly the listed members unless "<more>"', () => {
    const m = new Matcher();
    assert.equal(m.match({ a: 1 }, { a: 1 }), null);
    assert.match(m.match({ a: 1 }, { a: 1, b: 2 }), /unexpected member/);
    assert.match(m.match({ a: 1, b: 2 }, { a: 1 }), /missing member/);
    assert.equal(m.match({ a: 1, '<more>': true }, { a: 1, b: 2 }), null);
    assert.match(m.match({ result: { value: null } }, { result: {} }), /missing member "value"/);
  });

  it('placeholders check types and formats', () => {
    const m = new Matcher();
    assert.equal(m.match('<uuid>', '0c8f1f64-5d1e-4c8b-b2a4-7f0e1d2c3b4a'), null);
    assert.ok(m.match('<uuid>', 'not-a-uuid'));
    assert.ok(m.match('<uuid>', 5));
    assert.equal(m.match('<id>', EP), null);
    assert.ok(m.match('<id>', 'manager_ServerManager'));
    assert.equal(m.match('<int>', 3), null);
    assert.ok(m.match('<int>', 3.5));
    assert.ok(m.match('<int>', '3'));
    assert.equal(m.match('<digits>', '1700000000'), null);
    assert.ok(m.match('<digits>', 1700000000), 'timestamps must be strings');
    assert.ok(m.match('<any>', undefined));
    assert.equal(m.match('<null>', null), null);
    assert.ok(m.match('<string>', null));
    assert.ok(m.match([1, 2], [1, 2, 3]));
    assert.ok(m.match(null, 0));
    assert.ok(m.match(false, 0));
  });

  it('captures bind once and must match afterwards; templates use them', () => {
    const m = new Matcher();
    assert.equal(m.match('$pipe:<uuid>_kurento.MediaPipeline', PIPE), null);
    assert.equal(m.vars.pipe, PIPE);
    assert.equal(m.match('$pipe', PIPE), null);
    assert.ok(m.match('$pipe', `${PIPE}x`));
    assert.equal(m.match('$ep:${pipe}/<uuid>_kurento.WebRtcEndpoint', EP), null);
    assert.ok(m.match('${pipe}/<uuid>_kurento.PassThrough', EP));
    assert.ok(m.match('$other:<uuid>_kurento.MediaPipeline', 'x'), 'failed capture');
    assert.equal(m.vars.other, undefined, 'a failed capture does not bind');
    assert.equal(m.match("Object '${pipe}' not found", `Object '${PIPE}' not found`), null);
    assert.ok(m.match("Object '${pipe}' not found", "Object 'x' not found"));
    assert.deepEqual(m.substitute({ object: '$pipe', s: '${pipe}/x', n: ['$ep'] }), {
      object: PIPE,
      s: `${PIPE}/x`,
      n: [EP],
    });
    assert.throws(() => m.substitute({ object: '$nope' }), /unbound/);
  });

  it('every session file parses and uses only known steps', () => {
    const dir = path.join(__dirname, '..', 'sessions');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    assert.ok(files.length >= 8);
    for (const f of files) {
      const steps = parseSessionFile(path.join(dir, f));
      assert.ok(steps.some((s) => s.send || s.send_raw), `${f} sends something`);
      assert.ok(steps.some((s) => s.expect), `${f} expects something`);
      for (const s of steps) {
        const kinds = ['comment', 'send', 'send_raw', 'expect', 'expect_event', 'quiet', 'reconnect'].filter(
          (k) => k in s,
        );
        assert.equal(kinds.length, 1, `${f}:${s.line} has exactly one step kind`);
      }
    }
  });
});
