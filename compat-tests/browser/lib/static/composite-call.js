// Browser side of a Kurento group call through a Composite, written like the tutorials' pages:
// join → WebRtcPeerSendrecv (local camera + the mix in the remote <video>) → generateOffer →
// {id:'join', sdpOffer} → joinResponse → processAnswer; ICE candidates both ways as
// onIceCandidate / iceCandidate; leave → {id:'leave'} and dispose.
// Additions for the test: only loopback candidates are signalled or applied, window.testState
// records what happened, window.testStats reads getStats(), the <video> and an AnalyserNode on the
// received audio, and window.testGrid reads the pixels of the mix through a canvas.
'use strict';

var ws = new WebSocket('ws://' + location.host + '/compositecall');
var videoInput;
var videoOutput;
var webRtcPeer;

window.testState = {
  wsOpen: false,
  state: 'idle',
  answerApplied: false,
  errors: [],
  rejections: [],
  sentCandidates: [],
  serverCandidates: [],
  droppedServerCandidates: [],
};

function onError(error) {
  var msg = error && error.message ? error.message : String(error);
  window.testState.errors.push(msg);
  console.error(msg);
}

ws.onopen = function () {
  window.testState.wsOpen = true;
};

ws.onmessage = function (message) {
  var parsedMessage = JSON.parse(message.data);
  console.info('Received message: ' + parsedMessage.id);

  switch (parsedMessage.id) {
    case 'joinResponse':
      joinResponse(parsedMessage);
      break;
    case 'iceCandidate':
      window.testState.serverCandidates.push(parsedMessage.candidate);
      if (!kmsTest.isLoopbackCandidate(parsedMessage.candidate)) {
        window.testState.droppedServerCandidates.push(parsedMessage.candidate);
        return;
      }
      if (!webRtcPeer) return;
      webRtcPeer.addIceCandidate(parsedMessage.candidate, function (error) {
        if (error) return onError('Error adding candidate: ' + error);
      });
      break;
    case 'error':
      onError('Error message from server: ' + parsedMessage.message);
      break;
    default:
      onError('Unrecognized message ' + parsedMessage.id);
  }
};

function join() {
  if (webRtcPeer || window.testState.state === 'joining') return;
  window.testState.state = 'joining';
  // Created in the click handler (a user gesture), so that it runs.
  startAudioProbe();
  var options = {
    localVideo: videoInput,
    remoteVideo: videoOutput,
    onicecandidate: onIceCandidate,
    configuration: kmsTest.rtcConfiguration(),
  };
  var create = function () {
    webRtcPeer = kurentoUtils.WebRtcPeer.WebRtcPeerSendrecv(options, function (error) {
      if (error) return onError(error);
      this.generateOffer(onOffer);
    });
  };
  // ?mark=r,g,b: send the fake camera with a band of that colour over its bottom quarter, so
  // that the test can tell whose camera is in which tile of the mix (all tabs share one fake
  // camera, so their pictures are otherwise identical).
  var mark = kmsTest.params.get('mark');
  if (!mark) return create();
  markedCamera(mark).then(function (stream) {
    options.videoStream = stream;
    create();
  }, onError);
}

var marked = null;

function markedCamera(rgb) {
  // The constraints kurento-utils asks for when it opens the camera itself.
  return navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, framerate: 15 } }).then(function (camera) {
    var cam = document.getElementById('camera');
    cam.srcObject = camera;
    return cam.play().then(function () {
      var canvas = document.createElement('canvas');
      canvas.width = 640;
      canvas.height = 480;
      var ctx = canvas.getContext('2d');
      var draw = function () {
        ctx.drawImage(cam, 0, 0, 640, 480);
        ctx.fillStyle = 'rgb(' + rgb + ')';
        ctx.fillRect(0, 360, 640, 120);
      };
      draw();
      var timer = setInterval(draw, 1000 / 15);
      var out = new MediaStream(canvas.captureStream(15).getVideoTracks().concat(camera.getAudioTracks()));
      marked = { camera: camera, out: out, timer: timer };
      return out;
    });
  });
}

function stopMarkedCamera() {
  if (!marked) return;
  clearInterval(marked.timer);
  marked.camera.getTracks().forEach(function (t) {
    t.stop();
  });
  marked.out.getTracks().forEach(function (t) {
    t.stop();
  });
  document.getElementById('camera').srcObject = null;
  marked = null;
}

