'use strict';
// The published kurento-client packages, installed side by side under npm aliases
// (kurento-client-6 = 6.18.0, kurento-client-7 = 7.x).
//
// Their class packages (kurento-client-core/elements/filters) `require('kurento-client')`, a name
// that does not exist under the aliases: it is resolved to the alias whose tree the requiring file
// lives in (the 7.x tree nests its own class packages; the hoisted ones belong to 6.18).
//
// The resolve hook (and the optional modules' per-generation copies) live in ../../lib/clients.js,
// shared with the protocol suites.

const { generation, modulePackage, loadModule } = require('../../lib/clients');

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

module.exports = { CLIENTS, load, version, generation, modulePackage, loadModule, connect, close, pipelineCount };
