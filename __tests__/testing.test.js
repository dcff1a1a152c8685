// pg-stratum/testing against the real server: migrated copies of a template
// that concurrent processes share, and a new template when a file changes.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { createTestDatabase, prepareTemplate, dropTemplates } = require('pg-stratum/testing');
const { ADMIN_URL, query } = require('./helpers/db');
const { migrationsDir, writeFiles } = require('./helpers/fixtures');
const { freePort } = require('./helpers/net');

const ROOT = path.join(__dirname, '..');
// A prefix of this file's own, so its templates are new and dropped afterwards.
const prefix = `tst_${crypto.randomBytes(4).toString('hex')}`;

const FILES = {
  '001_accounts.sql': 'CREATE TABLE IF NOT EXISTS accounts (id SERIAL PRIMARY KEY, email TEXT NOT NULL);\n',
  '002_seed.sql': "INSERT INTO accounts (email) SELECT 'first@example.com' WHERE NOT EXISTS (SELECT 1 FROM accounts);\n",
};

const templatesOf = async (ofPrefix) =>
  (
    await query(
      ADMIN_URL,
      'SELECT datname, datistemplate, datallowconn FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname',
      [`${ofPrefix}_template_`],
    )
  ).map((row) => ({ ...row }));

const created = [];
const roles = [];
/** A database made in another process, dropped at the end like the ones made here. */
const droppable = (name) => ({ drop: () => query(ADMIN_URL, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) });
afterAll(async () => {
  await Promise.all(created.map((db) => db.drop()));
  await dropTemplates({ prefix });
  expect(await templatesOf(prefix)).toEqual([]);
  // Last: a role that built a template owns it until the template is dropped.
  for (const role of roles) await query(ADMIN_URL, `DROP ROLE IF EXISTS "${role}"`);
});

/** Runs `script` in a new node process with exactly `env`; resolves to its exit status and output. */
function runWith(env, script) {
  // --no-warnings: the WebAssembly build's WASI warning is not an error.
  return spawnSync(process.execPath, ['--no-warnings', '-e', script], { cwd: ROOT, env, encoding: 'utf8', timeout: 120000 });
}

/** A script that asks pg-stratum/testing for a database and prints it, with the addon build it ran on. */
const createScript = (dir) => `
  const { createTestDatabase } = require('pg-stratum/testing');
  createTestDatabase({ dir: ${JSON.stringify(dir)}, prefix: ${JSON.stringify(prefix)} }).then(
    (db) => process.stdout.write(JSON.stringify({ name: db.name, url: db.url, target: require('pg-stratum').__napiBindingTarget })),
    (error) => { process.stderr.write(String(error.code) + ': ' + error.message); process.exitCode = 1; },
  );`;

/** Three processes, started together, each asking for a database; resolves to what each printed. */
function createInProcesses(dir, count) {
  const script = `
    const { createTestDatabase } = require('pg-stratum/testing');
    createTestDatabase({ dir: ${JSON.stringify(dir)}, prefix: ${JSON.stringify(prefix)} })
      .then((db) => process.stdout.write(JSON.stringify({ name: db.name, url: db.url })));`;
  const runOne = () =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`exit ${code}`))));
    });
  return Promise.all(Array.from({ length: count }, runOne));
}

test('concurrent processes get separate migrated databases made from one template', async () => {
  const dir = migrationsDir(FILES);
  const databases = await createInProcesses(dir, 3);
  for (const { name } of databases) created.push(droppable(name));
  expect(new Set(databases.map((db) => db.name)).size).toBe(3);
  for (const db of databases) {
    expect(db.name).toMatch(new RegExp(`^${prefix}_\\d+_[0-9a-f]{8}$`));
    expect(await query(db.url, 'SELECT email FROM accounts')).toEqual([{ email: 'first@example.com' }]);
    expect((await query(db.url, 'SELECT name FROM migrations ORDER BY id')).map((r) => r.name)).toEqual([
      '001_accounts',
      '002_seed',
    ]);
  }
  // Separate: a write to one is not seen by another.
  await query(databases[0].url, "INSERT INTO accounts (email) VALUES ('only@first.example')");
  expect(await query(databases[1].url, 'SELECT count(*)::int AS n FROM accounts')).toEqual([{ n: 1 }]);

  const templates = await templatesOf(prefix);
  expect(templates).toHaveLength(1);
  // Nobody may connect to the template, so a copy never finds it in use.
  expect(templates[0]).toMatchObject({ datistemplate: true, datallowconn: false });
});

