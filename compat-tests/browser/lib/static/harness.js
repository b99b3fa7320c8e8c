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

function makePeer(name, other, kind, callback) {
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
  peers[name] = kurentoUtils.WebRtcPeer[kind](options, callback);
}

// mode 'sendrecv': A and B are WebRtcPeerSendrecv, A offers (hello-world / one2one shape).
// mode 'oneway': B is a WebRtcPeerRecvonly viewer that offers, A a WebRtcPeerSendonly presenter
// that answers (the one2many shape, where the server plays A).
window.startHarness = function (mode) {
  var oneway = mode === 'oneway';
  var offerer = oneway ? 'B' : 'A';
  var answerer = oneway ? 'A' : 'B';
  var kinds = oneway
    ? { A: 'WebRtcPeerSendonly', B: 'WebRtcPeerRecvonly' }
    : { A: 'WebRtcPeerSendrecv', B: 'WebRtcPeerSendrecv' };
  window.testState.state = 'starting';
  makePeer(answerer, offerer, kinds[answerer], function (error) {
    if (error) return onError(error);
    makePeer(offerer, answerer, kinds[offerer], function (error) {
      if (error) return onError(error);
      this.generateOffer(function (error, sdpOffer) {
        if (error) return onError(error);
        peers[answerer].processOffer(kmsTest.filterSdp(sdpOffer), function (error, sdpAnswer) {
          if (error) return onError(error);
          peers[offerer].processAnswer(kmsTest.filterSdp(sdpAnswer), function (error) {
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
