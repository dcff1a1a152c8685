// Faults on a migration's worst day: a killed process, a killed connection,
// racing instances, a killed fresh. Nothing half-applied, nothing run twice.
const path = require('node:path');
const { spawn } = require('node:child_process');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir } = require('./helpers/fixtures');
const { backendRunning, sessionsGone } = require('./helpers/wait');

const ADDON = path.join(__dirname, '..');

/** A child process that calls `fn` of the addon; resolves with its exit. */
function child(fn, options) {
  const script = `require(${JSON.stringify(ADDON)})
    .${fn}(${JSON.stringify(options)})
    .then((r) => { process.stdout.write(JSON.stringify(r)); })
    .catch((e) => { process.stderr.write(e.code + ' ' + e.message); process.exitCode = 1; });`;
  const proc = spawn(process.execPath, ['-e', script]);
  const done = new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk) => (stdout += chunk));
    proc.stderr.on('data', (chunk) => (stderr += chunk));
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { proc, done };
}

const tracking = async (url) => (await query(url, 'SELECT name FROM migrations ORDER BY id')).map((r) => r.name);
const exists = async (url, table) =>
  (await query(url, 'SELECT to_regclass($1) IS NOT NULL AS e', [table]))[0].e;

let db;
beforeEach(async () => {
  db = await createDatabase();
});
afterEach(async () => {
  await db.drop();
});

