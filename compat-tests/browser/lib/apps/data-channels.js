'use strict';
// A data-channel application in the shape of Kurento's hello-world-data-channel tutorial, plus a
// one-to-many variant: every WebRtcEndpoint is created with useDataChannels. Role 'loopback'
// connects the endpoint to itself (the tutorial: what the browser sends on its channel comes
// back); 'presenter' and 'viewer' share one pipeline, and the presenter is connected to every
// viewer, so its channel's messages reach all of them.

const kurentoLib = require('../kurento');

function createDataChannelApp({ kurentoPkg, wsUri }) {
  const kurento = kurentoLib.load(kurentoPkg);
  let clientPromise = null;
  let shared = null; // { pipeline, presenter: WebRtcEndpoint | null, viewers: [] }
  const sessions = {};
  const candidatesQueue = {};
  const errors = [];
  let nextSessionId = 0;

  const client = () => {
    if (!clientPromise) clientPromise = kurentoLib.connect(kurentoPkg, wsUri);
    return clientPromise;
  };

  function send(ws, message) {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  }

  async function start(sessionId, ws, role, sdpOffer) {
    const kc = await client();
    let pipeline;
    if (role === 'loopback') {
      pipeline = await kc.create('MediaPipeline');
    } else {
      if (!shared) shared = { pipeline: await kc.create('MediaPipeline'), presenter: null, viewers: [] };
      pipeline = shared.pipeline;
    }
    const webRtcEndpoint = await pipeline.create('WebRtcEndpoint', { useDataChannels: true });
    sessions[sessionId] = { pipeline, webRtcEndpoint, role };
    for (const c of candidatesQueue[sessionId] || []) await webRtcEndpoint.addIceCandidate(c);
    delete candidatesQueue[sessionId];
    webRtcEndpoint.on('IceCandidateFound', (event) => {
      send(ws, { id: 'iceCandidate', candidate: kurento.getComplexType('IceCandidate')(event.candidate) });
    });
    webRtcEndpoint.on('DataChannelOpened', (event) => send(ws, { id: 'dataChannelOpened', channelId: event.channelId }));
    if (role === 'loopback') {
      await webRtcEndpoint.connect(webRtcEndpoint);
    } else if (role === 'presenter') {
      shared.presenter = webRtcEndpoint;
      for (const v of shared.viewers) await webRtcEndpoint.connect(v);
    } else {
      shared.viewers.push(webRtcEndpoint);
      if (shared.presenter) await shared.presenter.connect(webRtcEndpoint);
    }
    const sdpAnswer = await webRtcEndpoint.processOffer(sdpOffer);
    await webRtcEndpoint.gatherCandidates();
    return sdpAnswer;
  }

  function stop(sessionId) {
    const s = sessions[sessionId];
    delete sessions[sessionId];
    delete candidatesQueue[sessionId];
    if (!s) return;
    if (s.role === 'loopback') s.pipeline.release();
    else s.webRtcEndpoint.release();
  }

  function onConnection(ws) {
    const sessionId = `s${++nextSessionId}`;
    ws.on('close', () => stop(sessionId));
    ws.on('message', (data) => {
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        return send(ws, { id: 'error', message: `Invalid message ${data}` });
      }
      if (message.id === 'start') {
        start(sessionId, ws, message.role, message.sdpOffer).then(
          (sdpAnswer) => send(ws, { id: 'startResponse', sdpAnswer }),
          (error) => {
            const msg = String(error && error.message ? error.message : error);
            errors.push(msg);
            send(ws, { id: 'error', message: msg });
          },
        );
      } else if (message.id === 'onIceCandidate') {
        const candidate = kurento.getComplexType('IceCandidate')(message.candidate);
        if (sessions[sessionId]) sessions[sessionId].webRtcEndpoint.addIceCandidate(candidate);
        else (candidatesQueue[sessionId] = candidatesQueue[sessionId] || []).push(candidate);
      } else if (message.id === 'stop') {
        stop(sessionId);
      }
    });
  }

  return {
    path: '/datachannels',
    onConnection,
    errors,
    sessions,
    async close() {
      for (const id of Object.keys(sessions)) stop(id);
      if (shared) shared.pipeline.release();
      if (clientPromise) kurentoLib.close(await clientPromise.catch(() => null));
    },
  };
}

module.exports = { createDataChannelApp };
