// The `query` transport over a `pg` client: the one piece of the engine that
// must be JavaScript, since it carries an app's own connection, and every
// connection of the WebAssembly build, where Rust has no sockets.
'use strict';

// Every value as PostgreSQL's text, the way the engine reads rows.
const AS_TEXT = { getTypeParser: () => (value) => value };

function loadPg() {
  try {
    return require('pg');
  } catch {
    return undefined;
  }
}

/**
 * One simple-protocol query (one or more statements) as a pg "Submittable":
 * `client.query(submittable)` hands it the connection and routes the
 * server's messages to its `handle*` methods. That interface is pg's
 * documented extension point (pg-cursor and pg-query-stream are built on
 * it), unlike the internals of `pg.Query`; here it gives what a plain query
 * hides, the number of statements that completed before one failed, which
 * pins a failure PostgreSQL gives no position for to its statement.
 * Rows arrive as the server's text, each an array: the engine parses them.
 */
class CountedQuery {
  constructor(text) {
    this.text = text;
    this.completed = 0;
    this.rows = [];
    this.current = null;
    this.done = false;
    // pg wraps `callback` (a client's query_timeout does); settling through
    // it, as pg's own queries do, keeps that wrapping working.
    this.promise = new Promise((resolve, reject) => {
      this.callback = (error, result) => (error ? reject(error) : resolve(result));
    });
  }

  // The connection's `query(text)` (and `sendCopyFail` below) are the
  // methods pg's Connection offers submittables, as pg's typings list them.
  submit(connection) {
    connection.query(this.text);
  }

  handleRowDescription() {
    this.current = [];
  }

  handleDataRow(message) {
    if (this.current) this.current.push(message.fields);
  }

  handleCommandComplete() {
    this.completed += 1;
    // The outcome carries the rows of the last statement; one without rows has none.
    this.rows = this.current || [];
    this.current = null;
  }

  handleEmptyQuery() {}

  handlePortalSuspended() {}

  handleCopyInResponse(connection) {
    // COPY … FROM STDIN waits for data stratum never sends: end it with an error.
    connection.sendCopyFail('stratum sends no data to COPY FROM STDIN');
  }

  handleCopyData() {}

  handleError(error) {
    this.settle(Object.assign(error, { completed: this.completed }));
  }

  handleReadyForQuery() {
    this.settle(null, { rows: this.rows, completed: this.completed });
  }

  settle(error, result) {
    if (this.done) return;
    this.done = true;
    this.callback(error, result);
  }
}

/**
 * Runs `sql` and resolves to `{ rows, completed }`; a failure rejects with
 * the statements that completed before it as `completed`.
 */
function run(client, sql) {
  const pg = loadPg();
  // Submittables are a feature of pg's JavaScript client (pg-native has no
  // protocol connection to hand over); other clients get a plain query.
  if (!pg || !(client instanceof pg.Client)) {
    return Promise.resolve(client.query({ text: sql, rowMode: 'array', types: AS_TEXT })).then((result) => {
      // A message of several statements gives one result each; the rows are the last one's.
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return { rows: last && last.rows ? last.rows : [], completed: 0 };
    });
  }
  const query = new CountedQuery(sql);
  client.query(query);
  return query.promise;
}

/** `(sql) => Promise<QueryOutcome>` over `client`; it never throws. */
function queryThrough(client) {
  return async (sql) => {
    try {
      const { rows } = await run(client, sql);
      return { rows };
    } catch (error) {
      const code = typeof error.code === 'string' && /^[0-9A-Z]{5}$/.test(error.code) ? error.code : undefined;
      return {
        error: {
          message: String(error.message || error),
          code,
          position: error.position ? Number(error.position) : undefined,
          detail: error.detail,
          hint: error.hint,
          completed: error.completed,
          // No SQLSTATE, or the server ending the session: the connection is gone.
          lost: !code || code.startsWith('57P'),
        },
      };
    }
  };
}

/**
 * Whether `client` is a pool rather than one connection: a `pg.Pool`, or
 * anything with a pool's public face (`connect()` checking a client out,
 * `totalCount`, `idleCount`). Each query of a pool may run on another
 * connection, so a run never goes through one directly.
 */
function isPool(client) {
  const pg = loadPg();
  if (pg && pg.Pool && client instanceof pg.Pool) return true;
  return (
    typeof client.connect === 'function' &&
    typeof client.totalCount === 'number' &&
    typeof client.idleCount === 'number'
  );
}

/** A client checked out of `pool`, with the error of a failed checkout as E_CONNECT. */
async function checkOut(pool) {
  let client;
  try {
    client = await pool.connect();
  } catch (error) {
    throw Object.assign(new Error(`cannot connect to PostgreSQL: ${error.message}`), { code: 'E_CONNECT' });
  }
  if (!client || typeof client.release !== 'function') {
    throw Object.assign(new Error('the pool passed as client gave no client with release() from connect()'), {
      code: 'E_CONFIG',
    });
  }
  return client;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A connected `pg` client for `options`, for builds that cannot open one in
 * Rust; with `waitMs`, a refused connection is retried with capped backoff.
 */
async function connect(options) {
  const pg = loadPg();
  if (!pg) {
    throw Object.assign(
      new Error('this platform runs the WebAssembly build of stratum, which connects through the `pg` package: npm install pg'),
      { code: 'E_CONFIG' },
    );
  }
  const url = options.databaseUrl || process.env.DATABASE_URL;
  if (url && /^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^postgres(ql)?:$/.test(parsed.protocol)) {
      throw Object.assign(
        new Error('the database URL is not valid: expected postgres://user:password@host:port/database'),
        { code: 'E_CONFIG' },
      );
    }
  }
  const deadline = Date.now() + (Number(options.waitMs) || 0);
  for (let pause = 100; ; pause = Math.min(pause * 2, 2000)) {
    const client = new pg.Client({ connectionString: url, application_name: 'stratum' });
    try {
      await client.connect();
      // A connection that drops emits 'error', which would throw with no
      // listener; the query in flight reports the loss instead.
      client.on('error', () => {});
      return client;
    } catch (error) {
      const refused = !error.code || /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|57P03)$/.test(error.code);
      if (refused && Date.now() + pause < deadline) {
        await sleep(pause);
        continue;
      }
      const waited = options.waitMs ? `; gave up after waiting ${options.waitMs} ms` : '';
      throw Object.assign(new Error(`cannot connect to PostgreSQL: ${error.message}${waited}`), { code: 'E_CONNECT' });
    }
  }
}

module.exports = { queryThrough, connect, isPool, checkOut };
