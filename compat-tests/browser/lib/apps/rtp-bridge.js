'use strict';
// Application server of the RTP bridge test: one MediaPipeline with a WebRtcEndpoint (the page) and
// an RtpEndpoint (ffmpeg), connected one way without transcoding.
//
//   mode 'to-rtp':   browser → WebRtcEndpoint → RtpEndpoint → ffmpeg (receiver)
//   mode 'from-rtp': ffmpeg (sender) → RtpEndpoint → WebRtcEndpoint → browser
//
// The RtpEndpoint is given `rtpOffer` (written by the test: ffmpeg's side, recvonly or sendonly)
// with processOffer; its answer goes to `onRtpReady`, which starts ffmpeg before the browser's offer
// is processed, so that ffmpeg is already listening (or sending) when WebRTC media starts.
// Same signalling messages as the hello-world tutorial (start / startResponse / iceCandidate /
// onIceCandidate / stop).

const kurentoLib = require('../kurento');

function createRtpBridgeApp({ kurentoPkg, wsUri, mode, rtpOffer, onRtpReady }) {
  if (mode !== 'to-rtp' && mode !== 'from-rtp') throw new Error(`unknown mode ${mode}`);
  const kurento = kurentoLib.load(kurentoPkg);
  let clientPromise = null;
  const sessions = {};
  const candidatesQueue = {};
  const errors = [];
  let nextSessionId = 0;

  function getKurentoClient() {
    if (!clientPromise) {
      clientPromise = kurentoLib.connect(kurentoPkg, wsUri);
      clientPromise.catch(() => {
        clientPromise = null;
      });
    }
    return clientPromise;
  }

  function send(ws, message) {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  }

  async function start(sessionId, ws, sdpOffer) {
    const client = await getKurentoClient();
    const pipeline = await client.create('MediaPipeline');
    try {
      const webRtcEndpoint = await pipeline.create('WebRtcEndpoint');
      const rtpEndpoint = await pipeline.create('RtpEndpoint');
      const session = { pipeline, webRtcEndpoint, rtpEndpoint, rtpAnswer: null };
      sessions[sessionId] = session;
      for (const c of candidatesQueue[sessionId] || []) await webRtcEndpoint.addIceCandidate(c);
      delete candidatesQueue[sessionId];
      webRtcEndpoint.on('IceCandidateFound', (event) => {
        send(ws, { id: 'iceCandidate', candidate: kurento.getComplexType('IceCandidate')(event.candidate) });
      });
      if (mode === 'to-rtp') await webRtcEndpoint.connect(rtpEndpoint);
      else await rtpEndpoint.connect(webRtcEndpoint);
      session.rtpAnswer = await rtpEndpoint.processOffer(rtpOffer);
      if (onRtpReady) await onRtpReady(session);
      const sdpAnswer = await webRtcEndpoint.processOffer(sdpOffer);
      await webRtcEndpoint.gatherCandidates();
      return sdpAnswer;
    } catch (err) {
      stop(sessionId);
      pipeline.release();
      throw err;
    }
  }

  function stop(sessionId) {
    if (sessions[sessionId]) {
      sessions[sessionId].pipeline.release();
      delete sessions[sessionId];
    }
    delete candidatesQueue[sessionId];
  }

  function onIceCandidate(sessionId, _candidate) {
    const candidate = kurento.getComplexType('IceCandidate')(_candidate);
    if (sessions[sessionId]) {
      sessions[sessionId].webRtcEndpoint.addIceCandidate(candidate).catch((e) => errors.push(String(e.message || e)));
    } else {
      if (!candidatesQueue[sessionId]) candidatesQueue[sessionId] = [];
      candidatesQueue[sessionId].push(candidate);
    }
  }

  function onConnection(ws) {
    const sessionId = `s${++nextSessionId}`;
    ws.on('error', () => stop(sessionId));
    ws.on('close', () => stop(sessionId));
    ws.on('message', (data) => {
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        return send(ws, { id: 'error', message: `Invalid message ${data}` });
      }
      switch (message.id) {
        case 'start':
          start(sessionId, ws, message.sdpOffer).then(
            (sdpAnswer) => send(ws, { id: 'startResponse', sdpAnswer }),
            (error) => {
              const msg = String(error && error.message ? error.message : error);
              errors.push(msg);
              send(ws, { id: 'error', message: msg });
            },
          );
          break;
        case 'stop':
          stop(sessionId);
          break;
        case 'onIceCandidate':
          onIceCandidate(sessionId, message.candidate);
          break;
        default:
          send(ws, { id: 'error', message: `Invalid message ${message.id}` });
      }
    });
  }

  return {
    path: '/rtpbridge',
    onConnection,
    errors,
    sessions,
    async close() {
      for (const id of Object.keys(sessions)) stop(id);
      if (clientPromise) {
        const client = await clientPromise.catch(() => null);
        kurentoLib.close(client);
      }
    },
  };
}

module.exports = { createRtpBridgeApp };