function onOffer(error, offerSdp) {
  if (error) return onError(error);
  sendMessage({ id: 'join', sdpOffer: offerSdp });
}

function onIceCandidate(candidate) {
  if (!kmsTest.isLoopbackCandidate(candidate)) return;
  window.testState.sentCandidates.push(candidate.candidate);
  sendMessage({ id: 'onIceCandidate', candidate: candidate });
}

function joinResponse(message) {
  if (message.response != 'accepted') {
    window.testState.rejections.push(message.message || message.response);
    console.warn('Join not accepted for the following reason: ' + message.message);
    dispose();
    return;
  }
  webRtcPeer.processAnswer(kmsTest.filterSdp(message.sdpAnswer), function (error) {
    if (error) return onError(error);
    window.testState.answerApplied = true;
    window.testState.state = 'joined';
    attachAudioProbe();
  });
}

function leave() {
  if (webRtcPeer) {
    sendMessage({ id: 'leave' });
    dispose();
  }
  window.testState.state = 'left';
}

function dispose() {
  window.testState.answerApplied = false;
  if (webRtcPeer) {
    webRtcPeer.dispose();
    webRtcPeer = null;
  }
  stopMarkedCamera();
  stopAudioProbe();
}

function sendMessage(message) {
  ws.send(JSON.stringify(message));
}

// ---- audio probe (test only) -----------------------------------------------------------------
// An AnalyserNode on the received audio track. Chromium's fake microphone beeps (a short tone
// about twice a second), so the mix of the others' microphones has loud windows now and then.
// Polled often with a window longer than the poll interval, so that no beep falls between.

var audio = { ctx: null, analyser: null, source: null, timer: null, buf: null, windows: 0, loudWindows: 0, maxRms: 0 };
var LOUD_RMS = 0.01;

function startAudioProbe() {
  if (!audio.ctx) audio.ctx = new AudioContext();
  if (audio.ctx.state === 'suspended') audio.ctx.resume();
}

function attachAudioProbe() {
  var pc = webRtcPeer && webRtcPeer.peerConnection;
  if (!pc || !audio.ctx || audio.source) return;
  var track = null;
  pc.getReceivers().forEach(function (r) {
    if (r.track && r.track.kind === 'audio') track = r.track;
  });
  if (!track) return onError('no remote audio track to analyse');
  audio.source = audio.ctx.createMediaStreamSource(new MediaStream([track]));
  audio.analyser = audio.ctx.createAnalyser();
  audio.analyser.fftSize = 4096;
  audio.buf = new Float32Array(audio.analyser.fftSize);
  audio.source.connect(audio.analyser);
  audio.timer = setInterval(function () {
    audio.analyser.getFloatTimeDomainData(audio.buf);
    var sum = 0;
    for (var i = 0; i < audio.buf.length; i++) sum += audio.buf[i] * audio.buf[i];
    var rms = Math.sqrt(sum / audio.buf.length);
    audio.windows++;
    if (rms > LOUD_RMS) audio.loudWindows++;
    if (rms > audio.maxRms) audio.maxRms = rms;
  }, 40);
}

function stopAudioProbe() {
  if (audio.timer) clearInterval(audio.timer);
  if (audio.source) audio.source.disconnect();
  audio.timer = null;
  audio.source = null;
  audio.analyser = null;
}

// ---- statistics (polled by the test) ---------------------------------------------------------

async function mixStats(pc) {
  var out = {
    framesDecoded: 0,
    frameWidth: 0,
    frameHeight: 0,
    videoPacketsReceived: 0,
    videoCodec: null,
    audioPacketsReceived: 0,
    audioBytesReceived: 0,
    totalAudioEnergy: 0,
    totalSamplesReceived: 0,
    audioLevel: 0,
    audioCodec: null,
    videoPacketsSent: 0,
    audioPacketsSent: 0,
  };
  var report = await pc.getStats();
  var byId = {};
  report.forEach(function (s) {
    byId[s.id] = s;
  });
  report.forEach(function (s) {
    var codec = s.codecId && byId[s.codecId] ? byId[s.codecId].mimeType : null;
    if (s.type === 'inbound-rtp' && s.kind === 'video') {
      out.framesDecoded += s.framesDecoded || 0;
      out.frameWidth = Math.max(out.frameWidth, s.frameWidth || 0);
      out.frameHeight = Math.max(out.frameHeight, s.frameHeight || 0);
      out.videoPacketsReceived += s.packetsReceived || 0;
      out.videoCodec = codec;
    } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      out.audioPacketsReceived += s.packetsReceived || 0;
      out.audioBytesReceived += s.bytesReceived || 0;
      out.totalAudioEnergy += s.totalAudioEnergy || 0;
      out.totalSamplesReceived += s.totalSamplesReceived || 0;
      out.audioLevel = Math.max(out.audioLevel, s.audioLevel || 0);
      out.audioCodec = codec;
    } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
      out.videoPacketsSent += s.packetsSent || 0;
    } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
      out.audioPacketsSent += s.packetsSent || 0;
    }
  });
  return out;
}

