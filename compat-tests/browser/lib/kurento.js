'use strict';
// The published kurento-client packages, installed side by side under npm aliases
// (kurento-client-6 = 6.18.0, kurento-client-7 = 7.x).
//
// Their class packages (kurento-client-core/elements/filters) `require('kurento-client')`, a name
// that does not exist under the aliases: it is resolved to the alias whose tree the requiring file
// lives in (the 7.x tree nests its own class packages; the hoisted ones belong to 6.18). The same
// marker as compat-tests/lib/clients.js is used, so whichever file loads first installs the hook.

const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');

// Real path: required files report their real filename, and node_modules may be a symlink to a
// shared install (a worktree reusing another checkout's modules).
const NODE_MODULES = (() => {
  const p = path.resolve(__dirname, '..', '..', 'node_modules');
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
})();
const V7_TREE = path.join(NODE_MODULES, 'kurento-client-7') + path.sep;

if (!Module._resolveFilename.kurentoAliasHook) {
  const orig = Module._resolveFilename;
  const hooked = function (request, parent, ...rest) {
    if (request === 'kurento-client' || request.startsWith('kurento-client/')) {
      const from = (parent && parent.filename) || '';
      const alias = from.startsWith(V7_TREE) ? 'kurento-client-7' : 'kurento-client-6';
      request = alias + request.slice('kurento-client'.length);
    }
    return orig.call(this, request, parent, ...rest);
  };
  hooked.kurentoAliasHook = true;
  Module._resolveFilename = hooked;
}

/** The client generations each browser test runs against. */
const CLIENTS = ['kurento-client-6', 'kurento-client-7'];

function load(pkg) {
  return require(pkg);
}

function version(pkg) {
  return require(`${pkg}/package.json`).version;
}

/**
 * Connects like the tutorials' getKurentoClient(): `kurento(ws_uri, callback)`; the callback fires
 * after the client's strict start-up (describe + getInfo of the ServerManager).
 */
function connect(pkg, wsUri, { timeoutMs = 15000 } = {}) {
  const kurento = load(pkg);
  return new Promise((resolve, reject) => {
    let client = null;
    const timer = setTimeout(() => {
      if (client) client.close();
      reject(new Error(`${pkg}: could not connect to ${wsUri} within ${timeoutMs} ms`));
    }, timeoutMs);
    client = kurento(wsUri, { failAfter: 3, request_timeout: 15000 }, (error, c) => {
      clearTimeout(timer);
      if (error) {
        client.close();
        return reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
      }
      resolve(c);
    });
    // kurento-client wants a GitHub fork of reconnect-ws; the registry's 0.1.0 (forced by the npm
    // override) re-emits socket errors as 'error' events, which without a listener would crash the
    // test process when the server under test dies. The fork ignores them; so do we.
    if (client._re && client._re.listenerCount('error') === 0) client._re.on('error', () => {});
  });
}

function close(client) {
  if (!client) return;
  try {
    client.close();
  } catch {
    // already closed
  }
}

/** Number of MediaPipelines the server reports through ServerManager.getPipelines(). */
async function pipelineCount(client) {
  const manager = await client.getServerManager();
  const pipelines = await manager.getPipelines();
  return pipelines.length;
}

module.exports = { CLIENTS, load, version, connect, close, pipelineCount };
