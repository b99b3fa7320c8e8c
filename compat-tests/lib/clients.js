'use strict';
// Loads the two kurento-client generations side by side and connects them the way applications do.
//
// Both are installed under npm aliases (kurento-client-6, kurento-client-7). Their generated class
// packages (kurento-client-core/elements/filters) do `require('kurento-client')`, a name that does not
// exist under the aliases; we resolve it to the alias whose tree the requiring file lives in, so 7.x
// classes get the 7.x client and 6.18 classes the 6.18 one (the 7.x tree nests its own copies).

//
// KMS's optional modules (kurento-module-chroma, -crowddetector, -platedetector, -pointerdetector)
// do the same `require('kurento-client')`, and a module package instance binds to the client that
// require returns. So each generation has its own copy under an alias, kurento-module-<name>-6 and
// kurento-module-<name>-7 (chroma: 6.18.0 and 7.x; the other three have no 7.x and are 6.18.0
// twice), and files under node_modules/kurento-module-*-7/ get kurento-client-7.

const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');

// Real path: required files report their real filename, and node_modules may be a symlink to a
// shared install (a worktree reusing another checkout's modules).
const NODE_MODULES = (() => {
  const p = path.resolve(__dirname, '..', 'node_modules');
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
})();

/** The kurento-client alias for a file that requires 'kurento-client': 7 inside the 7.x trees. */
function clientAliasFor(filename) {
  const rel = path.relative(NODE_MODULES, filename || '');
  const top = rel.startsWith('..') || path.isAbsolute(rel) ? '' : rel.split(path.sep)[0];
  return top === 'kurento-client-7' || /^kurento-module-.+-7$/.test(top) ? 'kurento-client-7' : 'kurento-client-6';
}

if (!Module._resolveFilename.kurentoAliasHook) {
  const prev = Module._resolveFilename;
  const hooked = function (request, parent, ...rest) {
    if (request === 'kurento-client' || request.startsWith('kurento-client/')) {
      request = clientAliasFor(parent && parent.filename) + request.slice('kurento-client'.length);
    }
    return prev.call(this, request, parent, ...rest);
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

const ALL_VERSIONS = [
  { name: 'kurento-client 6.18', pkg: 'kurento-client-6', major: 6 },
  { name: 'kurento-client 7.x', pkg: 'kurento-client-7', major: 7 },
];

// Each test process drives ONE client generation (KURENTO_CLIENT=6|7, set by the thin
// test/*.v6.test.js / *.v7.test.js wrappers), as a real application would: with both loaded into one
// process, 7.x proxies were seen failing its own instanceof checks ("mediaPipeline param should be a
// MediaPipeline, not MediaPipeline") after a 6.18 session. Unset = both (handy for ad-hoc runs).
const SELECTED = process.env.KURENTO_CLIENT;
const VERSIONS = SELECTED ? ALL_VERSIONS.filter((v) => String(v.major) === SELECTED) : ALL_VERSIONS;
if (VERSIONS.length === 0) throw new Error(`KURENTO_CLIENT=${SELECTED}: expected 6 or 7`);

/** Raw-socket parts of a client suite run once: in the 6.18 process, or when no version is selected. */
function runRawSuites() {
  return SELECTED !== '7';
}

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

/** 6 or 7: the generation of a kurento-client alias. */
function generation(pkg) {
  const m = /^kurento-client-(\d+)$/.exec(pkg);
  if (!m) throw new Error(`not a kurento-client alias: ${pkg}`);
  return Number(m[1]);
}

/** The alias of KMS's optional module `name` (e.g. 'chroma') for the generation of `pkg`. */
function modulePackage(pkg, name) {
  return `kurento-module-${name}-${generation(pkg)}`;
}

/**
 * What the tutorials do with `kurento.register('kurento-module-<name>')`, for the generation of
 * `pkg`: loads that generation's copy of the module package and registers it with that
 * generation's kurento-client (`register` is a property of the exported function in 6.18 and 7.x
 * alike). The qualified names then work: pipeline.create('<name>.<Class>'),
 * kurento.getComplexType('<name>.<Type>'). Returns the module package.
 */
function loadModule(pkg, name) {
  const kurento = require(pkg);
  const mod = require(modulePackage(pkg, name));
  kurento.register(mod);
  return mod;
}

module.exports = {
  VERSIONS, ALL_VERSIONS, runRawSuites, load, version, connect, closeClient, silenceReconnectErrors,
  generation, modulePackage, loadModule,
};