window.testStats = async function () {
  if (!webRtcPeer) return null;
  var q = videoOutput.getVideoPlaybackQuality ? videoOutput.getVideoPlaybackQuality() : null;
  return {
    // The fields expectMediaFlowing / expectStillDecoding read, plus the audio ones.
    stats: await mixStats(webRtcPeer.peerConnection),
    remoteVideo: kmsTest.videoElementInfo(videoOutput),
    playback: q ? { totalVideoFrames: q.totalVideoFrames, droppedVideoFrames: q.droppedVideoFrames } : null,
    analyser: {
      contextState: audio.ctx ? audio.ctx.state : null,
      attached: !!audio.source,
      windows: audio.windows,
      loudWindows: audio.loudWindows,
      maxRms: audio.maxRms,
    },
    connectionState: webRtcPeer.peerConnection.connectionState,
  };
};

// ---- pixel probe of the mix (test only) ------------------------------------------------------

// The current frame of the remote <video> in a 640×480 canvas (the Composite's output size), and
// for each rect {x0, y0, x1, y1}: how much of it is the fake camera's green, how much is black,
// its mean colour, and a coarse signature (mean green of 8×6 blocks) the test compares across calls to see the
// camera's pattern move.
window.testGrid = function (rects) {
  var W = 640;
  var H = 480;
  if (!videoOutput || videoOutput.readyState < 2 || !videoOutput.videoWidth) return null;
  var canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  var ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(videoOutput, 0, 0, W, H);
  var d = ctx.getImageData(0, 0, W, H).data;
  return rects.map(function (r) {
    var pixels = 0;
    var rgb = [0, 0, 0];
    var green = 0;
    var black = 0;
    var BX = 8;
    var BY = 6;
    var sums = new Array(BX * BY).fill(0);
    var counts = new Array(BX * BY).fill(0);
    for (var y = r.y0; y < r.y1; y++) {
      for (var x = r.x0; x < r.x1; x++) {
        var i = (y * W + x) * 4;
        var R = d[i];
        var G = d[i + 1];
        var B = d[i + 2];
        pixels++;
        rgb[0] += R;
        rgb[1] += G;
        rgb[2] += B;
        if (G > 80 && G > R + 40 && G > B + 40) green++;
        if (R < 35 && G < 35 && B < 35) black++;
        var bx = Math.min(BX - 1, Math.floor(((x - r.x0) * BX) / (r.x1 - r.x0)));
        var by = Math.min(BY - 1, Math.floor(((y - r.y0) * BY) / (r.y1 - r.y0)));
        sums[by * BX + bx] += G;
        counts[by * BX + bx]++;
      }
    }
    return {
      rect: r,
      pixels: pixels,
      green: pixels ? green / pixels : 0,
      black: pixels ? black / pixels : 0,
      mean: rgb.map(function (v) {
        return pixels ? Math.round(v / pixels) : 0;
      }),
      signature: sums.map(function (s, k) {
        return counts[k] ? Math.round(s / counts[k]) : 0;
      }),
    };
  });
};

// A PNG (data: URL) of the current frame of the mix, at the video's own resolution.
window.testSnapshot = function () {
  if (!videoOutput || !videoOutput.videoWidth) return null;
  var canvas = document.createElement('canvas');
  canvas.width = videoOutput.videoWidth;
  canvas.height = videoOutput.videoHeight;
  canvas.getContext('2d').drawImage(videoOutput, 0, 0);
  return canvas.toDataURL('image/png');
};

window.addEventListener('load', function () {
  videoInput = document.getElementById('videoInput');
  videoOutput = document.getElementById('videoOutput');
  document.getElementById('join').addEventListener('click', join);
  document.getElementById('leave').addEventListener('click', leave);
});
