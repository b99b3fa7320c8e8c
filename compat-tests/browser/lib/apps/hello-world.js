'use strict';
// Application server of kurento-tutorial-node/kurento-hello-world (WebRTC loopback), written again
// with the same structure and the same kurento-client calls as the tutorial's server.js:
// getKurentoClient → start → createMediaElements → connectMediaElements → processOffer +
// gatherCandidates; onIceCandidate queues browser candidates until the endpoint exists; stop
// releases the pipeline. Differences: no express/session (one WebSocket = one session), plain ws://,
// the kurento-client generation is chosen by the test, and an optional TURN URL is set on the
// endpoint with setTurnUrl (variant (c) of the hello-world test).

const kurentoLib = require('../kurento');

function createHelloWorldApp({ kurentoPkg, wsUri, turnUrl = null }) {
  const kurento = kurentoLib.load(kurentoPkg);
  let kurentoClient = null;
  let clientPromise = null;
  const sessions = {};
  const candidatesQueue = {};
  const errors = [];
  let nextSessionId = 0;

  function getKurentoClient(callback) {
    if (kurentoClient !== null) return callback(null, kurentoClient);
    if (!clientPromise) clientPromise = kurentoLib.connect(kurentoPkg, wsUri);
    clientPromise.then(
      (client) => {
        kurentoClient = client;
        callback(null, kurentoClient);
      },
      (error) => {
        clientPromise = null;
        callback(`Could not find media server at address ${wsUri}. Exiting with error ${error}`);
      },
    );
  }

  function send(ws, message) {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  }

  function start(sessionId, ws, sdpOffer, callback) {
    if (!sessionId) return callback('Cannot use undefined sessionId');
    getKurentoClient((error, client) => {
      if (error) return callback(error);
      client.create('MediaPipeline', (error, pipeline) => {
        if (error) return callback(error);
        createMediaElements(pipeline, ws, (error, webRtcEndpoint) => {
          if (error) {
            pipeline.release();
            return callback(error);
          }
          if (candidatesQueue[sessionId]) {
            while (candidatesQueue[sessionId].length) {
              const candidate = candidatesQueue[sessionId].shift();
              webRtcEndpoint.addIceCandidate(candidate);
            }
          }
          connectMediaElements(webRtcEndpoint, (error) => {
            if (error) {
              pipeline.release();
              return callback(error);
            }
            webRtcEndpoint.on('IceCandidateFound', (event) => {
              const candidate = kurento.getComplexType('IceCandidate')(event.candidate);
              send(ws, { id: 'iceCandidate', candidate });
            });
            webRtcEndpoint.processOffer(sdpOffer, (error, sdpAnswer) => {
              if (error) {
                pipeline.release();
                return callback(error);
              }
              sessions[sessionId] = { pipeline, webRtcEndpoint };
              return callback(null, sdpAnswer);
            });
            webRtcEndpoint.gatherCandidates((error) => {
              if (error) return callback(error);
            });
          });
        });
      });
    });
  }

  function createMediaElements(pipeline, ws, callback) {
    pipeline.create('WebRtcEndpoint', (error, webRtcEndpoint) => {
      if (error) return callback(error);
      if (!turnUrl) return callback(null, webRtcEndpoint);
      webRtcEndpoint.setTurnUrl(turnUrl, (error) => {
        if (error) return callback(error);
        return callback(null, webRtcEndpoint);
      });
    });
  }

  function connectMediaElements(webRtcEndpoint, callback) {
    webRtcEndpoint.connect(webRtcEndpoint, (error) => {
      if (error) return callback(error);
      return callback(null);
    });
  }

  function stop(sessionId) {
    if (sessions[sessionId]) {
      const { pipeline } = sessions[sessionId];
      pipeline.release();
      delete sessions[sessionId];
      delete candidatesQueue[sessionId];
    }
  }

  function onIceCandidate(sessionId, _candidate) {
    const candidate = kurento.getComplexType('IceCandidate')(_candidate);
    if (sessions[sessionId]) {
      sessions[sessionId].webRtcEndpoint.addIceCandidate(candidate);
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
          start(sessionId, ws, message.sdpOffer, (error, sdpAnswer) => {
            if (error) {
              errors.push(String(error && error.message ? error.message : error));
              return send(ws, { id: 'error', message: String(error && error.message ? error.message : error) });
            }
            send(ws, { id: 'startResponse', sdpAnswer });
          });
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
    path: '/helloworld',
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

module.exports = { createHelloWorldApp };