test('a changed migration file makes a new template; unchanged files reuse the one there', async () => {
  const dir = migrationsDir(FILES);
  const first = await prepareTemplate({ dir, prefix });
  expect(await prepareTemplate({ dir, prefix })).toBe(first);

  writeFiles(dir, {
    '001_accounts.sql': `${FILES['001_accounts.sql']}ALTER TABLE accounts ADD COLUMN IF NOT EXISTS admin BOOLEAN NOT NULL DEFAULT false;\n`,
  });
  const db = await createTestDatabase({ dir, prefix });
  created.push(db);
  expect(await prepareTemplate({ dir, prefix })).not.toBe(first);
  expect(await query(db.url, 'SELECT email, admin FROM accounts')).toEqual([{ email: 'first@example.com', admin: false }]);

  // A new file counts as a change too.
  writeFiles(dir, { '003_more.sql': 'CREATE TABLE IF NOT EXISTS more (id INT);\n' });
  const withMore = await createTestDatabase({ dir, prefix });
  created.push(withMore);
  expect(await query(withMore.url, "SELECT to_regclass('public.more') IS NOT NULL AS e")).toEqual([{ e: true }]);
  expect(await query(db.url, "SELECT to_regclass('public.more') IS NOT NULL AS e")).toEqual([{ e: false }]);
});

test('a migration that fails leaves no template behind, and the next call tries again', async () => {
  const dir = migrationsDir({ ...FILES, '003_bad.sql': 'SELECT * FROM nowhere;\n' });
  const before = await templatesOf(prefix);
  const error = await createTestDatabase({ dir, prefix }).catch((e) => e);
  expect(error.code).toBe('E_SQL');
  expect(await templatesOf(prefix)).toEqual(before);

  fs.unlinkSync(path.join(dir, '003_bad.sql'));
  writeFiles(dir, { '003_good.sql': 'SELECT 1;\n' });
  const db = await createTestDatabase({ dir, prefix });
  created.push(db);
  expect((await query(db.url, 'SELECT count(*)::int AS n FROM migrations'))[0].n).toBe(3);
});

test('drop() removes the database, even with a session still connected', async () => {
  const db = await createTestDatabase({ dir: migrationsDir(FILES), prefix });
  const { Client } = require('pg');
  const lingering = new Client({ connectionString: db.url });
  await lingering.connect();
  lingering.on('error', () => {});
  await db.drop();
  expect(await query(ADMIN_URL, 'SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [db.name])).toEqual([
    { n: 0 },
  ]);
  await lingering.end().catch(() => {});
});

test('without STRATUM_TEST_ADMIN_URL the admin connection is DATABASE_URL\'s server, database postgres', async () => {
  const dir = migrationsDir(FILES);
  const appUrl = new URL(ADMIN_URL);
  appUrl.pathname = '/an_app_database_that_does_not_exist';
  const script = `
    require('pg-stratum/testing').createTestDatabase({ dir: ${JSON.stringify(dir)}, prefix: ${JSON.stringify(prefix)} })
      .then((db) => process.stdout.write(JSON.stringify({ name: db.name, url: db.url })));`;
  const child = spawnSync(process.execPath, ['--no-warnings', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, STRATUM_TEST_ADMIN_URL: '', DATABASE_URL: appUrl.toString() },
    encoding: 'utf8',
  });
  expect(child.stderr).toBe('');
  const db = JSON.parse(child.stdout);
  created.push(droppable(db.name));
  expect(new URL(db.url).pathname).toBe(`/${db.name}`);
  expect(await query(db.url, 'SELECT count(*)::int AS n FROM accounts')).toEqual([{ n: 1 }]);

  const notUrl = spawnSync(process.execPath, ['--no-warnings', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, STRATUM_TEST_ADMIN_URL: '', DATABASE_URL: 'host=localhost dbname=app' },
    encoding: 'utf8',
  });
  expect(notUrl.stderr).toContain('DATABASE_URL is not a URL: set STRATUM_TEST_ADMIN_URL or pass adminUrl');
});

