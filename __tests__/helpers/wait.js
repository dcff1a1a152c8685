// Waiting for another session to reach a state: poll the catalog with a
// deadline, never sleep and hope.
const { query } = require('./db');

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `sql` on `url` until `ready(rows)` holds; returns those rows. Throws
 * after `timeoutMs` with the last rows, so a test that waits in vain says why.
 */
async function waitFor(url, sql, ready, { timeoutMs = 15000, everyMs = 20, params } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await query(url, sql, params);
    if (ready(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for: ${sql}\nlast rows: ${JSON.stringify(rows)}`);
    await pause(everyMs);
  }
}

module.exports = { waitFor };
