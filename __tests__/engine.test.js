// The engine's promises, checked against a real PostgreSQL server.
const fs = require('node:fs');
const path = require('node:path');
const stratum = require('..');
const { createDatabase, query, withClient } = require('./helpers/db');
const { migrationsDir, writeFiles } = require('./helpers/fixtures');
const { until, waitingForAdvisoryLock } = require('./helpers/wait');

const TABLES = {
  '001_users.sql': 'CREATE TABLE IF NOT EXISTS users (id SERIAL PRIMARY KEY, email TEXT NOT NULL);\n',
  '002_posts.sql':
    'CREATE TABLE IF NOT EXISTS posts (id SERIAL PRIMARY KEY, user_id INT REFERENCES users(id));\n',
  '010_seed.sql': "INSERT INTO users (id, email) VALUES (1, 'a@example.com') ON CONFLICT DO NOTHING;\n",
};

let db;
beforeEach(async () => {
  db = await createDatabase();
});
afterEach(async () => {
  await db.drop();
});

const trackingRows = (url, table = 'migrations') =>
  query(url, `SELECT name, version, checksum, duration_ms FROM "${table}" ORDER BY id`);

test('applies in numeric order, each once, and a second run applies nothing', async () => {
  const dir = migrationsDir({ ...TABLES, '9_early.sql': 'SELECT 1;\n' });
  const events = [];
  const first = await stratum.migrate({ databaseUrl: db.url, dir, onProgress: (e) => events.push(e) });
  expect(first.applied.map((m) => m.name)).toEqual(['001_users', '002_posts', '9_early', '010_seed']);
  expect(first.applied.map((m) => m.version)).toEqual([1, 2, 9, 10]);
  expect(first.alreadyApplied).toBe(0);
  for (const m of first.applied) expect(m.checksum).toMatch(/^[0-9a-f]{64}$/);
  const rows = await trackingRows(db.url);
  expect(rows.map((r) => r.name)).toEqual(['001_users', '002_posts', '9_early', '010_seed']);
  expect(rows.map((r) => Number(r.version))).toEqual([1, 2, 9, 10]);
  expect(rows[0].checksum).toBe(first.applied[0].checksum);
  // Progress events arrive on the event loop, possibly after the result.
  const ends = () => events.filter((e) => e.event === 'end');
  await until(() => ends().length >= 4, { what: 'four end events' });
  expect(ends().map((e) => e.version)).toEqual([1, 2, 9, 10]);

  const second = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(second.applied).toEqual([]);
  expect(second.alreadyApplied).toBe(4);
  expect(await trackingRows(db.url)).toHaveLength(4);
});

test('1000 follows 999', async () => {
  const dir = migrationsDir({ '1000_late.sql': 'SELECT 1;', '999_early.sql': 'SELECT 1;' });
  const result = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(result.applied.map((m) => m.version)).toEqual([999, 1000]);
});

test('durations are measured: a migration that sleeps 50 ms took at least 50 ms', async () => {
  // The sleeper is the first file, timed from the moment it was sent.
  const dir = migrationsDir({ '001_nap.sql': 'SELECT pg_sleep(0.05);\n', '002_quick.sql': 'SELECT 1;\n' });
  const events = [];
  const result = await stratum.migrate({ databaseUrl: db.url, dir, onProgress: (e) => events.push(e) });
  expect(result.applied[0].durationMs).toBeGreaterThanOrEqual(50);
  const napEnd = () => events.find((e) => e.event === 'end' && e.name === '001_nap');
  await until(napEnd, { what: 'the end event of 001_nap' });
  expect(napEnd().durationMs).toBe(result.applied[0].durationMs);
  // The server's own measure, kept in the tracking row and shown by status.
  const [nap] = await trackingRows(db.url);
  expect(Number(nap.duration_ms)).toBeGreaterThanOrEqual(50);
  const status = await stratum.status({ databaseUrl: db.url, dir });
  expect(status.migrations[0].durationMs).toBe(Number(nap.duration_ms));
});