test('a bad prefix is refused before anything is created', async () => {
  const error = await createTestDatabase({ prefix: 'Bad-Prefix' }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_CONFIG' });
  expect(error.message).toMatch(/prefix must be 1 to 20 lower-case letters/);
});

test('with only the PG* variables set, the admin connection is their server, database postgres', async () => {
  // A role of its own, so the databases' owner shows that PGUSER was used.
  const role = `tst_pg_${crypto.randomBytes(4).toString('hex')}`;
  const password = 'a p@ss/word';
  await query(ADMIN_URL, `CREATE ROLE "${role}" LOGIN CREATEDB PASSWORD '${password}'`);
  roles.push(role);
  const server = new URL(ADMIN_URL);
  const env = {
    PGHOST: server.hostname,
    PGPORT: server.port || '5432',
    PGUSER: role,
    PGPASSWORD: password,
    // The app's database: like DATABASE_URL's, it is not where databases are created from.
    PGDATABASE: 'an_app_database_that_does_not_exist',
  };
  // Files of this test alone, so the role migrates the template itself.
  const dir = migrationsDir({ ...FILES, '003_pg_vars.sql': `SELECT '${role}';\n` });
  const child = runWith(env, createScript(dir));
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  const db = JSON.parse(child.stdout);
  created.push(droppable(db.name));
  const url = new URL(db.url);
  expect(url.hostname).toBe(server.hostname);
  expect(decodeURIComponent(url.username)).toBe(role);
  expect(decodeURIComponent(url.password)).toBe(password);
  expect(url.pathname).toBe(`/${db.name}`);
  const owners = await query(
    ADMIN_URL,
    `SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
      WHERE d.datname = $1 OR starts_with(d.datname, $2) ORDER BY d.datname`,
    [db.name, `${prefix}_template_`],
  );
  expect(owners.find((row) => row.datname === db.name).rolname).toBe(role);
  // The template this set of files made was migrated as the role, through PG*.
  expect(owners.filter((row) => row.rolname === role)).toHaveLength(2);
  expect(await query(db.url, 'SELECT count(*)::int AS n FROM migrations')).toEqual([{ n: 3 }]);

  // PGPORT is read too: nothing listens on this one.
  const closed = runWith({ ...env, PGPORT: String(await freePort()) }, createScript(dir));
  expect(closed.status).toBe(1);
  expect(closed.stderr).toMatch(/ECONNREFUSED/);
});

test('on the WebAssembly build it migrates the template through the package entry', async () => {
  // New files, so the template is migrated here, by the WebAssembly engine.
  const dir = migrationsDir({ ...FILES, '003_wasm.sql': `SELECT '${crypto.randomBytes(4).toString('hex')}';\n` });
  // `error`: the WebAssembly build or nothing, never the native one instead.
  const child = runWith(
    { ...process.env, NAPI_RS_FORCE_WASI: 'error', STRATUM_TEST_ADMIN_URL: ADMIN_URL },
    createScript(dir),
  );
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  const db = JSON.parse(child.stdout);
  created.push(droppable(db.name));
  expect(db.target).toBe('wasm32-wasi');
  expect(await query(db.url, 'SELECT email FROM accounts')).toEqual([{ email: 'first@example.com' }]);
  expect((await query(db.url, 'SELECT name FROM migrations ORDER BY id')).map((r) => r.name)).toEqual([
    '001_accounts',
    '002_seed',
    '003_wasm',
  ]);
});
