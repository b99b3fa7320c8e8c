'use strict';
// Loads the two kurento-client generations side by side and connects them the way applications do.
//
// Both are installed under npm aliases (kurento-client-6, kurento-client-7). Their generated class
// packages (kurento-client-core/elements/filters) do `require('kurento-client')`, a name that does not
// exist under the aliases; we resolve it to the alias whose tree the requiring file lives in, so 7.x
// classes get the 7.x client and 6.18 classes the 6.18 one (the 7.x tree nests its own copies).

const Module = require('node:module');
const path = require('node:path');

const NODE_MODULES = path.resolve(__dirname, '..', 'node_modules');
const V7_TREE = path.join(NODE_MODULES, 'kurento-client-7') + path.sep;

const origResolve = Module._resolveFilename;
if (!origResolve.kurentoAliasHook) {
  const hooked = function (request, parent, ...rest) {
    if (request === 'kurento-client' || request.startsWith('kurento-client/')) {
      const from = (parent && parent.filename) || '';
      const alias = from.startsWith(V7_TREE) ? 'kurento-client-7' : 'kurento-client-6';
      request = alias + request.slice('kurento-client'.length);
    }
    return origResolve.call(this, request, parent, ...rest);
  };
  hooked.kurentoAliasHook = true;
  Module._resolveFilename = hooked;
}

// Both client generations build transactions on `require('domain').Domain` with the pre-ES2015
// pattern `Domain.call(this)`; in current Node `Domain` is a class, so every client.transaction() /
// beginTransaction() throws "Class constructor Domain cannot be invoked without 'new'" on Node 20,
// independently of the server. TransactionsManager.js falls back to its own small FakeDomain when
// `require('domain').Domain` is undefined, so hand it exactly that (only to that file) so that the
// server's transaction support can be exercised through the real client code path.
const origRequire = Module.prototype.require;
if (!origRequire.kurentoDomainShim) {
  const shimmed = function (id) {
    if (id === 'domain' && this.filename && this.filename.endsWith(`${path.sep}lib${path.sep}TransactionsManager.js`)) {
      return {};
    }
    return origRequire.apply(this, arguments);
  };
  shimmed.kurentoDomainShim = true;
  Module.prototype.require = shimmed;
}

const VERSIONS = [
  { name: 'kurento-client 6.18', pkg: 'kurento-client-6', major: 6 },
  { name: 'kurento-client 7.x', pkg: 'kurento-client-7', major: 7 },
];

function load(pkg) {
  return require(pkg);
}

function version(pkg) {
  return require(`${pkg}/package.json`).version;
}

/**
 * Connects like the tutorials do: `kurento(ws_uri, options, callback)`. The callback form is the only
 * one that waits for the strict-mode start-up (describe ServerManager + getInfo + module check);
 * the thenable returned by the constructor resolves as soon as the socket is open.
 *
 * Real option names (lib/KurentoClient.js, kurento-jsonrpc): failAfter (reconnect attempts, default
 * Infinity), strict (default true), enableTransactions (default true), useImplicitTransactions,
 * access_token (appended as ?access_token=), max_retries (0), request_timeout (20000 ms),
 * ping_request_timeout, response_timeout, duplicates_timeout, socket (ws options).
 */
function connect(pkg, url, options = {}) {
  const kurento = load(pkg);
  return new Promise((resolve, reject) => {
    let client;
    const timer = setTimeout(() => {
      if (client) client.close();
      reject(new Error(`${pkg}: KurentoClient start-up did not finish in 15 s`));
    }, options.startTimeoutMs || 15000);
    const opts = { request_timeout: 10000, ...options };
    delete opts.startTimeoutMs;
    client = kurento(url, opts, (error, c) => {
      clearTimeout(timer);
      if (error) {
        client.close();
        return reject(error);
      }
      resolve(exposeOriginal(c, client));
    });
    silenceReconnectErrors(client);
  });
}

/**
 * The constructor callback does not get the KurentoClient itself but a "disguise.unthenable" copy made
 * with Object.assign: non-enumerable members such as `sessionId` are missing from it and its
 * EventEmitter methods run against the copy. Tests need both, so delegate them to the original.
 */
function exposeOriginal(copy, original) {
  if (copy === original) return copy;
  // The copy's members are non-configurable, so layer a small object on top of it.
  const view = Object.create(copy);
  Object.defineProperty(view, 'sessionId', { get: () => original.sessionId });
  Object.defineProperty(view, '_re', { get: () => original._re });
  Object.defineProperty(view, 'original', { value: original });
  for (const m of ['on', 'once', 'off', 'removeListener', 'removeAllListeners', 'emit', 'listenerCount']) {
    Object.defineProperty(view, m, { value: original[m].bind(original) });
  }
  return view;
}

/**
 * kurento-client depends on a GitHub fork of reconnect-ws that is not fetchable here; the registry's
 * reconnect-ws@0.1.0 (forced through package.json "overrides") is the same code except that its
 * reconnect-core emitter re-emits every socket error as an 'error' event, which Node turns into an
 * uncaught exception when nobody listens (e.g. connection refused while the server restarts). The
 * reconnecting emitter is exposed by the client as `_re`; a no-op listener restores the fork's
 * behaviour (the client then just keeps retrying with its fibonacci back-off).
 */
function silenceReconnectErrors(client) {
  const re = client && client._re;
  if (re && re.listenerCount('error') === 0) re.on('error', () => {});
}

/** Closes a client and waits a moment so its socket is really gone. */
async function closeClient(client) {
  if (!client) return;
  try {
    client.close();
  } catch {
    // already disconnected
  }
}

module.exports = { VERSIONS, load, version, connect, closeClient, silenceReconnectErrors };
