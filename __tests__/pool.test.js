// A pg.Pool passed as `client`: the run checks out one client, keeps it for
// every statement (a transaction is one session), and gives it back whatever
// happened, so the app's `pool.end()` returns and its process can exit.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Pool } = require('pg');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir } = require('./helpers/fixtures');
const { freePort } = require('./helpers/net');

const ROOT = path.join(__dirname, '..');
const END_DEADLINE_MS = 10000;

const FILES = {
  '001_accounts.sql': 'CREATE TABLE IF NOT EXISTS accounts (id INT PRIMARY KEY);\n',
  '002_seed.sql': 'INSERT INTO accounts VALUES (1) ON CONFLICT DO NOTHING;\n',
};

let databases = [];
let pools = [];
afterEach(async () => {
  // A test that failed may leave its pool open; end it without waiting on a leak.
  for (const pool of pools) if (!pool.ended) pool.end().catch(() => {});
  pools = [];
  await Promise.all(databases.map((db) => db.drop()));
  databases = [];
});

/**
 * A pool on a new database, recording each checkout and release through the
 * pool's public events. A small size and a connect timeout make a leaked
 * client show as an error rather than a hang.
 */
async function poolOnNewDatabase(options = {}) {
  const db = await createDatabase();
  databases.push(db);
  const pool = new Pool({ connectionString: db.url, max: 2, connectionTimeoutMillis: 5000, ...options });
  pools.push(pool);
  const events = { acquired: [], released: [] };
  pool.on('acquire', (client) => events.acquired.push(client.processID));
  pool.on('release', (error, client) => events.released.push({ pid: client.processID, error: Boolean(error) }));
  return { db, pool, events };
}

/** Ends `pool`, failing when that does not return (a client still checked out keeps it open). */
async function endWithin(pool) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error('pool.end() did not return: a client is still checked out')), END_DEADLINE_MS);
  });
  try {
    await Promise.race([pool.end(), deadline]);
  } finally {
    clearTimeout(timer);
  }
  expect(pool.totalCount).toBe(0);
}

