// The house rules, enforced by the tool: lint findings stop migrate before
// anything runs, and the files that need special handling run correctly.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir, writeFiles, CLI } = require('./helpers/fixtures');

let db;
beforeEach(async () => {
  db = await createDatabase();
});
afterEach(async () => {
  await db.drop();
});

const tracking = async (url) => (await query(url, 'SELECT name FROM migrations ORDER BY id')).map((r) => r.name);
const exists = async (url, name) => (await query(url, 'SELECT to_regclass($1) IS NOT NULL AS e', [name]))[0].e;

test('a pending file with VACUUM blocks migrate: nothing at all is applied', async () => {
  const dir = migrationsDir({
    '001_ok.sql': 'CREATE TABLE IF NOT EXISTS ok (id INT);\n',
    '002_vacuum.sql': "-- tidy up\nSELECT 'VACUUM is only a word here';\nVACUUM ANALYZE ok;\n",
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error.code).toBe('E_LINT');
  expect(error).toMatchObject({ line: 3, column: 1 });
  expect(error.file).toMatch(/002_vacuum\.sql$/);
  expect(error.diagnostics).toEqual([
    expect.objectContaining({ rule: 'not-in-transaction', severity: 'error', line: 3, column: 1 }),
  ]);
  expect(error.diagnostics[0].help).toMatch(/stratum:no-transaction/);
  expect(await exists(db.url, 'ok')).toBe(false);
  expect(await exists(db.url, 'migrations')).toBe(false);
});

test('every blocking rule is caught before anything runs', async () => {
  const dir = migrationsDir({
    '001_rules.sql': [
      'CREATE TABLE t (id INT);',
      "INSERT INTO migrations (name) VALUES ('001_rules');",
      'BEGIN;',
      'CREATE INDEX IF NOT EXISTS t_id ON t (id);',
      'COMMIT;',
      '',
    ].join('\n'),
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error.code).toBe('E_LINT');
  const rules = error.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.rule, d.line]);
  expect(rules).toEqual(
    expect.arrayContaining([
      ['create-if-not-exists', 1],
      ['no-tracking-insert', 2],
      ['transaction-control', 3],
    ]),
  );
});

test('a syntax error on line 12 is reported at line 12', async () => {
  const lines = Array.from({ length: 11 }, (_, i) => `CREATE TABLE IF NOT EXISTS t${i} (id INT);`);
  lines.push('CREATE TABLE IF NOT EXISTS broken (id INT,, name TEXT);', '');
  const dir = migrationsDir({ '001_twelve.sql': lines.join('\n') });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(['E_LINT', 'E_SQL']).toContain(error.code);
  expect(error.line).toBe(12);
  expect(await exists(db.url, 't0')).toBe(false);
});

test('warnings never block: they come back with the result', async () => {
  const dir = migrationsDir({
    '001_t.sql': 'CREATE TABLE IF NOT EXISTS t (id INT PRIMARY KEY);\nINSERT INTO t VALUES (1);\n',
  });
  const result = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(result.applied).toHaveLength(1);
  expect(result.warnings).toEqual([expect.objectContaining({ rule: 'insert-on-conflict', line: 2 })]);
});

test('-- stratum:allow silences one rule on the next statement; an unknown id is an error', async () => {
  const dir = migrationsDir({
    '001_t.sql': '-- stratum:allow create-if-not-exists\nCREATE TABLE t (id INT);\n',
  });
  expect((await stratum.lint({ dir })).errors).toBe(0);
  const result = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(result.applied).toHaveLength(1);

  const bad = migrationsDir({ '001_t.sql': '-- stratum:allow no-such-rule\nCREATE TABLE IF NOT EXISTS t (id INT);\n' });
  const report = await stratum.lint({ dir: bad });
  expect(report.errors).toBe(1);
  expect(report.diagnostics[0]).toMatchObject({ rule: 'unknown-rule', line: 1 });
});

test('a no-transaction file with CREATE INDEX CONCURRENTLY applies', async () => {
  const dir = migrationsDir({
    '001_t.sql': 'CREATE TABLE IF NOT EXISTS t (id INT, email TEXT);\n',
    '002_index.sql':
      '-- stratum:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_email ON t (email);\nVACUUM ANALYZE t;\n',
  });
  const result = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(result.applied.map((m) => m.name)).toEqual(['001_t', '002_index']);
  expect(await exists(db.url, 't_email')).toBe(true);
  expect(await tracking(db.url)).toEqual(['001_t', '002_index']);
});

