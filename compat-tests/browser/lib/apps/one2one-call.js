'use strict';
// Application server of kurento-tutorial-node/kurento-one2one-call, written again with the
// tutorial's structure: UserSession / UserRegistry, CallMediaPipeline (one MediaPipeline, two
// WebRtcEndpoints connected both ways), register → call → incomingCall → incomingCallResponse →
// callResponse + startCommunication, stop → stopCommunication to the peer, candidates queued per
// user until that user's endpoint exists. No express; one WebSocket = one session.

const kurentoLib = require('../kurento');

function createOne2OneApp({ kurentoPkg, wsUri }) {
  const kurento = kurentoLib.load(kurentoPkg);
  let kurentoClient = null;
  let clientPromise = null;
  const candidatesQueue = {};
  const pipelines = {};
  const errors = [];
  let idCounter = 0;

  function nextUniqueId() {
    idCounter++;
    return idCounter.toString();
  }

  function recordError(error) {
    const msg = error && error.message ? error.message : String(error);
    errors.push(msg);
    return msg;
  }

  class UserSession {
    constructor(id, name, ws) {
      this.id = id;
      this.name = name;
      this.ws = ws;
      this.peer = null;
      this.sdpOffer = null;
    }

    sendMessage(message) {
      if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
    }
  }

  class UserRegistry {
    constructor() {
      this.usersById = {};
      this.usersByName = {};
    }

    register(user) {
      this.usersById[user.id] = user;
      this.usersByName[user.name] = user;
    }

    unregister(id) {
      const user = this.getById(id);
      if (user) delete this.usersById[id];
      if (user && this.getByName(user.name)) delete this.usersByName[user.name];
    }

    getById(id) {
      return this.usersById[id];
    }

    getByName(name) {
      return this.usersByName[name];
    }
  }

  const userRegistry = new UserRegistry();

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

  function sendIceCandidates(webRtcEndpoint, userId) {
    webRtcEndpoint.on('IceCandidateFound', (event) => {
      const candidate = kurento.getComplexType('IceCandidate')(event.candidate);
      const user = userRegistry.getById(userId);
      if (user) user.sendMessage({ id: 'iceCandidate', candidate });
    });
  }

  function drainCandidates(webRtcEndpoint, userId) {
    if (candidatesQueue[userId]) {
      while (candidatesQueue[userId].length) {
        webRtcEndpoint.addIceCandidate(candidatesQueue[userId].shift());
      }
    }
  }

  class CallMediaPipeline {
    constructor() {
      this.pipeline = null;
      this.webRtcEndpoint = {};
    }

    createPipeline(callerId, calleeId, callback) {
      getKurentoClient((error, client) => {
        if (error) return callback(error);
        client.create('MediaPipeline', (error, pipeline) => {
          if (error) return callback(error);
          pipeline.create('WebRtcEndpoint', (error, callerWebRtcEndpoint) => {
            if (error) {
              pipeline.release();
              return callback(error);
            }
            drainCandidates(callerWebRtcEndpoint, callerId);
            sendIceCandidates(callerWebRtcEndpoint, callerId);
            pipeline.create('WebRtcEndpoint', (error, calleeWebRtcEndpoint) => {
              if (error) {
                pipeline.release();
                return callback(error);
              }
              drainCandidates(calleeWebRtcEndpoint, calleeId);
              sendIceCandidates(calleeWebRtcEndpoint, calleeId);
              callerWebRtcEndpoint.connect(calleeWebRtcEndpoint, (error) => {
                if (error) {
                  pipeline.release();
                  return callback(error);
                }
                // As in the tutorial, the second connect is not awaited: the offers are processed
                // while it may still be in flight.
                calleeWebRtcEndpoint.connect(callerWebRtcEndpoint, (error) => {
                  if (error) {
                    pipeline.release();
                    return callback(error);
                  }
                });
                this.pipeline = pipeline;
                this.webRtcEndpoint[callerId] = callerWebRtcEndpoint;
                this.webRtcEndpoint[calleeId] = calleeWebRtcEndpoint;
                callback(null);
              });
            });
          });
        });
      });
    }

    generateSdpAnswer(id, sdpOffer, callback) {
      this.webRtcEndpoint[id].processOffer(sdpOffer, callback);
      this.webRtcEndpoint[id].gatherCandidates((error) => {
        if (error) return callback(error);
      });
    }

    release() {
      if (this.pipeline) this.pipeline.release();
      this.pipeline = null;
    }
  }

  function clearCandidatesQueue(sessionId) {
    delete candidatesQueue[sessionId];
  }

  function stop(sessionId) {
    if (!pipelines[sessionId]) return;
    const pipeline = pipelines[sessionId];
    delete pipelines[sessionId];
    pipeline.release();
    const stopperUser = userRegistry.getById(sessionId);
    const stoppedUser = stopperUser && userRegistry.getByName(stopperUser.peer);
    if (stopperUser) stopperUser.peer = null;
    if (stoppedUser) {
      stoppedUser.peer = null;
      delete pipelines[stoppedUser.id];
      stoppedUser.sendMessage({ id: 'stopCommunication', message: 'remote user hanged out' });
    }
    clearCandidatesQueue(sessionId);
  }

  function incomingCallResponse(calleeId, from, callResponse, calleeSdp) {
    clearCandidatesQueue(calleeId);
    const callee = userRegistry.getById(calleeId);
    const caller = from ? userRegistry.getByName(from) : null;
    let pipeline = null;

    function onError(callerReason, calleeReason) {
      if (pipeline) pipeline.release();
      if (caller) {
        caller.sendMessage({ id: 'callResponse', response: 'rejected', message: recordError(callerReason) });
      }
      if (callee) {
        callee.sendMessage({ id: 'stopCommunication', message: recordError(calleeReason) });
      }
    }

    if (!caller) return onError(null, `unknown from = ${from}`);
    if (callResponse === 'accept') {
      pipeline = new CallMediaPipeline();
      pipelines[caller.id] = pipeline;
      pipelines[callee.id] = pipeline;
      pipeline.createPipeline(caller.id, callee.id, (error) => {
        if (error) return onError(error, error);
        pipeline.generateSdpAnswer(caller.id, caller.sdpOffer, (error, callerSdpAnswer) => {
          if (error) return onError(error, error);
          pipeline.generateSdpAnswer(callee.id, calleeSdp, (error, calleeSdpAnswer) => {
            if (error) return onError(error, error);
            callee.sendMessage({ id: 'startCommunication', sdpAnswer: calleeSdpAnswer });
            caller.sendMessage({ id: 'callResponse', response: 'accepted', sdpAnswer: callerSdpAnswer });
          });
        });
      });
    } else {
      caller.sendMessage({ id: 'callResponse', response: 'rejected', message: 'user declined' });
    }
  }

  function call(callerId, to, from, sdpOffer) {
    clearCandidatesQueue(callerId);
    const caller = userRegistry.getById(callerId);
    let rejectCause = `User ${to} is not registered`;
    const callee = userRegistry.getByName(to);
    if (caller && callee) {
      caller.sdpOffer = sdpOffer;
      callee.peer = from;
      caller.peer = to;
      try {
        return callee.sendMessage({ id: 'incomingCall', from });
      } catch (exception) {
        rejectCause = `Error ${exception}`;
      }
    }
    if (caller) caller.sendMessage({ id: 'callResponse', response: 'rejected: ', message: rejectCause });
  }

  function register(id, name, ws) {
    const onError = (error) => ws.send(JSON.stringify({ id: 'registerResponse', response: 'rejected ', message: error }));
    if (!name) return onError('empty user name');
    if (userRegistry.getByName(name)) return onError(`User ${name} is already registered`);
    userRegistry.register(new UserSession(id, name, ws));
    ws.send(JSON.stringify({ id: 'registerResponse', response: 'accepted' }));
  }

  function onIceCandidate(sessionId, _candidate) {
    const candidate = kurento.getComplexType('IceCandidate')(_candidate);
    const user = userRegistry.getById(sessionId);
    if (!user) return;
    const p = pipelines[user.id];
    if (p && p.webRtcEndpoint && p.webRtcEndpoint[user.id]) {
      p.webRtcEndpoint[user.id].addIceCandidate(candidate);
    } else {
      if (!candidatesQueue[user.id]) candidatesQueue[user.id] = [];
      candidatesQueue[sessionId].push(candidate);
    }
  }

  function onConnection(ws) {
    const sessionId = nextUniqueId();
    const gone = () => {
      stop(sessionId);
      userRegistry.unregister(sessionId);
    };
    ws.on('error', gone);
    ws.on('close', gone);
    ws.on('message', (data) => {
      let message;
      try {
        message = JSON.parse(data);
      } catch {
        return ws.send(JSON.stringify({ id: 'error', message: `Invalid message ${data}` }));
      }
      switch (message.id) {
        case 'register':
          register(sessionId, message.name, ws);
          break;
        case 'call':
          call(sessionId, message.to, message.from, message.sdpOffer);
          break;
        case 'incomingCallResponse':
          incomingCallResponse(sessionId, message.from, message.callResponse, message.sdpOffer);
          break;
        case 'stop':
          stop(sessionId);
          break;
        case 'onIceCandidate':
          onIceCandidate(sessionId, message.candidate);
          break;
        default:
          ws.send(JSON.stringify({ id: 'error', message: `Invalid message ${message.id}` }));
      }
    });
  }

  return {
    path: '/one2one',
    onConnection,
    errors,
    async close() {
      for (const id of Object.keys(pipelines)) stop(id);
      if (clientPromise) kurentoLib.close(await clientPromise.catch(() => null));
    },
  };
}

module.exports = { createOne2OneApp };
