'use strict';
// kurento-client start-up: the constructor callback only fires after ping, describe of
// manager_ServerManager, getInfo and the "are my modules installed" check (strict mode, the default).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { useServer } = require('../lib/server');
const { VERSIONS, connect, closeClient, version } = require('../lib/clients');
const { UUID_RE } = require('../lib/util');

const server = useServer();

const FACTORIES = {
  core: ['HubPort', 'MediaPipeline', 'PassThrough'],
  elements: [
    'AlphaBlending',
    'Composite',
    'Dispatcher',
    'DispatcherOneToMany',
    'HttpPostEndpoint',
    'Mixer',
    'PlayerEndpoint',
    'RecorderEndpoint',
    'RtpEndpoint',
    'WebRtcEndpoint',
  ],
  filters: ['FaceOverlayFilter', 'GStreamerFilter', 'ImageOverlayFilter', 'ZBarFilter'],
};

for (const v of VERSIONS) {
  describe(`${v.name} (${version(v.pkg)})`, () => {
    it('KurentoClient start-up resolves (ping, describe ServerManager, getInfo, module check)', async () => {
      const client = await connect(v.pkg, server.url);
      try {
        assert.match(client.sessionId, UUID_RE, 'client adopted a UUID sessionId from the server');
      } finally {
        await closeClient(client);
      }
    });

    it('ServerManager.getInfo lists core, elements and filters with their factories', async () => {
      const client = await connect(v.pkg, server.url);
      try {
        const manager = await client.getServerManager();
        assert.equal(manager.id, 'manager_ServerManager');
        assert.equal(manager.constructor.name, 'ServerManager');
        const info = await manager.getInfo();
        assert.equal(info.type, 'KMS');
        assert.equal(typeof info.version, 'string');
        assert.ok(Array.isArray(info.capabilities), 'capabilities is a list');
        assert.ok(info.capabilities.includes('transactions'), 'advertises transactions');
        const byName = new Map(info.modules.map((m) => [m.name, m]));
        for (const [name, factories] of Object.entries(FACTORIES)) {
          const mod = byName.get(name);
          assert.ok(mod, `module ${name} listed`);
          assert.equal(typeof mod.version, 'string');
          assert.equal(typeof mod.generationTime, 'string');
          assert.deepEqual([...mod.factories].sort(), factories, `factories of ${name}`);
        }
      } finally {
        await closeClient(client);
      }
    });

    it('ServerManager getters answer with the right types', async () => {
      const client = await connect(v.pkg, server.url);
      try {
        const manager = await client.getServerManager();
        const cpus = await manager.getCpuCount();
        assert.ok(Number.isInteger(cpus) && cpus >= 1, `getCpuCount ${cpus}`);
        const used = await manager.getUsedCpu(100);
        assert.equal(typeof used, 'number');
        const mem = await manager.getUsedMemory();
        assert.equal(typeof mem, 'number');
        const sessions = await manager.getSessions();
        assert.ok(sessions.includes(client.sessionId), 'own session listed in getSessions');
      } finally {
        await closeClient(client);
      }
    });

    it('the access_token option (appended as ?access_token=) is accepted', async () => {
      const client = await connect(v.pkg, server.url, { access_token: 'secret-token' });
      try {
        const pipeline = await client.create('MediaPipeline');
        await pipeline.release();
      } finally {
        await closeClient(client);
      }
    });

    it('two clients get different sessions', async () => {
      const a = await connect(v.pkg, server.url);
      const b = await connect(v.pkg, server.url);
      try {
        assert.notEqual(a.sessionId, b.sessionId);
      } finally {
        await closeClient(a);
        await closeClient(b);
      }
    });
  });
}
