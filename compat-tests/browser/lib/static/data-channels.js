// Browser side of the data-channel test application: kurento-utils' WebRtcPeerSendrecv with
// dataChannels on (as the hello-world-data-channel tutorial page), the test calls
// window.startDataChannels(role) and window.sendData(text); received messages are recorded.
'use strict';

var ws = new WebSocket('ws://' + location.host + '/datachannels');
var webRtcPeer;

window.testState = {
  wsOpen: false,
  state: 'idle',
  errors: [],
  channelOpen: false,
  received: [],
  serverChannelIds: [],
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
  var m = JSON.parse(message.data);
  switch (m.id) {
    case 'startResponse':
      webRtcPeer.processAnswer(kmsTest.filterSdp(m.sdpAnswer), function (error) {
        if (error) return onError(error);
        window.testState.state = 'started';
      });
      break;
    case 'iceCandidate':
      if (!kmsTest.isLoopbackCandidate(m.candidate)) return;
      webRtcPeer.addIceCandidate(m.candidate, function (error) {
        if (error) onError('Error adding candidate: ' + error);
      });
      break;
    case 'dataChannelOpened':
      window.testState.serverChannelIds.push(m.channelId);
      break;
    case 'error':
      onError('Error message from server: ' + m.message);
      break;
  }
};

window.startDataChannels = function (role) {
  window.testState.state = 'starting';
  var options = {
    localVideo: document.getElementById('videoInput'),
    remoteVideo: document.getElementById('videoOutput'),
    configuration: kmsTest.rtcConfiguration(),
    dataChannels: true,
    dataChannelConfig: {
      id: role + '-channel',
      onopen: function () {
        window.testState.channelOpen = true;
      },
      onmessage: function (event) {
        var d = event.data;
        window.testState.received.push(typeof d === 'string' ? d : '[binary ' + d.byteLength + ']');
      },
      onerror: function (e) {
        onError('data channel error: ' + e);
      },
    },
    onicecandidate: function (candidate) {
      if (!kmsTest.isLoopbackCandidate(candidate)) return;
      ws.send(JSON.stringify({ id: 'onIceCandidate', candidate: candidate }));
    },
  };
  webRtcPeer = kurentoUtils.WebRtcPeer.WebRtcPeerSendrecv(options, function (error) {
    if (error) return onError(error);
    this.generateOffer(function (error, sdpOffer) {
      if (error) return onError(error);
      ws.send(JSON.stringify({ id: 'start', role: role, sdpOffer: sdpOffer }));
    });
  });
};

window.sendData = function (text) {
  webRtcPeer.send(text);
};
