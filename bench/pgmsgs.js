'use strict';
// node bench/pgmsgs.js STRACE_OUTPUT
// Counts the PostgreSQL frontend messages (by type: Q = simple query, X = terminate, ...) that a
// client sent, from `strace -f -s 10000000 -xx -e trace=sendto -o STRACE_OUTPUT <client>`, and the
// socket writes that carried them (a pipelining client puts several messages in one write).
const fs = require('node:fs');

const messages = {};
let writes = 0;
let startup = true;
for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\n')) {
  const m = line.match(/sendto\(\d+<[^>]*>, "((?:\\x[0-9a-f]{2})*)"/);
  if (!m) continue;
  writes += 1;
  const buf = Buffer.from(m[1].replace(/\\x/g, ''), 'hex');
  let at = 0;
  if (startup) {
    // The startup message has no type byte: its length, then the protocol version.
    startup = false;
    at = buf.readInt32BE(0);
    messages.startup = 1;
  }
  while (at + 5 <= buf.length) {
    const type = String.fromCharCode(buf[at]);
    messages[type] = (messages[type] || 0) + 1;
    at += 1 + buf.readInt32BE(at + 1);
  }
}
process.stdout.write(`${JSON.stringify({ writes, messages })}\n`);
