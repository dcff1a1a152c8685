// Least-privilege roles, as managed PostgreSQL hands them out: a deploy role
// with USAGE and CREATE on its schema and no CREATE on the database, a role
// that may only read the tracking table, roles that lack one privilege.
// Every command runs as that role, over its own connection.
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const stratum = require('..');
const { createDatabase, query, withClient, ADMIN_URL } = require('./helpers/db');
const { migrationsDir, writeFiles, CLI } = require('./helpers/fixtures');

const FILES = {
  '001_users.sql': 'CREATE TABLE IF NOT EXISTS users (id SERIAL PRIMARY KEY, email TEXT NOT NULL);\n',
  '002_posts.sql':
    'CREATE TABLE IF NOT EXISTS posts (id SERIAL PRIMARY KEY, user_id INT REFERENCES users(id));\n',
};

let db;
let roles;
let suffix;

beforeEach(async () => {
  db = await createDatabase('stratum_priv');
  roles = [];
  suffix = `${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  // Nobody but the admin may create schemas (or temporary tables) here, and
  // the admin owns the schema the app's roles work in.
  await query(
    db.url,
    `REVOKE CREATE, TEMPORARY ON DATABASE "${db.name}" FROM PUBLIC;
     CREATE SCHEMA app;`,
  );
});

afterEach(async () => {
  // Roles are cluster-wide: what they own or were granted goes first.
  await withClient(db.url, async (client) => {
    for (const role of roles) await client.query(`DROP OWNED BY "${role}" CASCADE`);
  });
  await db.drop();
  await withClient(ADMIN_URL, async (client) => {
    for (const role of roles) await client.query(`DROP ROLE IF EXISTS "${role}"`);
  });
});

/** A new role (non-superuser) whose default search_path is `app`; returns its name and URL. */
async function role(kind, grants = '') {
  const name = `stratum_${kind}_${suffix}`;
  roles.push(name);
  await withClient(ADMIN_URL, (client) =>
    client.query(`CREATE ROLE "${name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
                  ALTER ROLE "${name}" SET search_path = app`),
  );
  if (grants) await query(db.url, grants.replaceAll('$ROLE', `"${name}"`));
  const url = new URL(db.url);
  url.username = name;
  url.password = '';
  return { name, url: url.toString() };
}

/** The deploy role: USAGE and CREATE on `app`, nothing on the database. */
const deployer = () => role('deploy', 'GRANT USAGE, CREATE ON SCHEMA app TO $ROLE');

/** Every relation of the database outside the system schemas, as `schema.name`. */
const relations = (url) =>
  query(
    url,
    `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      ORDER BY 1`,
  ).then((rows) => rows.map((row) => row.name));

const schemas = (url) =>
  query(
    url,
    `SELECT nspname FROM pg_namespace
      WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`,
  ).then((rows) => rows.map((row) => row.nspname));

function cli(args) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '' },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('a deploy role that owns nothing but its schema rights runs migrate, status, plan, fresh and reset', async () => {
  const deploy = await deployer();
  const dir = migrationsDir(FILES);
  const options = { databaseUrl: deploy.url, dir, schema: 'app' };

  const first = await stratum.migrate(options);
  expect(first.applied.map((m) => m.name)).toEqual(['001_users', '002_posts']);
  // The files' unqualified names went where the role's search_path points.
  expect(await relations(db.url)).toEqual(
    expect.arrayContaining(['app.migrations', 'app.posts', 'app.users']),
  );
  expect(await schemas(db.url)).toEqual(['app', 'public']);
  const owners = await query(
    db.url,
    `SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relnamespace = 'app'::regnamespace`,
  );
  expect(owners.map((row) => row.owner)).toEqual([deploy.name]);

  const again = await stratum.migrate(options);
  expect(again.applied).toEqual([]);
  expect(again.alreadyApplied).toBe(2);

  // Something pending over an existing tracking table: the locked path.
  writeFiles(dir, { '003_tags.sql': 'CREATE TABLE IF NOT EXISTS tags (id INT);\n' });
  const status = await stratum.status(options);
  expect(status.migrations.map((m) => [m.name, m.state])).toEqual([
    ['001_users', 'applied'],
    ['002_posts', 'applied'],
    ['003_tags', 'pending'],
  ]);
  const plan = await stratum.plan(options);
  expect(plan.pending.map((m) => m.name)).toEqual(['003_tags']);
  const third = await stratum.migrate(options);
  expect(third.applied.map((m) => m.name)).toEqual(['003_tags']);

  const fresh = await stratum.fresh(options);
  expect(fresh.applied.map((m) => m.name)).toEqual(['001_users', '002_posts', '003_tags']);
  const freshAgain = await stratum.fresh(options);
  expect(freshAgain.applied).toHaveLength(3);

  const reset = await stratum.reset(options);
  expect(reset.dropped).toBeGreaterThanOrEqual(4);
  expect((await relations(db.url)).filter((name) => name.startsWith('app.'))).toEqual([]);
  expect(await schemas(db.url)).toEqual(['app', 'public']);

  // The command line, as a deploy script runs it; twice.
  const args = ['migrate', '--url', deploy.url, '--dir', dir, '--schema', 'app'];
  const run = cli(args);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  expect(run.stdout).toMatch(/3 applied, 0 already applied/);
  const rerun = cli(args);
  expect(rerun.code).toBe(0);
  expect(rerun.stdout).toMatch(/Nothing to migrate: 3 already applied/);
});

test('a role that may only read the tracking table runs status and plan', async () => {
  const deploy = await deployer();
  const dir = migrationsDir(FILES);
  await stratum.migrate({ databaseUrl: deploy.url, dir, schema: 'app' });
  const reader = await role(
    'read',
    'GRANT USAGE ON SCHEMA app TO $ROLE; GRANT SELECT ON app.migrations TO $ROLE',
  );
  const options = { databaseUrl: reader.url, dir, schema: 'app' };
  // With nothing pending, migrate only reads.
  const upToDate = await stratum.migrate(options);
  expect(upToDate.alreadyApplied).toBe(2);

  writeFiles(dir, { '003_tags.sql': 'CREATE TABLE IF NOT EXISTS tags (id INT);\n' });
  const status = await stratum.status(options);
  expect(status.applied).toBe(2);
  expect(status.pending).toBe(1);
  expect(status.migrations[0].appliedAt).toMatch(/^\d{4}-/);
  const plan = await stratum.plan(options);
  expect(plan.pending.map((m) => m.name)).toEqual(['003_tags']);
  expect(plan.alreadyApplied).toBe(2);

  const cliStatus = cli(['status', '--url', reader.url, '--dir', dir, '--schema', 'app']);
  expect(cliStatus.code).toBe(0);
  expect(cliStatus.stdout).toMatch(/2 applied, 1 pending/);
});

test('a role that lacks INSERT on the tracking table is told the GRANT before anything runs', async () => {
  const deploy = await deployer();
  const dir = migrationsDir(FILES);
  await stratum.migrate({ databaseUrl: deploy.url, dir, schema: 'app' });
  // May create in the schema and read the tracking table, but not write it.
  const limited = await role(
    'noinsert',
    'GRANT USAGE, CREATE ON SCHEMA app TO $ROLE; GRANT SELECT ON app.migrations TO $ROLE',
  );
  // A no-transaction file first: whatever it ran would stay.
  writeFiles(dir, {
    '003_tags.sql': '-- stratum:no-transaction\nCREATE TABLE IF NOT EXISTS tags (id INT);\n',
    '004_more.sql': 'CREATE TABLE IF NOT EXISTS more (id INT);\n',
  });
  const before = await relations(db.url);
  const rowsBefore = await query(db.url, 'SELECT name FROM app.migrations ORDER BY id');

  const error = await stratum
    .migrate({ databaseUrl: limited.url, dir, schema: 'app' })
    .then(() => null, (failure) => failure);
  expect(error).not.toBeNull();
  expect(error.code).toBe('E_PRIVILEGE');
  expect(error.message).toContain(`role ${limited.name} lacks INSERT on table app.migrations`);
  expect(error.message).toContain(`GRANT SELECT, INSERT, UPDATE ON app.migrations TO ${limited.name}`);

  expect(await relations(db.url)).toEqual(before);
  expect(await query(db.url, 'SELECT name FROM app.migrations ORDER BY id')).toEqual(rowsBefore);

  const run = cli(['migrate', '--url', limited.url, '--dir', dir, '--schema', 'app']);
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/error\[E_PRIVILEGE\]: role \S+ lacks INSERT on table app\.migrations/);
});

test('a role without CREATE on the schema gets the GRANT that lets it create the tracking table', async () => {
  const user = await role('nocreate', 'GRANT USAGE ON SCHEMA app TO $ROLE');
  const dir = migrationsDir(FILES);
  const before = await relations(db.url);
  const error = await stratum
    .migrate({ databaseUrl: user.url, dir, schema: 'app' })
    .then(() => null, (failure) => failure);
  expect(error.code).toBe('E_PRIVILEGE');
  expect(error.message).toContain(
    `role ${user.name} lacks CREATE on schema app: GRANT CREATE ON SCHEMA app TO ${user.name}`,
  );
  expect(await relations(db.url)).toEqual(before);
});

test('a role without USAGE on the schema is told so by status, plan and migrate', async () => {
  const deploy = await deployer();
  const dir = migrationsDir(FILES);
  await stratum.migrate({ databaseUrl: deploy.url, dir, schema: 'app' });
  const outsider = await role('outside');
  const options = { databaseUrl: outsider.url, dir, schema: 'app' };
  for (const command of [stratum.status, stratum.plan, stratum.migrate]) {
    const error = await command(options).then(() => null, (failure) => failure);
    expect(error.code).toBe('E_PRIVILEGE');
    expect(error.message).toContain(
      `role ${outsider.name} lacks USAGE on schema app: GRANT USAGE ON SCHEMA app TO ${outsider.name}`,
    );
  }
});

test('a schema that does not exist yet needs CREATE on the database, and says so', async () => {
  const deploy = await deployer();
  const dir = migrationsDir(FILES);
  const error = await stratum
    .migrate({ databaseUrl: deploy.url, dir, schema: 'elsewhere' })
    .then(() => null, (failure) => failure);
  expect(error.code).toBe('E_PRIVILEGE');
  expect(error.message).toContain(`role ${deploy.name} lacks CREATE on database ${db.name}`);
  expect(error.message).toContain(`CREATE SCHEMA elsewhere AUTHORIZATION ${deploy.name}`);
  expect(await schemas(db.url)).toEqual(['app', 'public']);
});

test("a migration's own permission error names the GRANT or the owner change that fixes it", async () => {
  const deploy = await deployer();
  await query(db.url, 'CREATE TABLE app.settings (key TEXT PRIMARY KEY, value TEXT)');
  const dir = migrationsDir({
    ...FILES,
    '003_seed.sql': "INSERT INTO settings (key, value) VALUES ('theme', 'dark');\n",
  });
  const options = { databaseUrl: deploy.url, dir, schema: 'app' };
  const insert = await stratum.migrate(options).then(() => null, (failure) => failure);
  expect(insert.code).toBe('E_SQL');
  expect(insert.pgCode).toBe('42501');
  expect(insert.file).toMatch(/003_seed\.sql$/);
  expect(insert.hint).toContain(`GRANT INSERT ON settings TO ${deploy.name}`);

  writeFiles(dir, { '003_seed.sql': 'ALTER TABLE settings ADD COLUMN IF NOT EXISTS note TEXT;\n' });
  const alter = await stratum.migrate(options).then(() => null, (failure) => failure);
  expect(alter.pgCode).toBe('42501');
  expect(alter.hint).toContain(`ALTER TABLE settings OWNER TO ${deploy.name}`);
});
