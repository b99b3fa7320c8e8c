// Self-check of the browser plumbing without a media server: two kurentoUtils.WebRtcPeerSendrecv
// peers in one page call each other (A offers, B answers), with the same loopback-only candidate
// filter and ICE configuration the tutorial pages use.
'use strict';

window.testState = { state: 'idle', errors: [], sent: { A: [], B: [] }, dropped: { A: [], B: [] } };
var peers = {};

function onError(error) {
  var msg = error && error.message ? error.message : String(error);
  window.testState.errors.push(msg);
  console.error(msg);
}

function makePeer(name, other, callback) {
  var options = {
    localVideo: document.getElementById('local' + name),
    remoteVideo: document.getElementById('remote' + name),
    configuration: kmsTest.rtcConfiguration(),
    onicecandidate: function (candidate) {
      if (!kmsTest.isLoopbackCandidate(candidate)) {
        window.testState.dropped[name].push(candidate.candidate);
        return;
      }
      window.testState.sent[name].push(candidate.candidate);
      peers[other].addIceCandidate(candidate, function (error) {
        if (error) onError('addIceCandidate on ' + other + ': ' + error);
      });
    },
  };
  peers[name] = kurentoUtils.WebRtcPeer.WebRtcPeerSendrecv(options, callback);
}

window.startHarness = function () {
  window.testState.state = 'starting';
  makePeer('B', 'A', function (error) {
    if (error) return onError(error);
    makePeer('A', 'B', function (error) {
      if (error) return onError(error);
      this.generateOffer(function (error, sdpOffer) {
        if (error) return onError(error);
        peers.B.processOffer(kmsTest.filterSdp(sdpOffer), function (error, sdpAnswer) {
          if (error) return onError(error);
          peers.A.processAnswer(kmsTest.filterSdp(sdpAnswer), function (error) {
            if (error) return onError(error);
            window.testState.state = 'started';
          });
        });
      });
    });
  });
};

window.stopHarness = function () {
  ['A', 'B'].forEach(function (n) {
    if (peers[n]) peers[n].dispose();
  });
  window.testState.state = 'stopped';
};

window.testStats = async function (name) {
  var peer = peers[name];
  if (!peer) return null;
  return {
    stats: await kmsTest.summarizeStats(peer.peerConnection),
    remoteVideo: kmsTest.videoElementInfo(document.getElementById('remote' + name)),
    localVideo: kmsTest.videoElementInfo(document.getElementById('local' + name)),
  };
};
