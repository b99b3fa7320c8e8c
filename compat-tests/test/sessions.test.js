'use strict';
// Replays every hand-written session in compat-tests/sessions/*.jsonl (exact message sequences from
// docs/kurento-protocol notes) against the server; replies are compared by shape, see lib/replay.js.

const { describe, it } = require('node:test');
const fs = require('node:fs');
const path = require('node:path');
const { useServer } = require('../lib/server');
const { replay } = require('../lib/replay');

const server = useServer();
const dir = path.join(__dirname, '..', 'sessions');
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.jsonl'))
  .sort();

describe('recorded sessions', () => {
  it('there are session files to replay', (t) => {
    if (files.length < 8) throw new Error(`only ${files.length} session files`);
  });
  for (const f of files) {
    it(f, async () => {
      const lines = [];
      try {
        await replay(path.join(dir, f), server.url, (l) => lines.push(l));
      } catch (e) {
        e.message += `\n--- transcript ---\n${lines.join('\n')}`;
        throw e;
      }
    });
  }
});