test('status tells applied, pending, changed and missing without writing anything', async () => {
  const dir = migrationsDir(TABLES);
  const before = await stratum.status({ databaseUrl: db.url, dir });
  expect(before.pending).toBe(3);
  expect(before.migrations.every((m) => m.state === 'pending')).toBe(true);
  // status does not even create the tracking table.
  expect(await query(db.url, "SELECT to_regclass('public.migrations') AS t")).toEqual([{ t: null }]);

  await stratum.migrate({ databaseUrl: db.url, dir });
  writeFiles(dir, {
    '002_posts.sql': `${TABLES['002_posts.sql']}-- edited\n`,
    '011_new.sql': 'SELECT 1;',
  });
  fs.unlinkSync(path.join(dir, '010_seed.sql'));
  const after = await stratum.status({ databaseUrl: db.url, dir });
  expect(after.migrations.map((m) => [m.version, m.state])).toEqual([
    [1, 'applied'],
    [2, 'changed'],
    [10, 'missing'],
    [11, 'pending'],
  ]);
  expect(after.migrations[0].appliedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  // What status tells of an applied file is its tracking row.
  const [users] = await trackingRows(db.url);
  expect(after.migrations[0].durationMs).toBe(Number(users.duration_ms));
  expect(after.migrations[0].checksum).toBe(users.checksum);
  // What a pending file does not have is absent, not null.
  expect(Object.keys(after.migrations[3]).sort()).toEqual(['checksum', 'name', 'state', 'version']);
  expect(Object.keys(after).sort()).toEqual(['applied', 'migrations', 'pending']);
  expect(after.pending).toBe(1);
});

test('a changed file is refused before anything is applied', async () => {
  const dir = migrationsDir(TABLES);
  await stratum.migrate({ databaseUrl: db.url, dir });
  writeFiles(dir, {
    '001_users.sql': 'CREATE TABLE IF NOT EXISTS users (id BIGSERIAL PRIMARY KEY);\n',
    '020_more.sql': 'CREATE TABLE IF NOT EXISTS more (id INT);\n',
  });
  await expect(stratum.migrate({ databaseUrl: db.url, dir })).rejects.toMatchObject({
    code: 'E_CHANGED',
    message: expect.stringContaining('001_users.sql'),
  });
  expect(await query(db.url, "SELECT to_regclass('public.more') AS t")).toEqual([{ t: null }]);
});

test('a missing applied file is refused', async () => {
  const dir = migrationsDir(TABLES);
  await stratum.migrate({ databaseUrl: db.url, dir });
  fs.unlinkSync(path.join(dir, '002_posts.sql'));
  await expect(stratum.migrate({ databaseUrl: db.url, dir })).rejects.toMatchObject({
    code: 'E_MISSING',
    message: expect.stringContaining('002_posts'),
  });
});

test('a pending file below the newest applied one is out of order, with a new number', async () => {
  const dir = migrationsDir(TABLES);
  await stratum.migrate({ databaseUrl: db.url, dir });
  writeFiles(dir, { '005_late.sql': 'SELECT 1;' });
  await expect(stratum.migrate({ databaseUrl: db.url, dir })).rejects.toMatchObject({
    code: 'E_OUT_OF_ORDER',
    message: expect.stringContaining('renumber it to 011'),
  });
});

test('a CRLF-only change and a BOM are not a change', async () => {
  const dir = migrationsDir(TABLES);
  await stratum.migrate({ databaseUrl: db.url, dir });
  writeFiles(dir, { '001_users.sql': `\ufeff${TABLES['001_users.sql'].replace(/\n/g, '\r\n')}` });
  const again = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(again.applied).toEqual([]);
  const status = await stratum.status({ databaseUrl: db.url, dir });
  expect(status.migrations[0].state).toBe('applied');
});

test('a failing migration rolls back whole, names file:line, and keeps earlier ones', async () => {
  const dir = migrationsDir({
    '001_ok.sql': 'CREATE TABLE IF NOT EXISTS ok (id INT);\n',
    '002_bad.sql': [
      '-- a comment',
      'CREATE TABLE IF NOT EXISTS half (id INT);',
      '',
      'INSERT INTO half VALUES (1) ON CONFLICT DO NOTHING;',
      'SELECT * FROM nowhere;',
      '',
    ].join('\n'),
    '003_after.sql': 'CREATE TABLE IF NOT EXISTS after_bad (id INT);\n',
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  // jest runs tests in their own realm, so instanceof cannot be used here.
  expect(Object.prototype.toString.call(error)).toBe('[object Error]');
  expect(error).toMatchObject({ code: 'E_SQL', pgCode: '42P01', line: 5, column: 15 });
  expect(error.file).toMatch(/002_bad\.sql$/);
  expect(error.message).toMatch(/002_bad\.sql:5:15: relation "nowhere" does not exist/);
  expect(error.hint).toMatch(/earlier migration/);
  const tables = await query(
    db.url,
    "SELECT to_regclass('public.ok') AS ok, to_regclass('public.half') AS half, to_regclass('public.after_bad') AS after",
  );
  expect(tables).toEqual([{ ok: 'ok', half: null, after: null }]);
  expect((await trackingRows(db.url)).map((r) => r.name)).toEqual(['001_ok']);
});

test('a runtime error rolls back everything of that file, tracking row included', async () => {
  const dir = migrationsDir({
    '001_bad.sql': 'CREATE TABLE IF NOT EXISTS t (id INT);\nINSERT INTO t VALUES (1);\nSELECT 1/0;\n',
  });
  // PostgreSQL gives no position for a division by zero: the failing
  // statement is found by counting the statements that completed.
  await expect(stratum.migrate({ databaseUrl: db.url, dir })).rejects.toMatchObject({
    code: 'E_SQL',
    pgCode: '22012',
    line: 3,
    column: 1,
  });
  expect(await query(db.url, "SELECT to_regclass('public.t') AS t")).toEqual([{ t: null }]);
  expect(await trackingRows(db.url)).toEqual([]);
});

test('fresh drops every kind of object and re-runs everything; reset drops it all', async () => {
  const dir = migrationsDir({
    ...TABLES,
    '020_objects.sql': [
      'CREATE OR REPLACE VIEW user_emails AS SELECT email FROM users;',
      'CREATE MATERIALIZED VIEW IF NOT EXISTS user_count AS SELECT count(*) FROM users;',
      'CREATE SEQUENCE IF NOT EXISTS invoice_no;',
      "DO $$ BEGIN CREATE TYPE mood AS ENUM ('ok', 'sad'); EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
      'CREATE OR REPLACE FUNCTION add_one(i INT) RETURNS INT LANGUAGE sql AS $$ SELECT i + 1 $$;',
      '',
    ].join('\n'),
  });
  await stratum.migrate({ databaseUrl: db.url, dir });
  await query(db.url, "INSERT INTO users (id, email) VALUES (2, 'b@example.com')");
  const fresh = await stratum.fresh({ databaseUrl: db.url, dir });
  expect(fresh.applied).toHaveLength(4);
  expect(fresh.alreadyApplied).toBe(0);
  expect(await query(db.url, 'SELECT count(*)::int AS n FROM users')).toEqual([{ n: 1 }]);

  const reset = await stratum.reset({ databaseUrl: db.url });
  expect(reset.dropped).toBeGreaterThanOrEqual(8);
  const left = await query(
    db.url,
    `SELECT (SELECT count(*)::int FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public') AS relations,
            (SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public') AS routines,
            (SELECT count(*)::int FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public') AS types`,
  );
  expect(left).toEqual([{ relations: 0, routines: 0, types: 0 }]);
});

test('bad file names are errors that name every file, never skipped', async () => {
  const dir = migrationsDir({
    '001_ok.sql': 'SELECT 1;',
    '006-x.sql': 'SELECT 1;',
    '007_X.sql': 'SELECT 1;',
    'README.md': 'not a migration',
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error.code).toBe('E_FILENAME');
  expect(error.message).toContain('006-x.sql');
  expect(error.message).toContain('007_X.sql');
  expect(error.message).not.toContain('README');
  expect(await query(db.url, "SELECT to_regclass('public.migrations') AS t")).toEqual([{ t: null }]);
});

test('two files with one number are a duplicate-version error that says how to renumber', async () => {
  const dir = migrationsDir({ '006_a.sql': 'SELECT 1;', '006_b.sql': 'SELECT 2;' });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error.code).toBe('E_DUPLICATE_VERSION');
  expect(error.message).toContain('006_a.sql');
  expect(error.message).toContain('006_b.sql');
  expect(error.message).toContain('renumber');
});

test('a tracking table written by the earlier JavaScript runner is adopted in place', async () => {
  const dir = migrationsDir(TABLES);
  await query(
    db.url,
    `CREATE TABLE migrations (id SERIAL PRIMARY KEY, name VARCHAR(255) UNIQUE NOT NULL, executed_at TIMESTAMP DEFAULT NOW());
     CREATE TABLE users (id SERIAL PRIMARY KEY, email TEXT NOT NULL);
     INSERT INTO migrations (name) VALUES ('001_users');`,
  );
  const result = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(result.adopted).toEqual(['001_users']);
  expect(result.applied.map((m) => m.name)).toEqual(['002_posts', '010_seed']);
  const rows = await trackingRows(db.url);
  expect(rows.map((r) => [r.name, Number(r.version)])).toEqual([
    ['001_users', 1],
    ['002_posts', 2],
    ['010_seed', 10],
  ]);
  expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.checksum))).toBe(true);
  // From now on a change to the adopted file is caught.
  writeFiles(dir, { '001_users.sql': 'CREATE TABLE IF NOT EXISTS users (id INT);\n' });
  await expect(stratum.migrate({ databaseUrl: db.url, dir })).rejects.toMatchObject({ code: 'E_CHANGED' });
});

