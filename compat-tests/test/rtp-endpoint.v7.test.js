'use strict';
// suites/rtp-endpoint.js driven by kurento-client 7.x in its own process (see lib/clients.js).
process.env.KURENTO_CLIENT = '7';
require('../suites/rtp-endpoint');
