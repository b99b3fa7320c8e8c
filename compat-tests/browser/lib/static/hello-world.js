// Browser side of kurento-tutorial-node/kurento-hello-world (static/js/index.js), rewritten with the
// same message flow: start → generateOffer → {id:'start', sdpOffer} → startResponse →
// processAnswer; ICE candidates both ways as onIceCandidate / iceCandidate; stop → {id:'stop'} and
// dispose; all of it the loopback page of loopback-filter.js, with no messages of its own.
// Additions for the test: only loopback candidates are signalled or applied, and window.testState
// records what happened (window.testSnapshot, which every loopback page has, is not used here).
'use strict';

loopbackPage({ path: '/helloworld' });
