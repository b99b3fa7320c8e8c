'use strict';
// The application server that kurento-tutorial-node's WebRTC loopback demos share (kurento-hello-world,
// kurento-magic-mirror, kurento-chroma, kurento-crowddetector, kurento-platedetector and
// kurento-pointerdetector), written once with the structure and the kurento-client calls that
// their server.js files have in common: getKurentoClient → start → createMediaElements
// (WebRtcEndpoint, then the tutorial's filter, if any) → connectMediaElements (webRtcEndpoint →
// filter → webRtcEndpoint, or webRtcEndpoint → webRtcEndpoint without a filter) → the tutorial's
// subscriptions and calls, before or after IceCandidateFound → processOffer + gatherCandidates;
// onIceCandidate queues browser candidates until the endpoint exists; stop releases the pipeline.
// start's callback carries the SDP answer ({id: 'startResponse'}) and, for the tutorials that
// forward filter events, one call per event, each turned into its page message by the tutorial.
// Each tutorial's file (./hello-world.js, ./magic-mirror.js, …) gives the hooks below; its header
// says what the tutorial does in them.
//
// Differences from the tutorials: no express/session (one WebSocket = one session), plain http://
// and ws://, the kurento-client generation is chosen by the test, start errors are recorded
// (`errors`), and an optional TURN URL is set on the endpoint with setTurnUrl (variant (c) of the
// hello-world test).

const kurentoLib = require('../kurento');

/**
 * @param {object} o
 * @param {string} o.kurentoPkg kurento-client alias
 * @param {string} o.wsUri media server URI
 * @param {string} o.path the application's WebSocket path
 * @param {string|null} [o.turnUrl] set on the WebRtcEndpoint with setTurnUrl before anything else
 * @param {object} [hooks] what the tutorial adds; `ctx` is { sessionId, ws, appServerUrl } and,
 *   once the elements exist, also { pipeline, webRtcEndpoint, filter, callback } (start's callback:
 *   `callback(error)`, or `callback(null, type, data)` for one filter event).
 * @param {(pipeline, ctx, callback: (error, filter) => void) => void} [hooks.createFilter]
 *   creates (and configures) the filter, after the WebRtcEndpoint; without it there is none
 * @param {(webRtcEndpoint, filter, ctx, callback: (error) => void) => void} [hooks.connectMediaElements]
 *   instead of webRtcEndpoint → filter → webRtcEndpoint
 * @param {(ctx) => void} [hooks.beforeIceCandidateFound] right after connectMediaElements
 * @param {(ctx) => void} [hooks.afterIceCandidateFound] after the IceCandidateFound subscription,
 *   before processOffer
 * @param {(type: string, data) => object} [hooks.eventMessage] the page message for
 *   `callback(null, type, data)`
 * @param {Object<string, (sessionId: string, message: object) => void>} [hooks.messages] page
 *   messages besides start / stop / onIceCandidate, by id
 * @returns {{ path, onConnection, errors, sessions, close }} sessions: { [sessionId]: { pipeline,
 *   webRtcEndpoint, filter } }
 */
function createLoopbackFilterApp({ kurentoPkg, wsUri, path, turnUrl = null }, hooks = {}) {
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

  function start(ctx, sdpOffer, callback) {
    const { sessionId, ws } = ctx;
    if (!sessionId) return callback('Cannot use undefined sessionId');
    getKurentoClient((error, client) => {
      if (error) return callback(error);
      client.create('MediaPipeline', (error, pipeline) => {
        if (error) return callback(error);
        createMediaElements(pipeline, ctx, (error, webRtcEndpoint, filter) => {
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
          connectMediaElements(webRtcEndpoint, filter, ctx, (error) => {
            if (error) {
              pipeline.release();
              return callback(error);
            }
            const elements = { ...ctx, pipeline, webRtcEndpoint, filter, callback };
            if (hooks.beforeIceCandidateFound) hooks.beforeIceCandidateFound(elements);
            webRtcEndpoint.on('IceCandidateFound', (event) => {
              const candidate = kurento.getComplexType('IceCandidate')(event.candidate);
              send(ws, { id: 'iceCandidate', candidate });
            });
            if (hooks.afterIceCandidateFound) hooks.afterIceCandidateFound(elements);
            webRtcEndpoint.processOffer(sdpOffer, (error, sdpAnswer) => {
              if (error) {
                pipeline.release();
                return callback(error);
              }
              sessions[sessionId] = { pipeline, webRtcEndpoint, filter };
              return callback(null, 'sdpAnswer', sdpAnswer);
            });
            webRtcEndpoint.gatherCandidates((error) => {
              if (error) return callback(error);
            });
          });
        });
      });
    });
  }

  function createMediaElements(pipeline, ctx, callback) {
    pipeline.create('WebRtcEndpoint', (error, webRtcEndpoint) => {
      if (error) return callback(error);
      setTurnUrl(webRtcEndpoint, (error) => {
        if (error) return callback(error);
        if (!hooks.createFilter) return callback(null, webRtcEndpoint, null);
        hooks.createFilter(pipeline, ctx, (error, filter) => {
          if (error) return callback(error);
          return callback(null, webRtcEndpoint, filter);
        });
      });
    });
  }

  function setTurnUrl(webRtcEndpoint, callback) {
    if (!turnUrl) return callback(null);
    webRtcEndpoint.setTurnUrl(turnUrl, callback);
  }

  function connectMediaElements(webRtcEndpoint, filter, ctx, callback) {
    if (hooks.connectMediaElements) return hooks.connectMediaElements(webRtcEndpoint, filter, ctx, callback);
    if (!filter) return webRtcEndpoint.connect(webRtcEndpoint, callback);
    webRtcEndpoint.connect(filter, (error) => {
      if (error) return callback(error);
      filter.connect(webRtcEndpoint, (error) => {
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
    // The tutorials that give the media server a URL of their own (an image to fetch) build it
    // from their as_uri; ours is the web server the page came from (plain http on 127.0.0.1:<port>).
    const ctx = { sessionId, ws, appServerUrl: `http://${req.headers.host}` };
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
          start(ctx, message.sdpOffer, (error, type, data) => {
            if (error) {
              errors.push(String(error && error.message ? error.message : error));
              return send(ws, { id: 'error', message: String(error && error.message ? error.message : error) });
            }
            if (type === 'sdpAnswer') return send(ws, { id: 'startResponse', sdpAnswer: data });
            send(ws, hooks.eventMessage(type, data));
          });
          break;
        case 'stop':
          stop(sessionId);
          break;
        case 'onIceCandidate':
          onIceCandidate(sessionId, message.candidate);
          break;
        default:
          if (hooks.messages && Object.hasOwn(hooks.messages, message.id)) {
            hooks.messages[message.id](sessionId, message);
            break;
          }
          send(ws, { id: 'error', message: `Invalid message ${message.id}` });
      }
    });
  }

  return {
    path,
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

module.exports = { createLoopbackFilterApp };