test('schema and table options are quoted, never executed', async () => {
  const dir = migrationsDir({ '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);' });
  const table = 'x"; DROP TABLE a; --';
  await stratum.migrate({ databaseUrl: db.url, dir, schema: 'odd "schema"', table });
  const rows = await query(db.url, `SELECT name FROM "odd ""schema"""."x""; DROP TABLE a; --"`);
  expect(rows).toEqual([{ name: '001_a' }]);
  expect(await query(db.url, "SELECT to_regclass('public.a') AS t")).toEqual([{ t: 'a' }]);
});

test('connection failures are E_CONNECT and never show the password', async () => {
  const error = await stratum
    .migrate({ databaseUrl: 'postgres://app:Sup3rS3cret@127.0.0.1:1/nowhere', dir: migrationsDir() })
    .catch((e) => e);
  expect(error.code).toBe('E_CONNECT');
  expect(JSON.stringify({ ...error, message: error.message })).not.toContain('Sup3rS3cret');
});

test('a missing migrations directory is a config error', async () => {
  await expect(
    stratum.migrate({ databaseUrl: db.url, dir: path.join(migrationsDir(), 'nope') }),
  ).rejects.toMatchObject({ code: 'E_CONFIG' });
});

test('a run that cannot get the lock in time fails with E_LOCK_TIMEOUT and applies nothing', async () => {
  // The first run's migration waits at a gate the test holds, so the first
  // run holds the migration lock for exactly as long as the test wants.
  const GATE = 4242;
  const gated = migrationsDir({ '001_gated.sql': `SELECT pg_advisory_xact_lock(${GATE});\n` });
  await withClient(db.url, async (gate) => {
    await gate.query('SELECT pg_advisory_lock($1)', [GATE]);
    // No table-lock bound for the holder: its wait at the gate is the test's to end.
    const holder = stratum.migrate({ databaseUrl: db.url, dir: gated, tableLockTimeoutMs: 0 }).catch((e) => e);
    await waitingForAdvisoryLock(db.url, GATE);
    const started = Date.now();
    const error = await stratum
      .migrate({ databaseUrl: db.url, dir: gated, lockTimeoutMs: 200 })
      .catch((e) => e);
    expect(error.code).toBe('E_LOCK_TIMEOUT');
    // Far below the default wait of a minute.
    expect(Date.now() - started).toBeLessThan(10000);
    await gate.query('SELECT pg_advisory_unlock($1)', [GATE]);
    expect(await holder).toMatchObject({ applied: [{ name: '001_gated' }] });
  });
  expect((await trackingRows(db.url)).map((r) => r.name)).toEqual(['001_gated']);
});

