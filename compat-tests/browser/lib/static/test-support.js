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
      videoFrameSizeSent: null,
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
        // What the server gets: the encoder may scale the camera down (bandwidth, CPU).
        if (s.frameWidth) out.videoFrameSizeSent = s.frameWidth + 'x' + s.frameHeight;
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

  // ---- pixels of the <video> elements, for the filter tests ---------------------------------------

  // Colour classes on RGBA canvas data (the thresholds of compat-tests/lib/media.js COLOURS, plus
  // green): strict enough for a pure colour that went through VP8 twice (camera → server → page).
  var COLOURS = {
    magenta: function (r, g, b) {
      return r > 180 && g < 90 && b > 180;
    },
    red: function (r, g, b) {
      return r > 170 && g < 80 && b < 80;
    },
    blue: function (r, g, b) {
      return r < 80 && g < 80 && b > 170;
    },
    green: function (r, g, b) {
      return r < 100 && g > 160 && b < 100;
    },
  };

  // The current frame of `video`, drawn (scaled) into a width×height canvas: the tests' geometry is
  // in camera coordinates, whatever resolution the encoder chose on the way back. Null before the
  // first frame.
  function grabPixels(video, width, height) {
    if (!video || video.readyState < 2 || !video.videoWidth) return null;
    var canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    var ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(video, 0, 0, width, height);
    return ctx.getImageData(0, 0, width, height).data;
  }

  function clampRect(r, width, height) {
    return {
      x0: Math.max(0, Math.floor(r.x0)),
      y0: Math.max(0, Math.floor(r.y0)),
      x1: Math.min(width, Math.ceil(r.x1)),
      y1: Math.min(height, Math.ceil(r.y1)),
    };
  }

  // The pixels of `rect` ({x0, y0, x1, y1}) in `d`: how many, the share of each COLOURS class, and
  // the mean RGB.
  function colourCounts(d, width, height, rect) {
    var r = clampRect(rect, width, height);
    var out = { rect: r, pixels: 0, fractions: {}, mean: [0, 0, 0] };
    var n = {};
    var c;
    for (c in COLOURS) n[c] = 0;
    for (var y = r.y0; y < r.y1; y++) {
      for (var x = r.x0; x < r.x1; x++) {
        var i = (y * width + x) * 4;
        out.pixels++;
        out.mean[0] += d[i];
        out.mean[1] += d[i + 1];
        out.mean[2] += d[i + 2];
        for (c in COLOURS) if (COLOURS[c](d[i], d[i + 1], d[i + 2])) n[c]++;
      }
    }
    for (c in COLOURS) out.fractions[c] = out.pixels ? n[c] / out.pixels : 0;
    out.mean = out.mean.map(function (v) {
      return out.pixels ? Math.round(v / out.pixels) : null;
    });
    return out;
  }

  // Mean |a − b| per channel over `rect`.
  function meanDiff(a, b, width, height, rect) {
    var r = clampRect(rect, width, height);
    var pixels = 0;
    var diff = 0;
    for (var y = r.y0; y < r.y1; y++) {
      for (var x = r.x0; x < r.x1; x++) {
        var i = (y * width + x) * 4;
        pixels++;
        diff += (Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2])) / 3;
      }
    }
    return pixels ? diff / pixels : null;
  }

  // What the remote (through the server) and the local (the raw camera) <video> show in each of
  // `regions` ({name: {x0, y0, x1, y1}} in width×height camera coordinates): colourCounts per region
  // and frame, and the mean remote-vs-local difference per region. A frame not playing yet is null.
  function probeFrames(remoteVideo, localVideo, width, height, regions) {
    var remote = grabPixels(remoteVideo, width, height);
    var local = grabPixels(localVideo, width, height);
    var side = function (video, d) {
      if (!d) return null;
      var info = { videoWidth: video.videoWidth, videoHeight: video.videoHeight, regions: {} };
      for (var name in regions) info.regions[name] = colourCounts(d, width, height, regions[name]);
      return info;
    };
    var out = { at: Date.now(), remote: side(remoteVideo, remote), local: side(localVideo, local), diff: null };
    if (remote && local) {
      out.diff = {};
      for (var name in regions) out.diff[name] = meanDiff(remote, local, width, height, regions[name]);
    }
    return out;
  }

  // A PNG (data: URL) of the current frame of `video`, at the video's own resolution.
  function snapshot(video) {
    if (!video || !video.videoWidth) return null;
    var canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    return canvas.toDataURL('image/png');
  }

  // Asks the browser to keep sending the camera at its full size ('maintain-resolution': under
  // bandwidth or CPU pressure it drops frames instead of scaling the picture down), for filters
  // that work in absolute pixels or need every pixel. Resolves to the preference the video senders
  // then report, or to the error.
  function keepResolution(pc) {
    var senders = pc.getSenders().filter(function (s) {
      return s.track && s.track.kind === 'video';
    });
    return Promise.all(
      senders.map(function (s) {
        var p = s.getParameters();
        p.degradationPreference = 'maintain-resolution';
        return s.setParameters(p).then(function () {
          return s.getParameters().degradationPreference || 'unset';
        });
      }),
    ).then(
      function (prefs) {
        return prefs.join(',') || 'no video sender';
      },
      function (err) {
        return 'setParameters failed: ' + (err && err.message ? err.message : err);
      },
    );
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
    COLOURS: COLOURS,
    grabPixels: grabPixels,
    clampRect: clampRect,
    colourCounts: colourCounts,
    meanDiff: meanDiff,
    probeFrames: probeFrames,
    snapshot: snapshot,
    keepResolution: keepResolution,
  };
})();