test.each([
  ['migrate', (pool, dir) => stratum.migrate({ client: pool, dir })],
  ['status', (pool, dir) => stratum.status({ client: pool, dir })],
  ['plan', (pool, dir) => stratum.plan({ client: pool, dir })],
  ['fresh', (pool, dir) => stratum.fresh({ client: pool, dir })],
])('%s over a pool checks out one client, gives it back, and pool.end() returns', async (command, run) => {
  const { db, pool, events } = await poolOnNewDatabase();
  const dir = migrationsDir(FILES);
  const result = await run(pool, dir);
  expect(events.acquired).toHaveLength(1);
  expect(events.released).toEqual([{ pid: events.acquired[0], error: false }]);
  expect(pool.idleCount).toBe(pool.totalCount);
  await endWithin(pool);
  const applied = (await query(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'migrations'"))[0].n;
  if (command === 'migrate' || command === 'fresh') {
    expect(result.applied.map((m) => m.name)).toEqual(['001_accounts', '002_seed']);
    expect(await query(db.url, 'SELECT id FROM accounts')).toEqual([{ id: 1 }]);
  } else {
    // status and plan read; they create nothing.
    expect(applied).toBe(0);
  }
});

test('a failing migrate over a pool gives its client back, destroyed, and pool.end() returns', async () => {
  const { db, pool, events } = await poolOnNewDatabase();
  const dir = migrationsDir({ ...FILES, '003_bad.sql': 'INSERT INTO accounts VALUES (2);\nSELECT 1/0;\n' });
  const error = await stratum.migrate({ client: pool, dir }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_SQL', pgCode: '22012', line: 2 });
  expect(events.acquired).toHaveLength(1);
  // A failed run's session may be in any state: the pool does not hand it out again.
  expect(events.released).toEqual([{ pid: events.acquired[0], error: true }]);
  await endWithin(pool);
  expect((await query(db.url, 'SELECT name FROM migrations ORDER BY id')).map((r) => r.name)).toEqual([
    '001_accounts',
    '002_seed',
  ]);
});

test('a connection lost mid-run over a pool is reported, its client destroyed, and pool.end() returns', async () => {
  const { pool, events } = await poolOnNewDatabase();
  const dir = migrationsDir({ ...FILES, '003_gone.sql': 'SELECT pg_terminate_backend(pg_backend_pid());\n' });
  // An 'error' event nobody listens to would throw out of the test: none may reach the process.
  const uncaught = [];
  const onUncaught = (e) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    const error = await stratum.migrate({ client: pool, dir }).catch((e) => e);
    expect(error).toMatchObject({ code: 'E_CONNECTION_LOST' });
    expect(events.acquired).toHaveLength(1);
    expect(events.released).toEqual([{ pid: events.acquired[0], error: true }]);
    await endWithin(pool);
  } finally {
    process.removeListener('uncaughtException', onUncaught);
  }
  expect(uncaught).toEqual([]);
});

test('a pool that cannot connect gives E_CONNECT and leaves nothing checked out', async () => {
  const pool = new Pool({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/postgres` });
  pools.push(pool);
  const error = await stratum.migrate({ client: pool, dir: migrationsDir(FILES) }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_CONNECT' });
  expect(error.message).toMatch(/^cannot connect to PostgreSQL: .*ECONNREFUSED/);
  await endWithin(pool);
});

test('every statement of a run, BEGIN to COMMIT, goes over the one client checked out', async () => {
  const { db, pool, events } = await poolOnNewDatabase({ max: 2 });
  // Each file notes the session and the transaction it ran in.
  const note = 'INSERT INTO seen VALUES (pg_backend_pid(), pg_current_xact_id()::text);\n';
  const dir = migrationsDir({
    '001_seen.sql': `CREATE TABLE IF NOT EXISTS seen (pid INT, tx TEXT);\n${note}`,
    '002_again.sql': note,
    '003_more.sql': note,
  });
  // The app's own traffic is busy on the pool meanwhile: it must not take a part of the run.
  const busy = await pool.connect();
  try {
    await stratum.migrate({ client: pool, dir });
  } finally {
    busy.release();
  }
  const seen = await query(db.url, 'SELECT pid, tx FROM seen');
  expect(events.acquired).toHaveLength(2);
  const runPid = events.acquired[1];
  expect(seen.map((row) => row.pid)).toEqual([runPid, runPid, runPid]);
  // One transaction per file, each committed: the rows are there, and no session holds one open.
  expect(new Set(seen.map((row) => row.tx)).size).toBe(3);
  expect(
    await query(db.url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'"),
  ).toEqual([{ n: 0 }]);
  await endWithin(pool);
});

test('anything with a pool’s public face is used as a pool', async () => {
  const { db, pool, events } = await poolOnNewDatabase();
  // Not a pg.Pool: only connect(), totalCount and idleCount, as a wrapper would give.
  const facade = {
    connect: () => pool.connect(),
    query: (...args) => pool.query(...args),
    get totalCount() {
      return pool.totalCount;
    },
    get idleCount() {
      return pool.idleCount;
    },
  };
  await stratum.migrate({ client: facade, dir: migrationsDir(FILES) });
  expect(events.acquired).toHaveLength(1);
  expect(events.released).toHaveLength(1);
  await endWithin(pool);
  expect((await query(db.url, 'SELECT count(*)::int AS n FROM migrations'))[0].n).toBe(2);
});

test.each(['native', 'wasm'])('an app that migrates over its pool and ends it exits by itself (%s)', async (build) => {
  const db = await createDatabase();
  databases.push(db);
  const dir = migrationsDir(FILES);
  // No process.exit: the process ends only when nothing is left open.
  const script = `
    const { Pool } = require('pg');
    const stratum = require('pg-stratum');
    const pool = new Pool({ connectionString: ${JSON.stringify(db.url)} });
    (async () => {
      const result = await stratum.migrate({ client: pool, dir: ${JSON.stringify(dir)} });
      await pool.end();
      process.stdout.write(JSON.stringify({ target: stratum.__napiBindingTarget, applied: result.applied.length }));
    })();`;
  const child = spawnSync(process.execPath, ['--no-warnings', '-e', script], {
    cwd: ROOT,
    // Set either way: the suite itself may run on the WebAssembly build.
    env: { ...process.env, NAPI_RS_FORCE_WASI: build === 'wasm' ? 'error' : '' },
    encoding: 'utf8',
    // The deadline: a process still running then is killed, and the test fails.
    timeout: 30000,
  });
  expect(child.stderr).toBe('');
  expect(child.signal).toBeNull();
  expect(child.status).toBe(0);
  expect(JSON.parse(child.stdout)).toEqual({ target: build === 'wasm' ? 'wasm32-wasi' : 'native', applied: 2 });
});