describe('a server that is not up yet', () => {
  const net = require('node:net');

  // A port with nothing behind it until `start()`: then it forwards to the real server.
  async function lateServer() {
    const probe = net.createServer();
    await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address();
    await new Promise((resolve) => probe.close(resolve));
    let server;
    return {
      port,
      start: () =>
        new Promise((resolve) => {
          server = net.createServer((socket) => {
            const upstream = net.connect(5432, '127.0.0.1');
            socket.pipe(upstream).pipe(socket);
            const close = () => {
              socket.destroy();
              upstream.destroy();
            };
            socket.on('error', close);
            upstream.on('error', close);
          });
          server.listen(port, '127.0.0.1', resolve);
        }),
      stop: () => (server ? new Promise((resolve) => server.close(resolve)) : undefined),
    };
  }

  test('without waitMs a closed port fails at once with E_CONNECT', async () => {
    const late = await lateServer();
    const started = Date.now();
    const url = db.url.replace(':5432/', `:${late.port}/`);
    const error = await stratum.migrate({ databaseUrl: url, dir: migrationsDir() }).catch((e) => e);
    expect(error.code).toBe('E_CONNECT');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('a broken file name is reported at once, without waiting for the server', async () => {
    const late = await lateServer();
    const started = Date.now();
    const url = db.url.replace(':5432/', `:${late.port}/`);
    const dir = migrationsDir({ '001_ok.sql': 'SELECT 1;', '002-bad.sql': 'SELECT 1;' });
    const error = await stratum.migrate({ databaseUrl: url, dir, waitMs: 20000 }).catch((e) => e);
    expect(error.code).toBe('E_FILENAME');
    expect(Date.now() - started).toBeLessThan(10000);
  });

  test('with waitMs it retries until the deadline, then fails clearly', async () => {
    const late = await lateServer();
    const started = Date.now();
    const url = db.url.replace(':5432/', `:${late.port}/`);
    const error = await stratum.migrate({ databaseUrl: url, dir: migrationsDir(), waitMs: 800 }).catch((e) => e);
    expect(error.code).toBe('E_CONNECT');
    expect(error.message).toContain('gave up after waiting 800 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });

  test('with waitMs a server that comes up later is reached and migrated', async () => {
    const late = await lateServer();
    const url = db.url.replace(':5432/', `:${late.port}/`);
    // What is waited for here is time itself: the server comes up a while
    // after the run began, so the run's first attempts find nothing.
    const timer = setTimeout(() => late.start(), 1200);
    try {
      const dir = migrationsDir({ '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);' });
      const result = await stratum.migrate({ databaseUrl: url, dir, waitMs: 10000 });
      expect(result.applied.map((m) => m.name)).toEqual(['001_a']);
    } finally {
      clearTimeout(timer);
      await late.stop();
    }
  });
});
