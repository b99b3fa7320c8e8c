'use strict';
// Application server of a group call through a Composite, written the way Kurento's group-call
// applications use one: a room is one MediaPipeline with one Composite; every participant gets a
// WebRtcEndpoint and a HubPort (composite.createHubPort()), connected both ways
// (webRtcEndpoint.connect(hubPort), hubPort.connect(webRtcEndpoint)), so that each one sends its
// camera and microphone into the mix and receives the mix: the grid of every camera, and the
// others' microphones. Signalling as in the tutorials: join {sdpOffer} → joinResponse {sdpAnswer},
// onIceCandidate / iceCandidate, leave. A participant's leave releases its endpoint and its port;
// when the last one has left, the room's pipeline is released.
//
// kurento-client quirk: a HubPort is used as the object createHubPort returns. Awaited (it is a
// thenable), it would resolve to a copy that is not a MediaObject.

const kurentoLib = require('../kurento');

function createCompositeCallApp({ kurentoPkg, wsUri }) {
  const kurento = kurentoLib.load(kurentoPkg);
  let clientPromise = null;
  let room = null; // { pipeline, composite }
  let roomWaiters = null; // callbacks waiting for the room being created
  const participants = {}; // sessionId → { ws, webRtcEndpoint, hubPort }
  const joining = new Set(); // sessionIds between join and their endpoint + port
  const candidatesQueue = {};
  const errors = [];
  let nextSessionId = 0;

  function send(ws, message) {
    if (ws && ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
  }

  function getKurentoClient(callback) {
    if (!clientPromise) clientPromise = kurentoLib.connect(kurentoPkg, wsUri);
    clientPromise.then(
      (client) => callback(null, client),
      (error) => {
        clientPromise = null;
        callback(`Could not find media server at address ${wsUri}. Exiting with error ${error}`);
      },
    );
  }

  /** The room (pipeline + composite), created on the first join; later joins wait for it. */
  function getRoom(callback) {
    if (room) return callback(null, room);
    if (roomWaiters) return roomWaiters.push(callback);
    roomWaiters = [callback];
    const done = (error, r) => {
      const waiters = roomWaiters;
      roomWaiters = null;
      room = r || null;
      for (const cb of waiters) cb(error, r);
    };
    getKurentoClient((error, client) => {
      if (error) return done(error);
      client.create('MediaPipeline', (error, pipeline) => {
        if (error) return done(error);
        pipeline.create('Composite', (error, composite) => {
          if (error) {
            pipeline.release();
            return done(error);
          }
          done(null, { pipeline, composite });
        });
      });
    });
  }

  function join(sessionId, ws, sdpOffer, callback) {
    if (participants[sessionId] || joining.has(sessionId)) return callback('already joined');
    joining.add(sessionId);
    const fail = (error) => {
      leave(sessionId);
      callback(error);
    };
    getRoom((error, r) => {
      if (error) return fail(error);
      if (!joining.has(sessionId)) return callback('left while joining');
      r.pipeline.create('WebRtcEndpoint', (error, webRtcEndpoint) => {
        if (error) return fail(error);
        if (!joining.has(sessionId)) {
          webRtcEndpoint.release();
          return callback('left while joining');
        }
        const hubPort = r.composite.createHubPort((error) => {
          if (error) {
            webRtcEndpoint.release();
            return fail(error);
          }
          joining.delete(sessionId);
          participants[sessionId] = { ws, webRtcEndpoint, hubPort };
          if (candidatesQueue[sessionId]) {
            while (candidatesQueue[sessionId].length) {
              webRtcEndpoint.addIceCandidate(candidatesQueue[sessionId].shift());
            }
          }
          webRtcEndpoint.on('IceCandidateFound', (event) => {
            const candidate = kurento.getComplexType('IceCandidate')(event.candidate);
            send(ws, { id: 'iceCandidate', candidate });
          });
          webRtcEndpoint.connect(hubPort, (error) => {
            if (error) return fail(error);
            hubPort.connect(webRtcEndpoint, (error) => {
              if (error) return fail(error);
              webRtcEndpoint.processOffer(sdpOffer, (error, sdpAnswer) => {
                if (error) return fail(error);
                callback(null, sdpAnswer);
              });
              webRtcEndpoint.gatherCandidates((error) => {
                if (error) return fail(error);
              });
            });
          });
        });
      });
    });
  }

  function leave(sessionId) {
    joining.delete(sessionId);
    delete candidatesQueue[sessionId];
    const p = participants[sessionId];
    if (p) {
      delete participants[sessionId];
      p.hubPort.release();
      p.webRtcEndpoint.release();
    }
    if (room && Object.keys(participants).length === 0 && joining.size === 0) {
      room.pipeline.release();
      room = null;
    }
  }

  function onIceCandidate(sessionId, _candidate) {
    const candidate = kurento.getComplexType('IceCandidate')(_candidate);
    if (participants[sessionId]) {
      participants[sessionId].webRtcEndpoint.addIceCandidate(candidate);
    } else {
      if (!candidatesQueue[sessionId]) candidatesQueue[sessionId] = [];
      candidatesQueue[sessionId].push(candidate);
    }
  }

  function onConnection(ws) {
    const sessionId = `p${++nextSessionId}`;
    ws.on('error', () => leave(sessionId));
    ws.on('close', () => leave(sessionId));
    ws.on('message', (data) => {
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        return send(ws, { id: 'error', message: `Invalid message ${data}` });
      }
      switch (message.id) {
        case 'join':
          join(sessionId, ws, message.sdpOffer, (error, sdpAnswer) => {
            if (error) {
              const msg = error && error.message ? error.message : String(error);
              errors.push(`${sessionId}: ${msg}`);
              return send(ws, { id: 'joinResponse', response: 'rejected', message: msg });
            }
            send(ws, { id: 'joinResponse', response: 'accepted', sdpAnswer });
          });
          break;
        case 'leave':
          leave(sessionId);
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
    path: '/compositecall',
    onConnection,
    errors,
    /** The room ({ pipeline, composite }) or null. */
    get room() {
      return room;
    },
    /** Session ids of the participants with an endpoint and a port. */
    participantIds: () => Object.keys(participants),
    async close() {
      for (const id of Object.keys(participants)) leave(id);
      if (room) {
        room.pipeline.release();
        room = null;
      }
      if (clientPromise) kurentoLib.close(await clientPromise.catch(() => null));
    },
  };
}

module.exports = { createCompositeCallApp };
