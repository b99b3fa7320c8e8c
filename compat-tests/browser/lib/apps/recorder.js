'use strict';
// Application of kurento-tutorial-js/kurento-recorder (the "hello-world recording" tutorial), run on
// the Node side with the same kurento-client calls as the tutorial's index.js:
//   record: pipeline.create([RecorderEndpoint {uri, mediaProfile}, WebRtcEndpoint]) →
//           processOffer + gatherCandidates → webRtc.connect(webRtc), webRtc.connect(recorder) → record();
//           stop: recorder.stopAndWait() (the tutorial calls stop()) → pipeline.release()
//   play:   pipeline.create(WebRtcEndpoint) → processOffer + gatherCandidates →
//           pipeline.create(PlayerEndpoint {uri}) → player.connect(webRtc) → play();
//           EndOfStream → pipeline.release()
// The tutorial runs kurento-client in the page; here the page signals over the hello-world
// tutorial's messages (start / play → startResponse / playResponse, iceCandidate / onIceCandidate,
// stop), plus recording / stopped / playEnd so that the page knows what the server did. One
// WebSocket is one session; browser candidates are queued until the phase's endpoint exists.
// `recordings` and `playbacks` keep the timing of each phase for the test.
//
// One deviation: the tutorial's chained client.connect(webRtc, webRtc, recorder) is made as two
// connect() calls. In the published 6.18 and 7.3 clients a chain of three or more elements never
// sends its second connect and never calls back: MediaElement.connect([...]) makes each connect on
// the promise of the previous one (disguised as the element, but without its `id`). The server is
// not involved: it answered the first connect, and the second never reached it.

const kurentoLib = require('../kurento');

function createRecorderApp({ kurentoPkg, wsUri, fileUri, mediaProfile }) {
  const kurento = kurentoLib.load(kurentoPkg);
  let kurentoClient = null;
  let clientPromise = null;
  const sessions = {};
  const candidatesQueue = {};
  const errors = [];
  const recordings = [];
  const playbacks = [];
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

  function onError(ws, error) {
    const msg = String(error && error.message ? error.message : error);
    errors.push(msg);
    send(ws, { id: 'error', message: msg });
  }

  /** The tutorial's setIceCandidateCallbacks, with the page on the other end of the WebSocket. */
  function setIceCandidateCallbacks(sessionId, ws, webRtcEndpoint) {
    if (candidatesQueue[sessionId]) {
      while (candidatesQueue[sessionId].length) {
        webRtcEndpoint.addIceCandidate(candidatesQueue[sessionId].shift());
      }
    }
    webRtcEndpoint.on('IceCandidateFound', (event) => {
      const candidate = kurento.getComplexType('IceCandidate')(event.candidate);
      send(ws, { id: 'iceCandidate', candidate });
    });
  }

  function startRecording(sessionId, ws, sdpOffer) {
    getKurentoClient((error, client) => {
      if (error) return onError(ws, error);
      client.create('MediaPipeline', (error, pipeline) => {
        if (error) return onError(ws, error);
        const elements = [
          { type: 'RecorderEndpoint', params: { uri: fileUri, mediaProfile } },
          { type: 'WebRtcEndpoint', params: {} },
        ];
        pipeline.create(elements, (error, elements) => {
          if (error) {
            pipeline.release();
            return onError(ws, error);
          }
          const [recorder, webRtc] = elements;
          const recording = { uri: fileUri, mediaProfile, recordingAt: null, stopAt: null };
          recordings.push(recording);
          sessions[sessionId] = { pipeline, webRtcEndpoint: webRtc, recorder, recording };
          recorder.on('Recording', () => {
            if (recording.recordingAt) return;
            recording.recordingAt = Date.now();
            send(ws, { id: 'recording' });
          });
          recorder.on('Error', (e) => onError(ws, `RecorderEndpoint Error: ${JSON.stringify(e)}`));
          setIceCandidateCallbacks(sessionId, ws, webRtc);

          webRtc.processOffer(sdpOffer, (error, sdpAnswer) => {
            if (error) return onError(ws, error);
            webRtc.gatherCandidates((error) => {
              if (error) return onError(ws, error);
            });
            send(ws, { id: 'startResponse', sdpAnswer });
          });

          // The tutorial's client.connect(webRtc, webRtc, recorder), one connect at a time (see above).
          webRtc.connect(webRtc, (error) => {
            if (error) return onError(ws, error);
            webRtc.connect(recorder, (error) => {
              if (error) return onError(ws, error);
              recorder.record((error) => {
                if (error) return onError(ws, error);
              });
            });
          });
        });
      });
    });
  }

  function stopRecording(sessionId, ws) {
    const session = sessions[sessionId];
    if (!session || !session.recorder) return;
    const { pipeline, recorder, recording } = session;
    recording.stopAt = Date.now();
    recorder.stopAndWait((error) => {
      if (error) onError(ws, error);
      release(sessionId);
      pipeline.release((error) => {
        if (error) return onError(ws, error);
        send(ws, { id: 'stopped' });
      });
    });
  }

  function startPlaying(sessionId, ws, sdpOffer) {
    getKurentoClient((error, client) => {
      if (error) return onError(ws, error);
      client.create('MediaPipeline', (error, pipeline) => {
        if (error) return onError(ws, error);
        pipeline.create('WebRtcEndpoint', (error, webRtc) => {
          if (error) {
            pipeline.release();
            return onError(ws, error);
          }
          const playback = { uri: fileUri, playAt: null, endOfStreamAt: null };
          playbacks.push(playback);
          sessions[sessionId] = { pipeline, webRtcEndpoint: webRtc, playback };
          setIceCandidateCallbacks(sessionId, ws, webRtc);

          webRtc.processOffer(sdpOffer, (error, sdpAnswer) => {
            if (error) return onError(ws, error);
            webRtc.gatherCandidates((error) => {
              if (error) return onError(ws, error);
            });
            send(ws, { id: 'playResponse', sdpAnswer });
          });

          pipeline.create('PlayerEndpoint', { uri: fileUri }, (error, player) => {
            if (error) return onError(ws, error);
            player.on('EndOfStream', () => {
              playback.endOfStreamAt = Date.now();
              release(sessionId);
              pipeline.release();
              send(ws, { id: 'playEnd' });
            });
            player.on('Error', (e) => onError(ws, `PlayerEndpoint Error: ${JSON.stringify(e)}`));
            player.connect(webRtc, (error) => {
              if (error) return onError(ws, error);
              playback.playAt = Date.now();
              player.play((error) => {
                if (error) return onError(ws, error);
              });
            });
          });
        });
      });
    });
  }

  /** Forgets the session's pipeline (the caller releases it) and its queued candidates. */
  function release(sessionId) {
    delete sessions[sessionId];
    delete candidatesQueue[sessionId];
  }

  function stop(sessionId) {
    if (sessions[sessionId]) {
      const { pipeline } = sessions[sessionId];
      release(sessionId);
      pipeline.release();
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
          startRecording(sessionId, ws, message.sdpOffer);
          break;
        case 'stop':
          if (sessions[sessionId] && sessions[sessionId].recorder) stopRecording(sessionId, ws);
          else stop(sessionId);
          break;
        case 'play':
          startPlaying(sessionId, ws, message.sdpOffer);
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
    path: '/recorder',
    onConnection,
    errors,
    sessions,
    recordings,
    playbacks,
    async close() {
      for (const id of Object.keys(sessions)) stop(id);
      if (clientPromise) {
        const client = await clientPromise.catch(() => null);
        kurentoLib.close(client);
      }
    },
  };
}

module.exports = { createRecorderApp };
