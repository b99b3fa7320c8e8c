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
      videoCodecFmtp: null,
      videoCodecSent: null,
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
        if (s.codecId && byId[s.codecId]) {
          out.videoCodec = byId[s.codecId].mimeType;
          out.videoCodecFmtp = byId[s.codecId].sdpFmtpLine || null;
        }
      } else if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.audioPacketsReceived += s.packetsReceived || 0;
      } else if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.videoPacketsSent += s.packetsSent || 0;
        out.videoSsrcSent = s.ssrc;
        if (s.codecId && byId[s.codecId]) out.videoCodecSent = byId[s.codecId].mimeType;
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

  // Restricts the video transceivers of `pc` to one codec (e.g. 'video/H264') through
  // RTCRtpTransceiver.setCodecPreferences, applied right before each createOffer: kurento-utils adds
  // its recvonly transceivers inside generateOffer, just before it calls createOffer. H.264 with
  // packetization-mode=1 goes first. Returns the codecs kept; throws if the browser has none.
  function restrictVideoCodec(pc, mimeType) {
    var wanted = mimeType.toLowerCase();
    var codecs = RTCRtpReceiver.getCapabilities('video').codecs.filter(function (c) {
      return c.mimeType.toLowerCase() === wanted;
    });
    if (!codecs.length) throw new Error('this browser cannot receive ' + mimeType);
    var mode1 = function (c) {
      return /packetization-mode=1/.test(c.sdpFmtpLine || '') ? 0 : 1;
    };
    codecs.sort(function (a, b) {
      return mode1(a) - mode1(b);
    });
    var createOffer = pc.createOffer;
    pc.createOffer = function () {
      pc.getTransceivers().forEach(function (t) {
        if (t.receiver.track && t.receiver.track.kind === 'video') t.setCodecPreferences(codecs);
      });
      return createOffer.apply(pc, arguments);
    };
    return codecs;
  }

  // Encoding names of the a=rtpmap lines in the first m=video section of an SDP.
  function videoCodecsOf(sdp) {
    var names = [];
    var section = 0; // 0 before the first m=video, 1 inside it, 2 after it
    sdp.split('\r\n').forEach(function (line) {
      if (line.indexOf('m=') === 0) {
        if (section === 1) section = 2;
        else if (section === 0 && line.indexOf('m=video') === 0) section = 1;
      }
      var m = section === 1 && /^a=rtpmap:\d+ ([^/]+)\//.exec(line);
      if (m) names.push(m[1]);
    });
    return names;
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
    restrictVideoCodec: restrictVideoCodec,
    videoCodecsOf: videoCodecsOf,
  };
})();
