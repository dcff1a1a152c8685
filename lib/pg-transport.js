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
 * Runs `sql` (one or more statements) and counts the statements that
 * completed, which pins a failure without a position to its statement.
 */
function run(client, sql) {
  const pg = loadPg();
  if (!pg || !pg.Query) {
    return client.query({ text: sql, rowMode: 'array', types: AS_TEXT }).then((result) => ({ result, completed: 0 }));
  }
  return new Promise((resolve, reject) => {
    const query = new pg.Query({ text: sql, rowMode: 'array', types: AS_TEXT });
    let completed = 0;
    const handleCommandComplete = query.handleCommandComplete.bind(query);
    query.handleCommandComplete = (message, connection) => {
      completed += 1;
      handleCommandComplete(message, connection);
    };
    query.callback = (error, result) => (error ? reject(Object.assign(error, { completed })) : resolve({ result, completed }));
    client.query(query);
  });
}

/** `(sql) => Promise<QueryOutcome>` over `client`; it never throws. */
function queryThrough(client) {
  return async (sql) => {
    try {
      const { result } = await run(client, sql);
      // A message of several statements gives one result each; the rows are the last one's.
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return { rows: last && last.rows ? last.rows : [] };
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

module.exports = { queryThrough, connect };
