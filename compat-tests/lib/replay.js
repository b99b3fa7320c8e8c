'use strict';
// Replays a hand-written session file (compat-tests/sessions/*.jsonl) against the server and compares
// every reply by shape.
//
// One JSON object per line (blank lines and lines starting with // are ignored):
//   {"comment": "..."}                  ignored
//   {"send": {...}}                     send this request (strings "$name" are replaced by captures)
//   {"send_raw": "text"}                send a text frame verbatim (for malformed input)
//   {"expect": {...}}                   the response with the same id (id null: the next id-less reply)
//   {"expect_event": {...}}             an onEvent notification matching the pattern (any arrival order)
//   {"quiet": ms}                       nothing else (no response, no event) arrives within ms
//   {"reconnect": true}                 close the socket and open a new one (same server)
//
// Patterns: objects must have exactly the listed keys (add "<more>": true to allow extra ones),
// arrays match element-wise (same length), other values by equality, except these strings:
//   "<any>" any value; "<string>", "<number>", "<int>", "<bool>", "<object>", "<array>", "<null>";
//   "<uuid>" / "<sessionId>" a UUID; "<id>" a media object id ("<uuid>_<module>.<Class>", '/'-chained);
//   "$name" capture the value the first time, require equality afterwards;
//   "$name:PATTERN" same, but the first value must also match PATTERN;
//   any other string containing "<uuid>", "<id>", "<digits>", "<any>" or "${name}" is a template:
//   literal text with those tokens (e.g. "${pipe}/<uuid>_kurento.WebRtcEndpoint").

const fs = require('node:fs');
const { RpcSocket } = require('./rpc');

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const ID = `${UUID}_[A-Za-z0-9]+\\.[A-Za-z0-9]+(?:/${UUID}_[A-Za-z0-9]+\\.[A-Za-z0-9]+)*`;
const TOKENS = {
  '<uuid>': UUID,
  '<sessionId>': UUID,
  '<id>': ID,
  '<digits>': '\\d+',
  '<any>': '[\\s\\S]*',
};

