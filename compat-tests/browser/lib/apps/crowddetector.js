'use strict';
// Application server of kurento-tutorial-node/kurento-crowddetector (WebRTC loopback through KMS's
// optional CrowdDetectorFilter, module kurento-module-crowddetector), written again with the same
// structure and the same kurento-client calls as the tutorial's server.js:
// kurento.register('kurento-module-crowddetector') and the complex types RegionOfInterest,
// RegionOfInterestConfig, RelativePoint → getKurentoClient → start → createMediaElements
// (WebRtcEndpoint, then 'crowddetector.CrowdDetectorFilter' {rois: [roi1, the top-left quarter]}) →
// connectMediaElements (webRtcEndpoint → filter → webRtcEndpoint) → the filter's
// CrowdDetectorDirection / CrowdDetectorFluidity / CrowdDetectorOccupancy events, each sent to the
// page as {id: 'crowdDetectorDirection' | 'crowdDetectorFluidity' | 'crowdDetectorOccupancy',
// event_data} through start's callback (which the tutorial calls once per event) → IceCandidateFound
// → processOffer + gatherCandidates; onIceCandidate queues browser candidates until the endpoint
// exists; stop releases the pipeline. The loopback is the skeleton of ./loopback-filter.js; this
// file creates the filter and subscribes to its events. Differences: no express/session (one
// WebSocket = one session), plain ws://, the kurento-client generation (and its copy of the module
// package) is chosen by the test, and the events are also recorded (`events`) for the test.

const kurentoLib = require('../kurento');
const { createLoopbackFilterApp } = require('./loopback-filter');

/**
 * @param {object} o
 * @param {string} o.kurentoPkg kurento-client alias
 * @param {string} o.wsUri media server URI
 */
function createCrowdDetectorApp({ kurentoPkg, wsUri }) {
  const kurento = kurentoLib.load(kurentoPkg);
  kurentoLib.loadModule(kurentoPkg, 'crowddetector'); // kurento.register('kurento-module-crowddetector')
  const RegionOfInterest = kurento.getComplexType('crowddetector.RegionOfInterest');
  const RegionOfInterestConfig = kurento.getComplexType('crowddetector.RegionOfInterestConfig');
  const RelativePoint = kurento.getComplexType('crowddetector.RelativePoint');
  /** Every filter event as the application got it: { type: 'CrowdDetectorOccupancy', data, at }. */
  const events = [];

  function createFilter(pipeline, ctx, callback) {
    const options = {
      rois: [
        RegionOfInterest({
          id: 'roi1',
          points: [
            RelativePoint({ x: 0, y: 0 }),
            RelativePoint({ x: 0.5, y: 0 }),
            RelativePoint({ x: 0.5, y: 0.5 }),
            RelativePoint({ x: 0, y: 0.5 }),
          ],
          regionOfInterestConfig: RegionOfInterestConfig({
            occupancyLevelMin: 10,
            occupancyLevelMed: 35,
            occupancyLevelMax: 65,
            occupancyNumFramesToEvent: 5,
            fluidityLevelMin: 10,
            fluidityLevelMed: 35,
            fluidityLevelMax: 65,
            fluidityNumFramesToEvent: 5,
            sendOpticalFlowEvent: false,
            opticalFlowNumFramesToEvent: 3,
            opticalFlowNumFramesToReset: 3,
            opticalFlowAngleOffset: 0,
          }),
        }),
      ],
    };
    pipeline.create('crowddetector.CrowdDetectorFilter', options, callback);
  }

  // The tutorial subscribes to the filter's events before IceCandidateFound.
  function beforeIceCandidateFound({ filter, callback }) {
    filter.on('CrowdDetectorDirection', (_data) => {
      events.push({ type: 'CrowdDetectorDirection', data: _data, at: Date.now() });
      return callback(null, 'crowdDetectorDirection', _data);
    });
    filter.on('CrowdDetectorFluidity', (_data) => {
      events.push({ type: 'CrowdDetectorFluidity', data: _data, at: Date.now() });
      return callback(null, 'crowdDetectorFluidity', _data);
    });
    filter.on('CrowdDetectorOccupancy', (_data) => {
      events.push({ type: 'CrowdDetectorOccupancy', data: _data, at: Date.now() });
      return callback(null, 'crowdDetectorOccupancy', _data);
    });
  }

  const app = createLoopbackFilterApp({ kurentoPkg, wsUri, path: '/crowddetector' }, {
    createFilter,
    beforeIceCandidateFound,
    // {id: 'crowdDetectorDirection' | 'crowdDetectorFluidity' | 'crowdDetectorOccupancy', event_data}
    eventMessage: (type, data) => ({ id: type, event_data: data }),
  });
  return Object.assign(app, { events });
}

module.exports = { createCrowdDetectorApp };
