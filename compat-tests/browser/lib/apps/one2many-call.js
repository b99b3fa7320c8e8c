'use strict';
// Application server of kurento-tutorial-node/kurento-one2many-call, written again with the
// tutorial's structure: one presenter (MediaPipeline + sendonly WebRtcEndpoint), any number of
// viewers (a recvonly WebRtcEndpoint each, fed by presenter.webRtcEndpoint.connect(viewer)); a
// viewer's stop releases only its endpoint; the presenter's stop sends stopCommunication to every
// viewer, releases the pipeline, and closes the kurento client as the tutorial does.

const kurentoLib = require('../kurento');

const noPresenterMessage = 'No active presenter. Try again later...';

function createOne2ManyApp({ kurentoPkg, wsUri }) {
  const kurento = kurentoLib.load(kurentoPkg);
  let kurentoClient = null;
  let clientPromise = null;
  const clients = [];
  let idCounter = 0;
  const candidatesQueue = {};
  let presenter = null;
  let viewers = [];
  const errors = [];

  function nextUniqueId() {
    idCounter++;
    return idCounter.toString();
  }

  function send(ws, message) {
    if (ws && ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  }

  function getKurentoClient(callback) {
    if (kurentoClient !== null) return callback(null, kurentoClient);
    if (!clientPromise) {
      clientPromise = kurentoLib.connect(kurentoPkg, wsUri);
      clients.push(clientPromise);
    }
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

  function sendIceCandidates(webRtcEndpoint, ws) {
    webRtcEndpoint.on('IceCandidateFound', (event) => {
      const candidate = kurento.getComplexType('IceCandidate')(event.candidate);
      send(ws, { id: 'iceCandidate', candidate });
    });
  }

  function startPresenter(sessionId, ws, sdpOffer, callback) {
    clearCandidatesQueue(sessionId);
    if (presenter !== null) {
      stop(sessionId);
      return callback('Another user is currently acting as presenter. Try again later ...');
    }
    presenter = { id: sessionId, pipeline: null, webRtcEndpoint: null };
    getKurentoClient((error, client) => {
      if (error) {
        stop(sessionId);
        return callback(error);
      }
      if (presenter === null) {
        stop(sessionId);
        return callback(noPresenterMessage);
      }
      client.create('MediaPipeline', (error, pipeline) => {
        if (error) {
          stop(sessionId);
          return callback(error);
        }
        if (presenter === null) {
          stop(sessionId);
          return callback(noPresenterMessage);
        }
        presenter.pipeline = pipeline;
        pipeline.create('WebRtcEndpoint', (error, webRtcEndpoint) => {
          if (error) {
            stop(sessionId);
            return callback(error);
          }
          if (presenter === null) {
            stop(sessionId);
            return callback(noPresenterMessage);
          }
          presenter.webRtcEndpoint = webRtcEndpoint;
          if (candidatesQueue[sessionId]) {
            while (candidatesQueue[sessionId].length) {
              webRtcEndpoint.addIceCandidate(candidatesQueue[sessionId].shift());
            }
          }
          sendIceCandidates(webRtcEndpoint, ws);
          webRtcEndpoint.processOffer(sdpOffer, (error, sdpAnswer) => {
            if (error) {
              stop(sessionId);
              return callback(error);
            }
            if (presenter === null) {
              stop(sessionId);
              return callback(noPresenterMessage);
            }
            callback(null, sdpAnswer);
          });
          webRtcEndpoint.gatherCandidates((error) => {
            if (error) {
              stop(sessionId);
              return callback(error);
            }
          });
        });
      });
    });
  }

  function startViewer(sessionId, ws, sdpOffer, callback) {
    clearCandidatesQueue(sessionId);
    if (presenter === null) {
      stop(sessionId);
      return callback(noPresenterMessage);
    }
    presenter.pipeline.create('WebRtcEndpoint', (error, webRtcEndpoint) => {
      if (error) {
        stop(sessionId);
        return callback(error);
      }
      viewers[sessionId] = { webRtcEndpoint, ws };
      if (presenter === null) {
        stop(sessionId);
        return callback(noPresenterMessage);
      }
      if (candidatesQueue[sessionId]) {
        while (candidatesQueue[sessionId].length) {
          webRtcEndpoint.addIceCandidate(candidatesQueue[sessionId].shift());
        }
      }
      sendIceCandidates(webRtcEndpoint, ws);
      webRtcEndpoint.processOffer(sdpOffer, (error, sdpAnswer) => {
        if (error) {
          stop(sessionId);
          return callback(error);
        }
        if (presenter === null) {
          stop(sessionId);
          return callback(noPresenterMessage);
        }
        presenter.webRtcEndpoint.connect(webRtcEndpoint, (error) => {
          if (error) {
            stop(sessionId);
            return callback(error);
          }
          if (presenter === null) {
            stop(sessionId);
            return callback(noPresenterMessage);
          }
          callback(null, sdpAnswer);
          webRtcEndpoint.gatherCandidates((error) => {
            if (error) {
              stop(sessionId);
              return callback(error);
            }
          });
        });
      });
    });
  }

  function clearCandidatesQueue(sessionId) {
    delete candidatesQueue[sessionId];
  }

  function onIceCandidate(sessionId, _candidate) {
    const candidate = kurento.getComplexType('IceCandidate')(_candidate);
    if (presenter && presenter.id === sessionId && presenter.webRtcEndpoint) {
      presenter.webRtcEndpoint.addIceCandidate(candidate);
    } else if (viewers[sessionId] && viewers[sessionId].webRtcEndpoint) {
      viewers[sessionId].webRtcEndpoint.addIceCandidate(candidate);
    } else {
      if (!candidatesQueue[sessionId]) candidatesQueue[sessionId] = [];
      candidatesQueue[sessionId].push(candidate);
    }
  }

  function stop(sessionId) {
    if (presenter !== null && presenter.id === sessionId) {
      for (const i in viewers) {
        send(viewers[i].ws, { id: 'stopCommunication' });
      }
      if (presenter.pipeline) presenter.pipeline.release();
      presenter = null;
      viewers = [];
    } else if (viewers[sessionId]) {
      viewers[sessionId].webRtcEndpoint.release();
      delete viewers[sessionId];
    }
    clearCandidatesQueue(sessionId);
    // As in the tutorial: `viewers` is an array used as a map, so its length stays 0 and the client
    // is closed whenever there is no presenter left.
    if (viewers.length < 1 && !presenter && kurentoClient) {
      kurentoClient.close();
      kurentoClient = null;
      clientPromise = null;
    }
  }

  function onConnection(ws) {
    const sessionId = nextUniqueId();
    ws.on('error', () => stop(sessionId));
    ws.on('close', () => stop(sessionId));
    ws.on('message', (data) => {
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        return send(ws, { id: 'error', message: `Invalid message ${data}` });
      }
      const reply = (id) => (error, sdpAnswer) => {
        if (error) {
          const msg = error && error.message ? error.message : String(error);
          errors.push(msg);
          return send(ws, { id, response: 'rejected', message: msg });
        }
        send(ws, { id, response: 'accepted', sdpAnswer });
      };
      switch (message.id) {
        case 'presenter':
          startPresenter(sessionId, ws, message.sdpOffer, reply('presenterResponse'));
          break;
        case 'viewer':
          startViewer(sessionId, ws, message.sdpOffer, reply('viewerResponse'));
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
    path: '/one2many',
    onConnection,
    errors,
    /** The presenter ({ id, pipeline, webRtcEndpoint }) or null; tests reach its endpoint here. */
    get presenter() {
      return presenter;
    },
    async close() {
      if (presenter) stop(presenter.id);
      for (const p of clients) kurentoLib.close(await p.catch(() => null));
    },
  };
}

module.exports = { createOne2ManyApp };
