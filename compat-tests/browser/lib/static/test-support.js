// Helpers shared by the test pages (not part of the tutorials): loopback-only candidate filtering,
// the ICE configuration chosen by the test, and getStats() summaries the Node side polls.
'use strict';

(function () {
  var params = new URLSearchParams(location.search);

  // Only loopback may carry test traffic. Chromium also gathers eth0 / ::1 candidates, and the
  // server may announce others; anything that is not on 127.0.0.1 is dropped before it is signalled
  // or applied, in both directions.
  function isLoopbackCandidate(candidate) {
    var s = typeof candidate === 'string' ? candidate : candidate && candidate.candidate;
    return typeof s === 'string' && s.indexOf(' 127.0.0.1 ') !== -1;
  }

  function filterSdp(sdp) {
    return sdp
      .split('\r\n')
      .filter(function (line) {
        return line.indexOf('a=candidate:') !== 0 || isLoopbackCandidate(line);
      })
      .join('\r\n');
  }

  // RTCPeerConnection configuration handed to kurentoUtils.WebRtcPeer (`configuration` option).
  // An explicit empty iceServers list replaces the public STUN servers kurento-utils would pick
  // (freeice); the relay variants pass coturn and iceTransportPolicy 'relay'.
  function rtcConfiguration() {
    var conf = { iceServers: [] };
    if (params.get('ice')) {
      var extra = JSON.parse(params.get('ice'));
      for (var k in extra) conf[k] = extra[k];
    }
    return conf;
  }

  function candidateInfo(c) {
    if (!c) return null;
    return {
      type: c.candidateType,
      address: c.address || c.ip,
      port: c.port,
      protocol: c.protocol,
      relayProtocol: c.relayProtocol,
    };
  }

  // What the tests assert on: inbound video frames, inbound audio packets, and the selected path.
  async function summarizeStats(pc) {
    var out = {
      connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState,
      framesDecoded: 0,
      frameWidth: 0,
      videoPacketsReceived: 0,
      audioPacketsReceived: 0,
      videoPacketsSent: 0,
      audioPacketsSent: 0,
      videoCodec: null,
      // SSRCs on the wire, for comparing with the server's getStats.
      videoSsrcReceived: null,
      videoSsrcSent: null,
      selectedPair: null,
    };
    var report = await pc.getStats();
    var byId = {};
    report.forEach(function (s) {
      byId[s.id] = s;
    });
    report.forEach(function (s) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        out.framesDecoded += s.framesDecoded || 0;
        out.frameWidth = Math.max(out.frameWidth, s.frameWidth || 0);
        out.videoPacketsReceived += s.packetsReceived || 0;
        out.videoSsrcReceived = s.ssrc;
        if (s.codecId && byId[s.codecId]) out.videoCodec = byId[s.codecId].mimeType;
      } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.audioPacketsReceived += s.packetsReceived || 0;
      } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.videoPacketsSent += s.packetsSent || 0;
        out.videoSsrcSent = s.ssrc;
      } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
        out.audioPacketsSent += s.packetsSent || 0;
      } else if (s.type === 'transport' && s.selectedCandidatePairId) {
        // Chromium 156 does not set `nominated` on the pair it uses; the transport's pointer is reliable.
        var pair = byId[s.selectedCandidatePairId];
        if (pair) {
          out.selectedPair = {
            state: pair.state,
            local: candidateInfo(byId[pair.localCandidateId]),
            remote: candidateInfo(byId[pair.remoteCandidateId]),
          };
        }
      }
    });
    return out;
  }

  function videoElementInfo(video) {
    return video
      ? { videoWidth: video.videoWidth, videoHeight: video.videoHeight, readyState: video.readyState }
      : null;
  }

  window.kmsTest = {
    params: params,
    isLoopbackCandidate: isLoopbackCandidate,
    filterSdp: filterSdp,
    rtcConfiguration: rtcConfiguration,
    summarizeStats: summarizeStats,
    videoElementInfo: videoElementInfo,
  };
})();