test('twenty processes race over fifty migrations: each applied exactly once, in order, all exit 0', async () => {
  const files = {};
  for (let i = 1; i <= 50; i += 1) {
    files[`${String(i).padStart(3, '0')}_step.sql`] =
      `CREATE TABLE IF NOT EXISTS runs (version INT, at TIMESTAMPTZ DEFAULT clock_timestamp());\nINSERT INTO runs (version) VALUES (${i});\n`;
  }
  const dir = migrationsDir(files);
  const results = await Promise.all(
    Array.from({ length: 20 }, () => child('migrate', { databaseUrl: db.url, dir }).done),
  );
  for (const result of results) expect(result).toMatchObject({ code: 0, stderr: '' });
  const total = results.reduce((sum, r) => sum + JSON.parse(r.stdout).applied.length, 0);
  expect(total).toBe(50);
  const runs = await query(db.url, 'SELECT version FROM runs ORDER BY at, version');
  expect(runs.map((r) => r.version)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  expect(await tracking(db.url)).toHaveLength(50);
});

test('SIGKILL mid-migration: that migration is whole or absent, the lock goes, the next run finishes', async () => {
  const dir = migrationsDir({
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n',
    '002_slow.sql': 'CREATE TABLE IF NOT EXISTS slow (id INT);\nSELECT pg_sleep(1.5);\n',
    '003_c.sql': 'CREATE TABLE IF NOT EXISTS c (id INT);\n',
  });
  const run = child('migrate', { databaseUrl: db.url, dir });
  await backendRunning(db.url, '%pg_sleep(1.5)%');
  run.proc.kill('SIGKILL');
  expect((await run.done).signal).toBe('SIGKILL');
  await sessionsGone(db.url);

  // The server may finish what it had received (migrations are pipelined):
  // whatever is applied is a whole prefix, each file together with its row.
  const all = ['001_a', '002_slow', '003_c'];
  const names = await tracking(db.url);
  expect(names).toEqual(all.slice(0, names.length));
  expect(names.length).toBeGreaterThanOrEqual(1);
  expect(await exists(db.url, 'slow')).toBe(names.includes('002_slow'));
  expect(await exists(db.url, 'c')).toBe(names.includes('003_c'));

  const next = await stratum.migrate({ databaseUrl: db.url, dir, lockTimeoutMs: 2000 });
  expect(next.applied.map((m) => m.name)).toEqual(all.slice(names.length));
  expect(await tracking(db.url)).toEqual(['001_a', '002_slow', '003_c']);
});

test('the server kills the connection mid-migration: E_CONNECTION_LOST, nothing partial, the next run finishes', async () => {
  const dir = migrationsDir({
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n',
    '002_slow.sql': 'CREATE TABLE IF NOT EXISTS slow (id INT);\nSELECT pg_sleep(5);\n',
  });
  const running = stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  const pid = await backendRunning(db.url, '%pg_sleep(5)%');
  await query(db.url, 'SELECT pg_terminate_backend($1)', [pid]);
  const error = await running;
  expect(error.code).toBe('E_CONNECTION_LOST');
  expect(error.message).toMatch(/002_slow\.sql/);
  await sessionsGone(db.url);
  expect(await tracking(db.url)).toEqual(['001_a']);
  expect(await exists(db.url, 'slow')).toBe(false);

  // The next run applies the file that was cut off. Still pending, it may
  // change: here it no longer sleeps.
  require('node:fs').writeFileSync(path.join(dir, '002_slow.sql'), 'CREATE TABLE IF NOT EXISTS slow (id INT);\n');
  expect((await stratum.status({ databaseUrl: db.url, dir })).pending).toBe(1);
  const next = await stratum.migrate({ databaseUrl: db.url, dir, lockTimeoutMs: 2000 });
  expect(next.applied.map((m) => m.name)).toEqual(['002_slow']);
  expect(await tracking(db.url)).toEqual(['001_a', '002_slow']);
  expect(await exists(db.url, 'slow')).toBe(true);
});

test('fresh killed half-way leaves the database exactly as it was', async () => {
  const dir = migrationsDir({
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n',
    '002_b.sql': 'CREATE TABLE IF NOT EXISTS b (id INT);\n',
  });
  await stratum.migrate({ databaseUrl: db.url, dir });
  await query(db.url, 'INSERT INTO a VALUES (42)');
  require('node:fs').writeFileSync(
    path.join(dir, '003_slow.sql'),
    'CREATE TABLE IF NOT EXISTS slow (id INT);\nSELECT pg_sleep(5);\n',
  );
  const run = child('fresh', { databaseUrl: db.url, dir });
  const pid = await backendRunning(db.url, '%pg_sleep(5)%');
  run.proc.kill('SIGKILL');
  await run.done;
  // The server would finish the sleep; end the session the way a dead client's would end.
  await query(db.url, 'SELECT pg_terminate_backend($1)', [pid]);
  await sessionsGone(db.url);
  expect(await query(db.url, 'SELECT id FROM a')).toEqual([{ id: 42 }]);
  expect(await tracking(db.url)).toEqual(['001_a', '002_b']);
  expect(await exists(db.url, 'slow')).toBe(false);
});

test('fresh that fails on a bad migration drops nothing', async () => {
  const dir = migrationsDir({ '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n' });
  await stratum.migrate({ databaseUrl: db.url, dir });
  await query(db.url, 'INSERT INTO a VALUES (7)');
  require('node:fs').writeFileSync(path.join(dir, '002_bad.sql'), 'SELECT 1/0;\n');
  const error = await stratum.fresh({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error.code).toBe('E_SQL');
  // 001_a ran again inside fresh's one transaction, which rolled back: the error claims nothing applied.
  expect(error.applied).toBeUndefined();
  expect(await query(db.url, 'SELECT id FROM a')).toEqual([{ id: 7 }]);
  expect(await tracking(db.url)).toEqual(['001_a']);
});

test('a table locked by live traffic: the migration gives up fast, names the holder, applies nothing', async () => {
  const dir = migrationsDir({ '001_t.sql': 'CREATE TABLE IF NOT EXISTS customers (id INT);\n' });
  await stratum.migrate({ databaseUrl: db.url, dir });
  require('node:fs').writeFileSync(
    path.join(dir, '002_alter.sql'),
    'ALTER TABLE customers ADD COLUMN IF NOT EXISTS phone TEXT;\nCREATE TABLE IF NOT EXISTS also (id INT);\n',
  );
  const { Client } = require('pg');
  const traffic = new Client({ connectionString: db.url });
  await traffic.connect();
  try {
    await traffic.query('BEGIN');
    await traffic.query('SELECT * FROM customers');
    const started = Date.now();
    const error = await stratum
      .migrate({ databaseUrl: db.url, dir, tableLockTimeoutMs: 300, tableLockRetries: 0 })
      .catch((e) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(error).toMatchObject({ code: 'E_SQL', pgCode: '55P03', line: 1 });
    expect(error.detail).toMatch(/pid \d+ .*AccessShareLock on customers/);
    expect(error.hint).toMatch(/tableLockTimeoutMs/);
    expect(await tracking(db.url)).toEqual(['001_t']);
    expect(await exists(db.url, 'also')).toBe(false);
  } finally {
    await traffic.query('ROLLBACK');
    await traffic.end();
  }
  const after = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(after.applied.map((m) => m.name)).toEqual(['002_alter']);
});

test('a migration that fails at its COMMIT stops the pipelined ones after it', async () => {
  const dir = migrationsDir({
    '001_tables.sql':
      'CREATE TABLE IF NOT EXISTS parent (id INT PRIMARY KEY);\n' +
      'CREATE TABLE IF NOT EXISTS child (parent_id INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);\n',
    // The foreign key is checked only at COMMIT, after every statement succeeded.
    '002_orphan.sql': 'INSERT INTO child VALUES (42);\n',
    '003_after.sql': 'CREATE TABLE IF NOT EXISTS after_orphan (id INT);\n',
    '004_later.sql': 'CREATE TABLE IF NOT EXISTS later (id INT);\n',
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_SQL', pgCode: '23503' });
  expect(error.file).toMatch(/002_orphan\.sql$/);
  expect(await tracking(db.url)).toEqual(['001_tables']);
  expect(await exists(db.url, 'after_orphan')).toBe(false);
  expect(await exists(db.url, 'later')).toBe(false);
});
