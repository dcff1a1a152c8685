// Through PgBouncer in transaction pooling mode, where a session advisory
// lock means nothing: lockMode 'transaction' keeps every migration exactly once.
const path = require('node:path');
const { spawn } = require('node:child_process');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir } = require('./helpers/fixtures');
const { startPgBouncer } = require('./helpers/pgbouncer');

const ADDON = path.join(__dirname, '..');

let bouncer;
let db;
beforeAll(async () => {
  bouncer = await startPgBouncer();
});
afterAll(() => bouncer && bouncer.stop());
beforeEach(async () => {
  db = await createDatabase();
});
afterEach(async () => {
  await db.drop();
});

const viaBouncer = () => db.url.replace(':5432/', `:${bouncer.port}/`);

function migrateIn(child, options) {
  const script = `require(${JSON.stringify(ADDON)}).migrate(${JSON.stringify(options)})
    .then((r) => process.stdout.write(JSON.stringify(r)))
    .catch((e) => { process.stderr.write(e.code + ' ' + e.message); process.exitCode = 1; });`;
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['-e', script]);
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('ten processes through PgBouncer apply each migration exactly once, in order', async () => {
  const files = {};
  for (let i = 1; i <= 20; i += 1) {
    files[`${String(i).padStart(3, '0')}_step.sql`] =
      `CREATE TABLE IF NOT EXISTS runs (version INT, at TIMESTAMPTZ DEFAULT clock_timestamp());\nINSERT INTO runs (version) VALUES (${i});\n`;
  }
  const dir = migrationsDir(files);
  const options = { databaseUrl: viaBouncer(), dir, lockMode: 'transaction' };
  const results = await Promise.all(Array.from({ length: 10 }, () => migrateIn(true, options)));
  for (const result of results) expect(result).toMatchObject({ code: 0, stderr: '' });
  const total = results.reduce((sum, r) => sum + JSON.parse(r.stdout).applied.length, 0);
  expect(total).toBe(20);
  const runs = await query(db.url, 'SELECT version FROM runs ORDER BY at, version');
  expect(runs.map((r) => r.version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  const rows = await query(db.url, 'SELECT name, duration_ms FROM migrations ORDER BY id');
  expect(rows).toHaveLength(20);
  expect(rows.every((r) => r.duration_ms !== null)).toBe(true);
});

test('status, fresh and reset work through PgBouncer too', async () => {
  const dir = migrationsDir({ '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n' });
  const options = { databaseUrl: viaBouncer(), dir, lockMode: 'transaction' };
  expect((await stratum.migrate(options)).applied).toHaveLength(1);
  expect((await stratum.status(options)).applied).toBe(1);
  await query(db.url, 'INSERT INTO a VALUES (1)');
  expect((await stratum.fresh(options)).applied).toHaveLength(1);
  expect(await query(db.url, 'SELECT count(*)::int AS n FROM a')).toEqual([{ n: 0 }]);
  expect((await stratum.reset(options)).dropped).toBeGreaterThan(0);
  expect(await query(db.url, "SELECT to_regclass('public.a') AS a, to_regclass('public.migrations') AS m")).toEqual([
    { a: null, m: null },
  ]);
});

test('a no-transaction file is refused in lockMode transaction, before anything runs', async () => {
  const dir = migrationsDir({
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n',
    '002_i.sql': '-- stratum:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS a_id ON a (id);\n',
  });
  const error = await stratum
    .migrate({ databaseUrl: viaBouncer(), dir, lockMode: 'transaction' })
    .catch((e) => e);
  expect(error.code).toBe('E_CONFIG');
  expect(error.message).toMatch(/002_i\.sql.*lockMode "session"/);
  expect(await query(db.url, "SELECT to_regclass('public.a') AS t")).toEqual([{ t: null }]);
});

test('an unknown lockMode is a config error', async () => {
  await expect(stratum.status({ databaseUrl: viaBouncer(), lockMode: 'table' })).rejects.toMatchObject({
    code: 'E_CONFIG',
  });
});
