// Which statement of a message failed: told from the statements stratum
// built the message from, never by counting `;` in its text.
const crypto = require('node:crypto');
const { Client } = require('pg');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir } = require('./helpers/fixtures');
const { waitFor } = require('./helpers/wait');

let db;
beforeEach(async () => {
  db = await createDatabase();
});
afterEach(async () => {
  await db.drop();
});

/** The advisory lock key stratum derives from the tracking table's schema and name. */
function lockKey(schema, table) {
  const digest = crypto.createHash('sha256').update(`stratum migration lock ${schema}.${table}`).digest('hex');
  return BigInt.asIntN(64, BigInt(`0x${digest.slice(0, 16)}`)).toString();
}

test('a quoted schema name holding ";" does not shift which statement is blamed', async () => {
  const schema = 'bill;ing';
  await query(db.url, `CREATE SCHEMA "${schema}"`);
  const dir = migrationsDir({
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n',
    // Pipelined after 001, its message starts with a check naming the schema.
    '002_b.sql': 'CREATE TABLE IF NOT EXISTS b (id INT);\nINSERT INTO b VALUES (1)\n  ON CONFLICT DO NOTHING;\nINSERT INTO b SELECT 1 / 0\n  ON CONFLICT DO NOTHING;\n',
  });
  const failure = await stratum.migrate({ databaseUrl: db.url, dir, schema }).catch((error) => error);
  expect(failure.code).toBe('E_SQL');
  expect(failure.pgCode).toBe('22012');
  expect(failure.file).toMatch(/002_b\.sql$/);
  // Line 4 is `INSERT INTO b SELECT 1 / 0`, the statement that failed.
  expect(failure.line).toBe(4);
  expect(failure.excerpt.split('\n')[0]).toBe('INSERT INTO b SELECT 1 / 0');
  expect(failure.applied.map((m) => m.name)).toEqual(['001_a']);
});

test('a failure in stratum\'s own statement says so instead of blaming a line of the file', async () => {
  const dir = migrationsDir({
    '001_a.sql': 'SELECT 1;\n',
    // The tracking row of version 2 breaks a rule the file itself adds.
    '002_guard.sql':
      '-- stratum:allow no-tracking-insert\nALTER TABLE migrations ADD CONSTRAINT only_one CHECK (version < 2) NOT VALID;\n',
  });
  const failure = await stratum.migrate({ databaseUrl: db.url, dir }).catch((error) => error);
  expect(failure.code).toBe('E_SQL');
  expect(failure.pgCode).toBe('23514');
  expect(failure.message).toContain('while recording the migration in the tracking table');
  expect(failure.line).toBeUndefined();
});

test('transaction lock mode: a racer that cannot get the lock in time gets E_LOCK_TIMEOUT', async () => {
  const holder = new Client({ connectionString: db.url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`SELECT pg_advisory_xact_lock(${lockKey('public', 'migrations')})`);
    const dir = migrationsDir({
      // Two files: the first commits with its flush deferred, which adds a setting before the lock.
      '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n',
      '002_b.sql': 'CREATE TABLE IF NOT EXISTS b (id INT);\n',
    });
    const started = Date.now();
    const failure = await stratum
      .migrate({ databaseUrl: db.url, dir, lockMode: 'transaction', lockTimeoutMs: 300 })
      .catch((error) => error);
    expect(failure.code).toBe('E_LOCK_TIMEOUT');
    expect(failure.file).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(10000);
    await waitFor(db.url, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted", (rows) => rows[0].n === 0);
  } finally {
    await holder.query('ROLLBACK');
    await holder.end();
  }
  expect(await query(db.url, "SELECT to_regclass('public.a') AS t")).toEqual([{ t: null }]);
});