test('a failing no-transaction file says which statement failed and finishes when run again', async () => {
  const dir = migrationsDir({
    '001_t.sql': 'CREATE TABLE IF NOT EXISTS t (id INT);\n',
    '002_index.sql': [
      '-- stratum:no-transaction',
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);',
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS t_missing ON t (missing_column);',
      '',
    ].join('\n'),
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_SQL', line: 3 });
  expect(error.message).toMatch(/statement 2 of 2; the 1 before it are committed/);
  expect(await exists(db.url, 't_id')).toBe(true);
  expect(await tracking(db.url)).toEqual(['001_t']);

  writeFiles(dir, {
    '002_index.sql': '-- stratum:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\n',
  });
  const again = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(again.applied.map((m) => m.name)).toEqual(['002_index']);
});

test('a file wholly wrapped in BEGIN … COMMIT applies atomically with its tracking row', async () => {
  const wrapped = 'BEGIN;\nCREATE TABLE IF NOT EXISTS w (id INT);\nINSERT INTO w VALUES (1) ON CONFLICT DO NOTHING;\nCOMMIT;\n';
  const dir = migrationsDir({ '001_w.sql': wrapped });
  const result = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(result.applied.map((m) => m.name)).toEqual(['001_w']);
  expect(await tracking(db.url)).toEqual(['001_w']);

  const failing = migrationsDir({
    '001_w.sql': wrapped,
    '002_bad.sql': 'BEGIN;\nCREATE TABLE IF NOT EXISTS half (id INT);\nSELECT 1/0;\nCOMMIT;\n',
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir: failing }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_SQL', pgCode: '22012', line: 3 });
  expect(await exists(db.url, 'half')).toBe(false);
  expect(await tracking(db.url)).toEqual(['001_w']);

  // In fresh's single transaction the wrapper is left out, and it still works.
  const fresh = await stratum.fresh({ databaseUrl: db.url, dir });
  expect(fresh.applied.map((m) => m.name)).toEqual(['001_w']);
  expect(await query(db.url, 'SELECT id FROM w')).toEqual([{ id: 1 }]);
});

test('fresh with a no-transaction file drops atomically, then applies as migrate does', async () => {
  const dir = migrationsDir({
    '001_t.sql': 'CREATE TABLE IF NOT EXISTS t (id INT);\n',
    '002_index.sql': '-- stratum:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\n',
  });
  await stratum.migrate({ databaseUrl: db.url, dir });
  const fresh = await stratum.fresh({ databaseUrl: db.url, dir });
  expect(fresh.applied.map((m) => m.name)).toEqual(['001_t', '002_index']);
  expect(await exists(db.url, 't_id')).toBe(true);
});

test('stratum lint prints compiler-style diagnostics and exits 1 on errors, 0 on warnings', () => {
  const dir = migrationsDir({
    '006_x.sql': 'CREATE TABLE IF NOT EXISTS t (id INT);\n\nVACUUM t;\n',
  });
  const run = (args) => spawnSync(process.execPath, [CLI, 'lint', '--dir', dir, ...args], { encoding: 'utf8', cwd: path.dirname(dir) });
  const text = run([]);
  expect(text.status).toBe(1);
  expect(text.stdout).toContain(`${path.basename(dir)}/006_x.sql:3:1: error[not-in-transaction]: VACUUM cannot run inside a transaction block`);
  expect(text.stdout).toContain('3 | VACUUM t;');
  expect(text.stdout).toMatch(/help: .*stratum:no-transaction/);
  const json = JSON.parse(run(['--json']).stdout);
  expect(json).toMatchObject({ errors: 1, warnings: 0 });
  expect(json.diagnostics[0]).toEqual({
    file: `${path.basename(dir)}/006_x.sql`,
    line: 3,
    column: 1,
    severity: 'error',
    rule: 'not-in-transaction',
    message: expect.stringContaining('VACUUM'),
    help: expect.any(String),
  });

  writeFiles(dir, { '006_x.sql': 'CREATE TABLE IF NOT EXISTS t (id INT);\nINSERT INTO t VALUES (1);\n' });
  const warned = run([]);
  expect(warned.status).toBe(0);
  expect(warned.stdout).toContain('warning[insert-on-conflict]');
});

test('the billing schema passes its own house rules', async () => {
  const report = await stratum.lint({ dir: path.join(__dirname, '..', 'migrations') });
  expect(report).toMatchObject({ errors: 0, warnings: 0 });
});
