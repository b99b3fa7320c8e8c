'use strict';
// Application server of kurento-tutorial-node/kurento-pointerdetector (WebRTC loopback through KMS's
// optional PointerDetectorFilter, module kurento-module-pointerdetector), written again with the
// same structure and the same kurento-client calls as the tutorial's server.js:
// kurento.register('kurento-module-pointerdetector') and the complex types
// PointerDetectorWindowMediaParam, WindowParam → getKurentoClient → start → createMediaElements
// (WebRtcEndpoint, then 'pointerdetector.PointerDetectorFilter' {calibrationRegion: WindowParam
// {topRightCornerX 5, topRightCornerY 5, width 30, height 30}}) → connectMediaElements
// (webRtcEndpoint → filter → webRtcEndpoint) → IceCandidateFound, the filter's WindowIn / WindowOut
// events, each sent to the page as {id: 'WindowIn' | 'WindowOut', roiId: windowId} through start's
// callback (which the tutorial calls once per event) → addWindow(window0: 50×50 at 500,150) and
// addWindow(window1: 50×50 at 500,250), not awaited → processOffer + gatherCandidates; the page's
// {id: 'calibrate'} → filter.trackColorFromCalibrationRegion(); onIceCandidate queues browser
// candidates until the endpoint exists; stop releases the pipeline. The loopback is the skeleton of
// ./loopback-filter.js; this file creates the filter, subscribes to its events, adds the windows and
// handles 'calibrate'. Differences: no express/session (one WebSocket = one session), plain ws://,
// the kurento-client generation (and its copy of the module package) is chosen by the test, the
// session keeps the filter as `filter` (the tutorial's `pointerDetector`), and the events and
// calibrations are also recorded (`events`, `calibrations`) for the test.

const kurentoLib = require('../kurento');
const { createLoopbackFilterApp } = require('./loopback-filter');

/**
 * @param {object} o
 * @param {string} o.kurentoPkg kurento-client alias
 * @param {string} o.wsUri media server URI
 */
function createPointerDetectorApp({ kurentoPkg, wsUri }) {
  const kurento = kurentoLib.load(kurentoPkg);
  kurentoLib.loadModule(kurentoPkg, 'pointerdetector'); // kurento.register('kurento-module-pointerdetector')
  const PointerDetectorWindowMediaParam = kurento.getComplexType('pointerdetector.PointerDetectorWindowMediaParam');
  const WindowParam = kurento.getComplexType('pointerdetector.WindowParam');
  /** Every filter event as the application got it: { type: 'WindowIn' | 'WindowOut', data, at }. */
  const events = [];
  /** trackColorFromCalibrationRegion() calls: { at, done, error }. */
  const calibrations = [];

  function createFilter(pipeline, ctx, callback) {
    const options = {
      calibrationRegion: WindowParam({
        topRightCornerX: 5,
        topRightCornerY: 5,
        width: 30,
        height: 30,
      }),
    };
    pipeline.create('pointerdetector.PointerDetectorFilter', options, callback);
  }

  function afterIceCandidateFound({ pipeline, filter, callback }) {
    filter.on('WindowIn', (_data) => {
      events.push({ type: 'WindowIn', data: _data, at: Date.now() });
      return callback(null, 'WindowIn', _data);
    });
    filter.on('WindowOut', (_data) => {
      events.push({ type: 'WindowOut', data: _data, at: Date.now() });
      return callback(null, 'WindowOut', _data);
    });
    const options1 = PointerDetectorWindowMediaParam({
      id: 'window0',
      height: 50,
      width: 50,
      upperRightX: 500,
      upperRightY: 150,
    });
    filter.addWindow(options1, (error) => {
      if (error) {
        pipeline.release();
        return callback(error);
      }
    });
    const options2 = PointerDetectorWindowMediaParam({
      id: 'window1',
      height: 50,
      width: 50,
      upperRightX: 500,
      upperRightY: 250,
    });
    filter.addWindow(options2, (error) => {
      if (error) {
        pipeline.release();
        return callback(error);
      }
    });
  }

  function calibrate(sessionId) {
    const session = app.sessions[sessionId];
    if (session && session.filter) {
      const pointerDetector = session.filter;
      const calibration = { at: Date.now(), done: null, error: null };
      calibrations.push(calibration);
      // The tutorial logs 'Error calibrating region' with whatever comes back, error or not.
      pointerDetector.trackColorFromCalibrationRegion((error) => {
        calibration.done = Date.now();
        if (error) {
          calibration.error = String(error && error.message ? error.message : error);
          app.errors.push(`Error calibrating region: ${calibration.error}`);
        }
      });
    }
  }

  const app = createLoopbackFilterApp({ kurentoPkg, wsUri, path: '/pointerdetector' }, {
    createFilter,
    afterIceCandidateFound,
    // {id: 'WindowIn' | 'WindowOut', roiId}
    eventMessage: (type, data) => ({ id: type, roiId: data.windowId }),
    messages: { calibrate },
  });
  return Object.assign(app, { events, calibrations });
}

module.exports = { createPointerDetectorApp };
