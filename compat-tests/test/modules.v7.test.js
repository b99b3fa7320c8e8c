'use strict';
// suites/modules.js driven by kurento-client 7.x in its own process (see lib/clients.js).
process.env.KURENTO_CLIENT = '7';
require('../suites/modules');
