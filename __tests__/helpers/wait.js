// Waiting for another session or process to reach a point: ask the server
// what that session is doing (pg_stat_activity, pg_locks) until the answer
// holds, with a deadline, rather than sleeping and hoping it got there.
const fs = require('node:fs');
const { Client } = require('pg');

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `sql` on `url` until `predicate(rows)` is true; returns those rows.
 * Fails after `timeoutMs` with the last rows seen. The polling session names
 * itself, so it is never taken for the session being waited for.
 */
async function waitFor(url, sql, predicate = (rows) => rows.length > 0, options = {}) {
  const { params = [], timeoutMs = 20000, intervalMs = 20, what = sql } = options;
  const client = new Client({ connectionString: url, application_name: 'stratum-test-wait' });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query(sql, params);
      if (predicate(rows)) return rows;
      if (Date.now() >= deadline) {
        throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}; last answer: ${JSON.stringify(rows)}`);
      }
      await pause(intervalMs);
    }
  } finally {
    await client.end();
  }
}

/** Waits until another session of the database is running a query LIKE `pattern`; returns its pid. */
async function backendRunning(url, pattern, options = {}) {
  const rows = await waitFor(
    url,
    `SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()`,
    undefined,
    { what: `a session running ${pattern}`, ...options, params: [pattern] },
  );
  return rows[0].pid;
}

/** Waits until no session named `applicationName` is left on the database. */
async function sessionsGone(url, applicationName = 'stratum', options = {}) {
  await waitFor(
    url,
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1',
    (rows) => rows[0].n === 0,
    { what: `the ${applicationName} sessions to end`, ...options, params: [applicationName] },
  );
}

/**
 * Waits until a session of the database waits for the advisory lock `key`
 * (a number below 2^32, as `pg_advisory_lock(key)` takes it); returns its pid.
 */
async function waitingForAdvisoryLock(url, key, options = {}) {
  const rows = await waitFor(
    url,
    `SELECT pid FROM pg_locks
      WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid = $1 AND objsubid = 1
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    undefined,
    { what: `a session waiting for advisory lock ${key}`, ...options, params: [key] },
  );
  return rows[0].pid;
}

/** Waits until process `pid` has ended (gone, or a zombie nobody reaped), as Linux's /proc tells. */
async function processGone(pid, { timeoutMs = 20000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let state;
    try {
      state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop().trim().split(' ')[0];
    } catch {
      return;
    }
    if (state === 'Z' || state === 'X') return;
    if (Date.now() >= deadline) throw new Error(`process ${pid} still running after ${timeoutMs} ms`);
    await pause(20);
  }
}

/**
 * Waits until `check()` is true, for what reaches this process on its own
 * time (the progress events of a run may arrive after its result).
 */
async function until(check, { timeoutMs = 10000, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() >= deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await pause(5);
  }
}

module.exports = { until, waitFor, backendRunning, sessionsGone, waitingForAdvisoryLock, processGone };
