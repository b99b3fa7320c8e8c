'use strict';
// Application server of kurento-tutorial-node/kurento-magic-mirror (WebRTC loopback through a
// FaceOverlayFilter), written again with the same structure and the same kurento-client calls as the
// tutorial's server.js: getKurentoClient → start → createMediaElements (WebRtcEndpoint,
// FaceOverlayFilter, setOverlayedImage(<app url>/img/mario-wings.png, -0.35, -1.2, 1.6, 1.6)) →
// connectMediaElements (webRtcEndpoint → faceOverlayFilter → webRtcEndpoint) → processOffer +
// gatherCandidates; onIceCandidate queues browser candidates until the endpoint exists; stop releases
// the pipeline. Differences: no express/session (one WebSocket = one session), plain http:// and
// ws://, the kurento-client generation is chosen by the test, and the overlay image is the one the
// test generated (served by the test's web server as /img/mario-wings.png, like the tutorial's
// express.static does with static/img/mario-wings.png).

const kurentoLib = require('../kurento');

const OVERLAY_PATH = '/img/mario-wings.png';

/**
 * @param {object} o
 * @param {string} o.kurentoPkg kurento-client alias
 * @param {string} o.wsUri media server URI
 * @param {string} o.overlayImageFile the PNG served as /img/mario-wings.png
 */
function createMagicMirrorApp({ kurentoPkg, wsUri, overlayImageFile }) {
  const kurento = kurentoLib.load(kurentoPkg);
  let kurentoClient = null;
  let clientPromise = null;
  const sessions = {};
  const candidatesQueue = {};
  const errors = [];
  const overlayUris = [];
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

  function start(sessionId, ws, appServerUrl, sdpOffer, callback) {
    if (!sessionId) return callback('Cannot use undefined sessionId');
    getKurentoClient((error, client) => {
      if (error) return callback(error);
      client.create('MediaPipeline', (error, pipeline) => {
        if (error) return callback(error);
        createMediaElements(pipeline, ws, appServerUrl, (error, webRtcEndpoint, faceOverlayFilter) => {
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
          connectMediaElements(webRtcEndpoint, faceOverlayFilter, (error) => {
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
              sessions[sessionId] = { pipeline, webRtcEndpoint, faceOverlayFilter };
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

  function createMediaElements(pipeline, ws, appServerUrl, callback) {
    pipeline.create('WebRtcEndpoint', (error, webRtcEndpoint) => {
      if (error) return callback(error);
      pipeline.create('FaceOverlayFilter', (error, faceOverlayFilter) => {
        if (error) return callback(error);
        const uri = appServerUrl + OVERLAY_PATH;
        overlayUris.push(uri);
        faceOverlayFilter.setOverlayedImage(uri, -0.35, -1.2, 1.6, 1.6, (error) => {
          if (error) return callback(error);
          return callback(null, webRtcEndpoint, faceOverlayFilter);
        });
      });
    });
  }

  function connectMediaElements(webRtcEndpoint, faceOverlayFilter, callback) {
    webRtcEndpoint.connect(faceOverlayFilter, (error) => {
      if (error) return callback(error);
      faceOverlayFilter.connect(webRtcEndpoint, (error) => {
        if (error) return callback(error);
        return callback(null);
      });
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

  function onConnection(ws, req) {
    const sessionId = `s${++nextSessionId}`;
    // The tutorial builds the image URL from its own as_uri; ours is the web server the page came
    // from (plain http on 127.0.0.1:<port>).
    const appServerUrl = `http://${req.headers.host}`;
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
          start(sessionId, ws, appServerUrl, message.sdpOffer, (error, sdpAnswer) => {
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
    path: '/magicmirror',
    files: { [OVERLAY_PATH]: overlayImageFile },
    overlayPath: OVERLAY_PATH,
    overlayUris,
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

module.exports = { createMagicMirrorApp };
