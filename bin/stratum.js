#!/usr/bin/env node
// The stratum command; the work is in lib/cli.
'use strict';

const { main } = require('../lib/cli/main');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`stratum: internal error: ${error && error.stack ? error.stack : error}\n`);
    process.exitCode = 1;
  },
);