function parseSessionFile(file) {
  const steps = [];
  fs.readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const t = line.trim();
      if (!t || t.startsWith('//')) return;
      let step;
      try {
        step = JSON.parse(t);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: not JSON: ${e.message}`);
      }
      step.line = i + 1;
      steps.push(step);
    });
  return steps;
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

class Matcher {
  constructor() {
    this.vars = {};
  }

  substitute(value) {
    if (typeof value === 'string' && /^\$[A-Za-z_]\w*$/.test(value)) {
      const name = value.slice(1);
      if (!(name in this.vars)) throw new Error(`send uses unbound capture ${value}`);
      return this.vars[name];
    }
    if (typeof value === 'string' && value.includes('${')) {
      return value.replace(/\$\{(\w+)\}/g, (_, name) => {
        if (!(name in this.vars)) throw new Error(`send uses unbound capture \${${name}}`);
        return this.vars[name];
      });
    }
    if (Array.isArray(value)) return value.map((v) => this.substitute(v));
    if (value && typeof value === 'object') {
      const out = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.substitute(v);
      return out;
    }
    return value;
  }

  templateRe(pattern) {
    let re = '';
    const parts = pattern.split(/(<uuid>|<sessionId>|<id>|<digits>|<any>|\$\{\w+\})/);
    for (const part of parts) {
      if (TOKENS[part]) re += TOKENS[part];
      else if (/^\$\{\w+\}$/.test(part)) {
        const name = part.slice(2, -1);
        if (!(name in this.vars)) return null;
        re += escapeRe(String(this.vars[name]));
      } else re += escapeRe(part);
    }
    return new RegExp(`^${re}$`);
  }

  /** Returns null when `actual` matches `pattern`, else a description of the first mismatch. */
  match(pattern, actual, path = '$', bind = true) {
    if (typeof pattern === 'string') return this.matchString(pattern, actual, path, bind);
    if (Array.isArray(pattern)) {
      if (!Array.isArray(actual)) return `${path}: expected an array, got ${JSON.stringify(actual)}`;
      if (actual.length !== pattern.length) {
        return `${path}: expected ${pattern.length} elements, got ${actual.length}: ${JSON.stringify(actual)}`;
      }
      for (let i = 0; i < pattern.length; i++) {
        const m = this.match(pattern[i], actual[i], `${path}[${i}]`, bind);
        if (m) return m;
      }
      return null;
    }
    if (pattern && typeof pattern === 'object') {
      if (!actual || typeof actual !== 'object' || Array.isArray(actual)) {
        return `${path}: expected an object, got ${JSON.stringify(actual)}`;
      }
      const more = pattern['<more>'] === true;
      const keys = Object.keys(pattern).filter((k) => k !== '<more>');
      for (const k of keys) {
        if (!(k in actual)) return `${path}: missing member "${k}" in ${JSON.stringify(actual)}`;
        const m = this.match(pattern[k], actual[k], `${path}.${k}`, bind);
        if (m) return m;
      }
      if (!more) {
        const extra = Object.keys(actual).filter((k) => !keys.includes(k));
        if (extra.length) return `${path}: unexpected member(s) ${extra.join(', ')} in ${JSON.stringify(actual)}`;
      }
      return null;
    }
    if (pattern !== actual) return `${path}: expected ${JSON.stringify(pattern)}, got ${JSON.stringify(actual)}`;
    return null;
  }

  matchString(pattern, actual, path, bind) {
    const fail = () => `${path}: expected ${pattern}, got ${JSON.stringify(actual)}`;
    const capture = /^\$([A-Za-z_]\w*)(?::([\s\S]+))?$/.exec(pattern);
    if (capture) {
      const [, name, sub] = capture;
      if (name in this.vars) {
        return JSON.stringify(this.vars[name]) === JSON.stringify(actual)
          ? null
          : `${path}: expected ${pattern} = ${JSON.stringify(this.vars[name])}, got ${JSON.stringify(actual)}`;
      }
      if (actual === undefined || actual === null) return fail();
      if (sub) {
        const m = this.matchString(sub, actual, path, bind);
        if (m) return m;
      }
      if (bind) this.vars[name] = actual;
      return null;
    }
    switch (pattern) {
      case '<any>':
        return actual === undefined ? fail() : null;
      case '<string>':
        return typeof actual === 'string' ? null : fail();
      case '<number>':
        return typeof actual === 'number' ? null : fail();
      case '<int>':
        return Number.isInteger(actual) ? null : fail();
      case '<bool>':
        return typeof actual === 'boolean' ? null : fail();
      case '<object>':
        return actual && typeof actual === 'object' && !Array.isArray(actual) ? null : fail();
      case '<array>':
        return Array.isArray(actual) ? null : fail();
      case '<null>':
        return actual === null ? null : fail();
      default:
        break;
    }
    if (/<uuid>|<sessionId>|<id>|<digits>|<any>|\$\{\w+\}/.test(pattern)) {
      const re = this.templateRe(pattern);
      if (!re) return `${path}: template ${pattern} uses an unbound capture`;
      return typeof actual === 'string' && re.test(actual) ? null : fail();
    }
    return pattern === actual ? null : fail();
  }
}

async function replay(file, url, log = () => {}) {
  const steps = parseSessionFile(file);
  const m = new Matcher();
  let sock = await RpcSocket.connect(url);
  const where = (step) => `${file}:${step.line}`;
  // Responses that arrived for ids sent by this replay, by id (JSON-encoded).
  const sentIds = new Set();
  const responses = new Map();
  let consumedUnmatched = 0;

  const attach = (s) => {
    const orig = s._onMessage.bind(s);
    s._onMessage = (data, isBinary) => {
      orig(data, isBinary);
      // Move id-carrying responses to the map so expect can find them in any order.
      while (s.unmatched.length > consumedUnmatched) {
        const msg = s.unmatched[consumedUnmatched];
        if (msg && msg.id !== undefined && msg.id !== null && sentIds.has(JSON.stringify(msg.id))) {
          s.unmatched.splice(consumedUnmatched, 1);
          responses.set(JSON.stringify(msg.id), msg);
        } else {
          consumedUnmatched++;
        }
      }
      s._wake();
    };
  };
  attach(sock);
  let idless = 0; // index of the next unmatched message an {"expect": {"id": null}} takes

  try {
    for (const step of steps) {
      if (step.comment !== undefined) continue;
      if (step.send) {
        const req = m.substitute(step.send);
        if (req.id !== undefined) {
          const key = JSON.stringify(req.id);
          if (sentIds.has(key)) throw new Error(`${where(step)}: id ${key} reused in one session file`);
          sentIds.add(key);
        }
        log(`>> ${JSON.stringify(req).slice(0, 300)}`);
        await sock.sendRaw(req);
      } else if (step.send_raw !== undefined) {
        log(`>> ${step.send_raw.slice(0, 300)}`);
        await sock.sendRaw(step.send_raw);
      } else if (step.expect) {
        const id = step.expect.id;
        let msg;
        if (id === null || id === undefined) {
          msg = await sock._waitFor(
            () => sock.unmatched[idless],
            5000,
            `${where(step)}: id-less reply`,
          );
          idless++;
        } else {
          const key = JSON.stringify(m.substitute(id));
          msg = await sock._waitFor(() => responses.get(key), 10000, `${where(step)}: response id ${key}`);
          responses.delete(key);
        }
        log(`<< ${JSON.stringify(msg).slice(0, 300)}`);
        const err = m.match(step.expect, msg);
        if (err) throw new Error(`${where(step)}: ${err}`);
      } else if (step.expect_event) {
        let found;
        await sock._waitFor(
          () => {
            const i = sock.events.findIndex((e) => m.match(step.expect_event, e, '$', false) === null);
            if (i >= 0) [found] = sock.events.splice(i, 1);
            return found;
          },
          5000,
          `${where(step)}: event ${JSON.stringify(step.expect_event).slice(0, 200)}; got ${JSON.stringify(
            sock.events,
          ).slice(0, 600)}`,
        ).catch((e) => {
          throw new Error(e.message);
        });
        log(`<< ${JSON.stringify(found).slice(0, 300)}`);
        m.match(step.expect_event, found); // binds the captures
      } else if (step.quiet !== undefined) {
        const events = sock.events.length;
        await new Promise((r) => setTimeout(r, step.quiet));
        if (sock.events.length > events || sock.events.length > 0) {
          throw new Error(`${where(step)}: unexpected event(s) ${JSON.stringify(sock.events).slice(0, 600)}`);
        }
        if (responses.size || sock.unmatched.length > idless) {
          throw new Error(
            `${where(step)}: unexpected message(s) ${JSON.stringify([
              ...responses.values(),
              ...sock.unmatched.slice(idless),
            ]).slice(0, 600)}`,
          );
        }
      } else if (step.reconnect) {
        await sock.close();
        sock = await RpcSocket.connect(url);
        consumedUnmatched = 0;
        idless = 0;
        attach(sock);
      } else {
        throw new Error(`${where(step)}: unknown step ${JSON.stringify(step)}`);
      }
    }
    if (responses.size) {
      throw new Error(`${file}: unexpected responses at the end: ${JSON.stringify([...responses.values()])}`);
    }
  } finally {
    await sock.close();
  }
  return m.vars;
}

module.exports = { replay, parseSessionFile, Matcher };
