// Browser side of kurento-tutorial-node/kurento-magic-mirror (static/js/index.js), rewritten with the
// same message flow: start → WebRtcPeerSendrecv → generateOffer → {id:'start', sdpOffer} →
// startResponse → processAnswer; ICE candidates both ways as onIceCandidate / iceCandidate; stop →
// {id:'stop'} and dispose; all of it the loopback page of loopback-filter.js. Additions for the
// test: only loopback candidates are signalled or applied, window.testState records what happened,
// and window.testOverlayProbe / window.testSnapshot read the pixels of the local and remote <video>
// through a canvas.
'use strict';

loopbackPage({ path: '/magicmirror' });

// ---- pixel probes (test only) ----------------------------------------------------------------

// Strongly magenta: the overlay image's body is #FF00FF; VP8 twice over keeps it well inside this.
function isMagenta(d, i) {
  return d[i] > 180 && d[i + 1] < 90 && d[i + 2] > 180;
}

// The current frame of `video` at width×height (kmsTest.grabPixels): the geometry is in camera
// coordinates, whatever resolution the encoder chose on the way back.
var grab = kmsTest.grabPixels;
var clampRect = kmsTest.clampRect;

function countMagenta(d, width, height, rect) {
  var r = clampRect(rect, width, height);
  var pixels = 0;
  var magenta = 0;
  for (var y = r.y0; y < r.y1; y++) {
    for (var x = r.x0; x < r.x1; x++) {
      pixels++;
      if (isMagenta(d, (y * width + x) * 4)) magenta++;
    }
  }
  return { rect: r, pixels: pixels, magenta: magenta, fraction: pixels ? magenta / pixels : 0 };
}

// Where the magenta is, inside `search`: the 2nd..98th percentile of the magenta pixels' x and y
// (a few stray pixels do not stretch it). Null with fewer than `minPixels`.
function magentaBox(d, width, height, search, minPixels) {
  var r = clampRect(search, width, height);
  var xs = [];
  var ys = [];
  for (var y = r.y0; y < r.y1; y++) {
    for (var x = r.x0; x < r.x1; x++) {
      if (isMagenta(d, (y * width + x) * 4)) {
        xs.push(x);
        ys.push(y);
      }
    }
  }
  if (xs.length < minPixels) return null;
  var q = function (a, p) {
    a.sort(function (u, v) {
      return u - v;
    });
    return a[Math.min(a.length - 1, Math.floor(p * a.length))];
  };
  return { x0: q(xs, 0.02), x1: q(xs, 0.98) + 1, y0: q(ys, 0.02), y1: q(ys, 0.98) + 1, pixels: xs.length };
}

function frameInfo(video, d, geom) {
  var info = {
    videoWidth: video.videoWidth,
    videoHeight: video.videoHeight,
    regions: {},
    frameMagenta: countMagenta(d, geom.width, geom.height, { x0: 0, y0: 0, x1: geom.width, y1: geom.height }).magenta,
    box: magentaBox(d, geom.width, geom.height, geom.search, geom.minBoxPixels || 200),
  };
  for (var name in geom.regions) info.regions[name] = countMagenta(d, geom.width, geom.height, geom.regions[name]);
  return info;
}

// Remote vs local pixels in `rect`: mean absolute RGB difference, and how much of the remote band
// is magenta or black (an overlay drawn without its alpha channel paints the transparent border
// black, the colour of its fully transparent pixels).
function compareBand(remote, local, width, height, rect) {
  var r = clampRect(rect, width, height);
  var pixels = 0;
  var diff = 0;
  var magenta = 0;
  var black = 0;
  for (var y = r.y0; y < r.y1; y++) {
    for (var x = r.x0; x < r.x1; x++) {
      var i = (y * width + x) * 4;
      pixels++;
      diff += (Math.abs(remote[i] - local[i]) + Math.abs(remote[i + 1] - local[i + 1]) + Math.abs(remote[i + 2] - local[i + 2])) / 3;
      if (isMagenta(remote, i)) magenta++;
      if (remote[i] < 30 && remote[i + 1] < 30 && remote[i + 2] < 30) black++;
    }
  }
  return {
    rect: r,
    pixels: pixels,
    meanDiff: pixels ? diff / pixels : null,
    magentaFraction: pixels ? magenta / pixels : null,
    blackFraction: pixels ? black / pixels : null,
  };
}

// geom: { width, height, regions: {name: {x0,y0,x1,y1}}, search: rect, band: {gap, depth} } in camera
// coordinates. Returns what the remote (through the server) and the local (the raw camera) frames
// show, and, when the remote frame has a magenta box, the bands just outside it (inside the image's
// transparent border) compared with the camera picture.
window.testOverlayProbe = function (geom, ids) {
  ids = ids || {};
  var remoteVideo = ids.remote ? document.getElementById(ids.remote) : videoOutput;
  var localVideo = ids.local ? document.getElementById(ids.local) : videoInput;
  var remote = grab(remoteVideo, geom.width, geom.height);
  var local = grab(localVideo, geom.width, geom.height);
  var out = {
    remote: remote ? frameInfo(remoteVideo, remote, geom) : null,
    local: local ? frameInfo(localVideo, local, geom) : null,
    bands: null,
  };
  var box = out.remote && out.remote.box;
  if (box && local) {
    var g = geom.band.gap;
    var k = geom.band.depth;
    out.bands = {
      left: compareBand(remote, local, geom.width, geom.height, { x0: box.x0 - g - k, x1: box.x0 - g, y0: box.y0, y1: box.y1 }),
      right: compareBand(remote, local, geom.width, geom.height, { x0: box.x1 + g, x1: box.x1 + g + k, y0: box.y0, y1: box.y1 }),
      bottom: compareBand(remote, local, geom.width, geom.height, { x0: box.x0, x1: box.x1, y0: box.y1 + g, y1: box.y1 + g + k }),
    };
  }
  return out;
};
