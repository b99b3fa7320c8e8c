// Browser side of kurento-tutorial-node/kurento-crowddetector (static/js/index.js), rewritten with
// the same message flow: start → WebRtcPeerSendrecv → generateOffer → {id:'start', sdpOffer} →
// startResponse → processAnswer; ICE candidates both ways as onIceCandidate / iceCandidate; stop →
// {id:'stop'} and dispose. The loopback page is loopback-filter.js; this file adds the handlers of
// the filter's events. The tutorial's page expects them as 'CrowdDetectorDirection',
// 'CrowdDetectorFluidity' and 'CrowdDetectorOccupancy', but its server sends them as
// 'crowdDetectorDirection' etc., so they end in the default case ("Unrecognized message", an error
// in the console); kept as it is. Additions for the test: only loopback candidates are signalled or
// applied, window.testState records what happened (with every message by id and the filter's
// events), and window.testSnapshot takes PNGs of the local and remote <video> for failure reports.
'use strict';

loopbackPage({
  path: '/crowddetector',
  messages: {
    CrowdDetectorDirection: crowdDetectorDirection,
    CrowdDetectorFluidity: crowdDetectorFluidity,
    CrowdDetectorOccupancy: crowdDetectorOccupancy,
  },
  recordMessages: true,
});

// The tutorial's handlers, never reached (see above). Their wording swaps level and percentage.
function crowdDetectorDirection(message) {
  log('Direction event received in roi ' + message.event_data.roiID + ' with direction ' + message.event_data.directionAngle);
}

function crowdDetectorFluidity(message) {
  log(
    'Fluidity event received in roi ' + message.event_data.roiID +
      '. Fluidity level ' + message.event_data.fluidityPercentage +
      ' and fluidity percentage ' + message.event_data.fluidityLevel,
  );
}

function crowdDetectorOccupancy(message) {
  log(
    'Occupancy event received in roi ' + message.event_data.roiID +
      '. Occupancy level ' + message.event_data.occupancyPercentage +
      ' and occupancy percentage ' + message.event_data.occupancyLevel,
  );
}
