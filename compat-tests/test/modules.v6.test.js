'use strict';
// suites/modules.js driven by kurento-client 6.18 in its own process (see lib/clients.js).
process.env.KURENTO_CLIENT = '6';
require('../suites/modules');
