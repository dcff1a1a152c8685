// Hostile and broken input, table-driven: each case ends in a clear error
// with a stable code (or, where the input is legitimate, in a correct
// apply), never in a crash, and a refused case leaves the database untouched.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir, CLI } = require('./helpers/fixtures');

const OK = 'CREATE TABLE IF NOT EXISTS ok (id INT);\n';

let db;
beforeAll(async () => {
  db = await createDatabase();
});
afterAll(async () => {
  await db.drop();
});
afterEach(async () => {
  await query(db.url, 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
});

const publicTables = async () =>
  (
    await query(
      db.url,
      "SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
  )[0].n;

// Each case: files to write (or a function preparing the directory), options, and the outcome.
const refused = [
  ['a name with a dash', { '006-x.sql': OK }, 'E_FILENAME', /006-x\.sql/],
  ['a name with capitals', { '006_X.sql': OK }, 'E_FILENAME', /006_X\.sql/],
  ['a name without a version', { '_x.sql': OK }, 'E_FILENAME', /_x\.sql/],
  ['a name without a name', { '006_.sql': OK }, 'E_FILENAME', /006_\.sql/],
  ['an upper-case extension', { '006_x.SQL': OK }, 'E_FILENAME', /006_x\.SQL/],
  ['a non-ASCII name', { '006_café.sql': OK }, 'E_FILENAME', /café/],
  ['a version beyond 64 bits', { '99999999999999999999_x.sql': OK }, 'E_FILENAME', /64-bit/],
  ['two files with one number', { '006_a.sql': OK, '6_b.sql': OK }, 'E_DUPLICATE_VERSION', /006_a\.sql.*6_b\.sql/],
  ['invalid UTF-8', { '001_a.sql': Buffer.from([0x53, 0x45, 0x4c, 0x0a, 0xff, 0xfe]) }, 'E_ENCODING', /001_a\.sql:2/],
  ['a UTF-16 file', { '001_a.sql': Buffer.from('\ufeffSELECT 1;', 'utf16le') }, 'E_ENCODING', /001_a\.sql/],
  ['a NUL character', { '001_a.sql': 'SELECT 1;\nSELECT 2;\u0000' }, 'E_ENCODING', /001_a\.sql:2/],
  // Found by the lint before anything runs: not even the tracking table is made.
  ['an unterminated string', { '001_a.sql': `${OK}SELECT 'abc;\n` }, 'E_LINT', /001_a\.sql:2/],
  ['an unterminated comment', { '001_a.sql': `${OK}/* never closed\n` }, 'E_LINT', /001_a\.sql:2/],
  ['an unterminated dollar body', { '001_a.sql': `${OK}DO $$ BEGIN PERFORM 1;\n` }, 'E_LINT', /001_a\.sql:2/],
  ['a syntax error', { '001_a.sql': `${OK}CREATE TABLE IF NOT EXISTS (id INT);\n` }, 'E_LINT', /001_a\.sql:2/],
  ['an empty file', { '001_a.sql': '' }, 'E_LINT', /empty-migration/],
  ['a comment-only file', { '001_a.sql': '-- Migration 001: Nothing yet\n/* later */\n' }, 'E_LINT', /has no statements/],
  ['a CREATE without IF NOT EXISTS', { '001_a.sql': 'CREATE TABLE t (id INT);\n' }, 'E_LINT', /create-if-not-exists/],
  ['VACUUM in a transactional file', { '001_a.sql': `${OK}VACUUM ok;\n` }, 'E_LINT', /not-in-transaction/],
  ['an INSERT into the tracking table', { '001_a.sql': "INSERT INTO migrations (name) VALUES ('x');\n" }, 'E_LINT', /no-tracking-insert/],
  ['a stray COMMIT', { '001_a.sql': `${OK}COMMIT;\n${OK}` }, 'E_LINT', /transaction-control/],
  ['a reference to a table that does not exist', { '001_a.sql': `${OK}SELECT * FROM nowhere;\n` }, 'E_SQL', /001_a\.sql:2:15: relation "nowhere" does not exist/],
  ['a runtime error', { '001_a.sql': `${OK}SELECT 1/0;\n` }, 'E_SQL', /division by zero/],
  ['a file that is a directory', (dir) => fs.mkdirSync(path.join(dir, '001_a.sql')), 'E_IO', /001_a\.sql/],
  [
    'a symlink loop',
    (dir) => fs.symlinkSync(path.join(dir, '001_a.sql'), path.join(dir, '001_a.sql')),
    'E_IO',
    /001_a\.sql/,
  ],
  ['a dangling symlink', (dir) => fs.symlinkSync('/nonexistent/x.sql', path.join(dir, '001_a.sql')), 'E_IO', /001_a\.sql/],
];

describe.each(refused)('%s', (_label, files, code, pattern) => {
  test(`is refused with ${code} and the database is untouched`, async () => {
    const dir = migrationsDir(typeof files === 'function' ? {} : files);
    if (typeof files === 'function') files(dir);
    const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(pattern);
    expect(await publicTables()).toBe(code === 'E_SQL' ? 1 : 0); // E_SQL: only the tracking table
    if (code === 'E_SQL') expect(await query(db.url, 'SELECT count(*)::int AS n FROM migrations')).toEqual([{ n: 0 }]);
  });
});

// Each case: the options, the code, and what the message must say.
const badOptions = [
  ['a missing directory', () => ({ dir: '/nonexistent/migrations' }), 'E_CONFIG', /the migrations directory \/nonexistent\/migrations does not exist/],
  ['a directory that is a file', () => ({ dir: __filename }), 'E_CONFIG', /hostile\.test\.js is a file, not a migrations directory/],
  ['dir: 5', () => ({ dir: 5 }), 'E_CONFIG', /invalid options: .*\bdir\b/],
  ['lockTimeoutMs: "x"', () => ({ lockTimeoutMs: 'x' }), 'E_CONFIG', /invalid options: .*lockTimeoutMs/],
  ['lockTimeoutMs: -1', () => ({ lockTimeoutMs: -1 }), 'E_CONFIG', /lockTimeoutMs must be a whole number of milliseconds .*not -1/],
  ['lockTimeoutMs: 1.5', () => ({ lockTimeoutMs: 1.5 }), 'E_CONFIG', /lockTimeoutMs must be a whole number of milliseconds .*not 1\.5/],
  ['waitMs: NaN', () => ({ waitMs: Number.NaN }), 'E_CONFIG', /waitMs must be a whole number of milliseconds .*not NaN/],
  ['force: "yes"', () => ({ force: 'yes' }), 'E_CONFIG', /invalid options: .*\bforce\b/],
  ['onProgress: 5', () => ({ onProgress: 5 }), 'E_CONFIG', /invalid options: .*onProgress/],
  ['options that are a string', () => 'postgres://x', 'E_CONFIG', /invalid options: expected an object, got String/],
  ['an empty table name', () => ({ table: '' }), 'E_CONFIG', /the table option must be 1 to 63 characters long/],
  ['a table name over 63 characters', () => ({ table: 'x'.repeat(64) }), 'E_CONFIG', /the table option must be 1 to 63 characters long/],
  ['an invalid URL', () => ({ databaseUrl: 'postgres://u@host:notaport/db' }), 'E_CONFIG', /the database URL is not valid/],
  ['a URL of another scheme', () => ({ databaseUrl: 'mysql://u@host/db' }), 'E_CONFIG', /the database URL is not valid/],
  ['a database that does not exist', () => ({ databaseUrl: db.url.replace(/\/[^/]+$/, '/no_such_db_xyz') }), 'E_CONNECT', /cannot connect to PostgreSQL: database "no_such_db_xyz" does not exist/],
  ['a closed port', () => ({ databaseUrl: 'postgres://postgres@127.0.0.1:1/x' }), 'E_CONNECT',
    // The native build names the URL; the WebAssembly one passes on pg's own words.
    /cannot connect to PostgreSQL: (.*Connection refused.*127\.0\.0\.1:1\/x|connect ECONNREFUSED 127\.0\.0\.1:1$)/],
  ['a host that does not resolve', () => ({ databaseUrl: 'postgres://postgres@no-such-host.invalid/x' }), 'E_CONNECT', /cannot connect to PostgreSQL: .*no-such-host\.invalid/],
];

describe.each(badOptions)('%s', (_label, makeOptions, code, message) => {
  test(`rejects with ${code}, never throws synchronously`, async () => {
    const dir = migrationsDir({ '001_a.sql': OK });
    const options = makeOptions();
    const withDefaults =
      typeof options === 'object' ? { databaseUrl: db.url, dir, ...options } : options;
    let promise;
    expect(() => {
      promise = stratum.migrate(withDefaults);
    }).not.toThrow();
    const error = await promise.catch((e) => e);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(await publicTables()).toBe(0);
  });
});

const accepted = [
  ['a name with one digit', { '6_x.sql': OK }],
  ['a BOM', { '001_a.sql': `\ufeff${OK}` }],
  ['CRLF line endings', { '001_a.sql': OK.replace(/\n/g, '\r\n') }],
  ['a README beside the migrations', { '001_a.sql': OK, 'README.md': '# notes' }],
  ['quotes and semicolons in the schema and table options', { '001_a.sql': OK }, { schema: 's"; DROP SCHEMA public; --', table: "t'; --" }],
  ['a 50 MB file', { '001_a.sql': `${OK}SELECT length('${'x'.repeat(50 * 1024 * 1024)}');\n` }],
];

describe.each(accepted)('%s', (_label, files, options = {}) => {
  test('is applied', async () => {
    const dir = migrationsDir(files);
    const result = await stratum.migrate({ databaseUrl: db.url, dir, ...options });
    expect(result.applied).toHaveLength(1);
    expect(await query(db.url, "SELECT to_regclass('public.ok') AS t")).toEqual([{ t: 'ok' }]);
    // The tracking row is where the options say, under exactly those names.
    const quote = (name) => `"${name.replace(/"/g, '""')}"`;
    const trackingTable = `${quote(options.schema ?? 'public')}.${quote(options.table ?? 'migrations')}`;
    expect(await query(db.url, `SELECT name FROM ${trackingTable}`)).toEqual([{ name: result.applied[0].name }]);
    if (options.schema) await query(db.url, `DROP SCHEMA ${quote(options.schema)} CASCADE`);
  });
});

test('bad CLI input is bad usage, exit 2', () => {
  for (const args of [['migrate', '--lock-timeout', 'x'], ['migrate', '--wait', 'soon'], ['migrate', '--dir']]) {
    const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    expect(result.status).toBe(2);
  }
});
