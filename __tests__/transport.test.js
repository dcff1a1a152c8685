// The `query` transport over a pg client (lib/pg-transport.js), which an
// app's `client` goes through natively and every connection goes through in
// the WebAssembly build: rows as text, a failure without a position pinned
// to its statement by the count of those that completed, a lost connection
// told apart from a failed statement.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Client } = require('pg');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir } = require('./helpers/fixtures');

const ROOT = path.join(__dirname, '..');

let databases = [];
let clients = [];
afterEach(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => {})));
  clients = [];
  await Promise.all(databases.map((db) => db.drop()));
  databases = [];
});

async function connected() {
  const db = await createDatabase();
  databases.push(db);
  const client = new Client({ connectionString: db.url });
  await client.connect();
  clients.push(client);
  return { db, client };
}

test('a failure PostgreSQL gives no position for is pinned to its statement over a client', async () => {
  const { client } = await connected();
  // Division by zero carries no position: only the count of completed statements says which one.
  const dir = migrationsDir({
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\nSELECT 1/0;\nINSERT INTO a VALUES (3);\n',
  });
  const error = await stratum.migrate({ client, dir }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_SQL', pgCode: '22012', line: 4, column: 1 });
  // The file's transaction was rolled back on the app's own session, which is usable again.
  expect((await client.query("SELECT to_regclass('public.a') IS NULL AS gone")).rows).toEqual([{ gone: true }]);
});

test('rows come back as text the engine reads, whatever the client’s own type parsers', async () => {
  const { db, client } = await connected();
  // An app that parses every int and timestamp its own way: the engine still reads PostgreSQL's text.
  client.setTypeParser(20, () => 'not a number');
  client.setTypeParser(23, () => 'not a number');
  client.setTypeParser(1184, () => 'not a time');
  const dir = migrationsDir({
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n',
    '002_b.sql': 'INSERT INTO a VALUES (1);\n',
  });
  await stratum.migrate({ client, dir });
  const status = await stratum.status({ client, dir });
  expect(status.migrations.map((m) => [m.version, m.state])).toEqual([
    [1, 'applied'],
    [2, 'applied'],
  ]);
  const appliedAt = status.migrations.map((m) => m.appliedAt);
  expect(appliedAt.every((at) => typeof at === 'string' && !Number.isNaN(Date.parse(at)))).toBe(true);
  expect((await query(db.url, 'SELECT count(*)::int AS n FROM migrations'))[0].n).toBe(2);
});

test('COPY … FROM STDIN in a file fails as its statement rather than waiting for data', async () => {
  const { client } = await connected();
  const dir = migrationsDir({ '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\nCOPY a FROM STDIN;\n' });
  const error = await stratum.migrate({ client, dir }).catch((e) => e);
  expect(error).toMatchObject({ code: 'E_SQL', line: 2 });
  expect(error.message).toMatch(/COPY from stdin failed/);
});

test('a connection that drops mid-run on the WebAssembly build is E_CONNECTION_LOST, and the process lives', async () => {
  const db = await createDatabase();
  databases.push(db);
  const dir = migrationsDir({
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n',
    '002_gone.sql': 'SELECT pg_terminate_backend(pg_backend_pid());\n',
  });
  // The connection is the entry's own there; its 'error' event must not end the process.
  const script = `
    const stratum = require('pg-stratum');
    let outcome = { target: stratum.__napiBindingTarget };
    stratum.migrate({ databaseUrl: ${JSON.stringify(db.url)}, dir: ${JSON.stringify(dir)} }).then(
      () => {},
      (e) => { outcome.code = e.code; },
    );
    // Said at exit, once every event of the dropped connection has come.
    process.on('exit', () => process.stdout.write(JSON.stringify(outcome)));`;
  const child = spawnSync(process.execPath, ['--no-warnings', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, NAPI_RS_FORCE_WASI: 'error' },
    encoding: 'utf8',
    timeout: 30000,
  });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  expect(JSON.parse(child.stdout)).toEqual({ target: 'wasm32-wasi', code: 'E_CONNECTION_LOST' });
});
