// A failed CREATE INDEX CONCURRENTLY leaves an INVALID index that the
// file's IF NOT EXISTS would skip on the next run: a no-transaction file is
// recorded only when every index it builds is valid, against a real server.
const stratum = require('..');
const { createDatabase, query, withClient } = require('./helpers/db');
const { migrationsDir, writeFiles } = require('./helpers/fixtures');

const NO_TX = '-- stratum:no-transaction\n';
const USERS =
  'CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, email text NOT NULL);\n' +
  "INSERT INTO users VALUES (1, 'a@example.com'), (2, 'a@example.com'), (3, 'b@example.com') ON CONFLICT DO NOTHING;\n";
const UNIQUE_EMAIL = `${NO_TX}CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n`;

let db;
beforeEach(async () => {
  db = await createDatabase();
});
afterEach(async () => {
  await db.drop();
});

const applied = async (url) => (await query(url, 'SELECT name FROM migrations ORDER BY id')).map((r) => r.name);

/** Every index of that name in the database, with its schema and validity. */
const indexes = (url, name) =>
  query(
    url,
    `SELECT n.nspname AS schema, x.indisvalid AS valid
       FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = $1`,
    [name],
  );

test('a unique build that meets duplicates fails with a hint about the rows, leaves no invalid index, and applies once they are gone', async () => {
  const dir = migrationsDir({ '001_users.sql': USERS, '002_unique_email.sql': UNIQUE_EMAIL });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_SQL', pgCode: '23505', line: 2 });
  expect(error.file).toMatch(/002_unique_email\.sql$/);
  expect(error.hint).toContain(
    'find them with `SELECT email, count(*) FROM users GROUP BY email HAVING count(*) > 1`',
  );
  expect(error.hint).not.toContain('ON CONFLICT');
  expect(error.hint).toContain('the INVALID index public.users_email this build left behind was dropped');
  expect(await applied(db.url)).toEqual(['001_users']);
  expect(await indexes(db.url, 'users_email')).toEqual([]);

  await query(db.url, 'DELETE FROM users WHERE id = 2');
  const rerun = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(rerun.applied.map((m) => m.name)).toEqual(['002_unique_email']);
  expect(await indexes(db.url, 'users_email')).toEqual([{ schema: 'public', valid: true }]);
  expect(await applied(db.url)).toEqual(['001_users', '002_unique_email']);
});

test('a unique constraint added in a transaction over duplicates gets the same hint', async () => {
  const dir = migrationsDir({
    '001_users.sql': USERS,
    '002_unique.sql': 'ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);\n',
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_SQL', pgCode: '23505' });
  expect(error.hint).toContain(
    'find them with `SELECT email, count(*) FROM users GROUP BY email HAVING count(*) > 1`',
  );
  expect(error.hint).not.toContain('ON CONFLICT');
  expect(await applied(db.url)).toEqual(['001_users']);
});

test('an invalid index left by an earlier failed build is dropped and built again', async () => {
  await query(db.url, 'CREATE SCHEMA app');
  await query(db.url, 'CREATE TABLE app.users (id int PRIMARY KEY, email text NOT NULL)');
  await query(db.url, "INSERT INTO app.users VALUES (1, 'a@example.com'), (2, 'a@example.com')");
  // What a deploy that died half-way leaves: the build failed, the index stayed, INVALID.
  await expect(
    query(db.url, 'CREATE UNIQUE INDEX CONCURRENTLY "Users_Email" ON app.users (email)'),
  ).rejects.toMatchObject({ code: '23505' });
  expect(await indexes(db.url, 'Users_Email')).toEqual([{ schema: 'app', valid: false }]);
  await query(db.url, 'DELETE FROM app.users WHERE id = 2');

  const dir = migrationsDir({
    '001_unique_email.sql': `${NO_TX}CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "Users_Email" ON app.users (email);\n`,
  });
  const result = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(result.applied.map((m) => m.name)).toEqual(['001_unique_email']);
  expect(await indexes(db.url, 'Users_Email')).toEqual([{ schema: 'app', valid: true }]);
  expect(await applied(db.url)).toEqual(['001_unique_email']);
  const dropped = result.warnings.filter((w) => w.rule === 'invalid-index');
  expect(dropped).toHaveLength(1);
  expect(dropped[0]).toMatchObject({ severity: 'warning', line: 2, column: 1 });
  expect(dropped[0].message).toContain('app."Users_Email" was INVALID');
  // The index enforces the key now.
  await expect(query(db.url, "INSERT INTO app.users VALUES (3, 'a@example.com')")).rejects.toMatchObject({
    code: '23505',
  });
});

test('an index still invalid or missing after the last statement stops the run before the tracking row', async () => {
  const dir = migrationsDir({
    '001_users.sql': "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, email text NOT NULL);\n",
    // A superuser can mark an index invalid: what a build that failed unseen would leave.
    '002_invalid.sql': `${NO_TX}CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'users_email'::regclass;
`,
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_INVALID_INDEX', line: 2, column: 1 });
  expect(error.file).toMatch(/002_invalid\.sql$/);
  expect(error.message).toContain('index public.users_email is INVALID');
  expect(error.message).toContain('not recorded as applied');
  expect(await applied(db.url)).toEqual(['001_users']);

  // A file that builds its index and then drops it leaves nothing to record either.
  writeFiles(dir, {
    '002_invalid.sql': `${NO_TX}CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);
DROP INDEX CONCURRENTLY IF EXISTS users_email;
`,
  });
  const missing = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(missing).toMatchObject({ code: 'E_INVALID_INDEX' });
  expect(missing.message).toContain('does not exist after its last statement');
  expect(await applied(db.url)).toEqual(['001_users']);
  expect(await indexes(db.url, 'users_email')).toEqual([]);
});

test('a name another relation holds makes IF NOT EXISTS skip the build: not recorded', async () => {
  await withClient(db.url, async (client) => {
    await client.query('CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL)');
    await client.query('CREATE TABLE orders (id int PRIMARY KEY, email text)');
    await client.query('CREATE INDEX users_email ON orders (email)');
  });
  const dir = migrationsDir({
    '001_index.sql': `${NO_TX}CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n`,
  });
  const error = await stratum.migrate({ databaseUrl: db.url, dir }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_INVALID_INDEX' });
  expect(error.message).toContain('already exists on orders, not on users');
  expect(await applied(db.url)).toEqual([]);
});
