// The same engine in two builds: native, and WebAssembly where no native
// binary matches. Both must give the same results and the same errors; the
// app's own pg.Client is the transport the WebAssembly build uses, and the
// native build takes it too.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Client } = require('pg');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir } = require('./helpers/fixtures');

const ROOT = path.join(__dirname, '..');

let databases = [];
afterEach(async () => {
  await Promise.all(databases.map((db) => db.drop()));
  databases = [];
});
async function database() {
  const db = await createDatabase();
  databases.push(db);
  return db;
}

test('the native build runs over an app’s own pg.Client', async () => {
  const db = await database();
  const dir = migrationsDir({
    // The session that applies it leaves its pid behind.
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a AS SELECT pg_backend_pid() AS pid;\n',
    '002_b.sql': 'INSERT INTO a VALUES (1);\nSELECT * FROM nowhere;\n',
  });
  const client = new Client({ connectionString: db.url, application_name: 'the-app' });
  await client.connect();
  try {
    const error = await stratum.migrate({ client, dir }).catch((e) => e);
    expect(error).toMatchObject({ code: 'E_SQL', pgCode: '42P01', line: 2, column: 15 });
    const status = await stratum.status({ client, dir });
    expect(status.migrations.map((m) => m.state)).toEqual(['applied', 'pending']);
    // Nothing but the app's own session did the work.
    const own = await client.query('SELECT pg_backend_pid() AS pid');
    expect((await client.query('SELECT pid FROM a')).rows).toEqual(own.rows);
    const sessions = await client.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'stratum' AND datname = current_database()",
    );
    expect(sessions.rows).toEqual([{ n: 0 }]);
    // The client is still usable afterwards: the migration lock was released
    // (on this session: the server's other sessions are other tests').
    const locks = await client.query(
      "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
    );
    expect(locks.rows).toEqual([{ n: 0 }]);
  } finally {
    await client.end();
  }
});

function runIn(build, script, env = {}) {
  const forced = build === 'wasm' ? { NAPI_RS_FORCE_WASI: 'error' } : {};
  const result = spawnSync(process.execPath, ['--no-warnings', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, ...forced, ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  if (result.status !== 0) throw new Error(`${build} run failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

test('native and WebAssembly give the same results, errors and lint findings', async () => {
  const dir = migrationsDir({
    '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT PRIMARY KEY);\nINSERT INTO a VALUES (1);\n',
    '002_b.sql': '-- stratum:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS a_id ON a (id);\n',
    '003_c.sql': 'CREATE TABLE IF NOT EXISTS c (id INT);\nSELECT 1/0;\n',
  });
  const script = (url) => `
    const s = require('.');
    const strip = (value) => JSON.parse(JSON.stringify(value, (key, v) =>
      ['durationMs', 'appliedAt'].includes(key) ? undefined : v));
    (async () => {
      const out = { target: s.__napiBindingTarget };
      out.lint = await s.lint({ dir: ${JSON.stringify(dir)} });
      out.plan = await s.plan({ databaseUrl: ${JSON.stringify(url)}, dir: ${JSON.stringify(dir)} });
      out.migrate = await s.migrate({ databaseUrl: ${JSON.stringify(url)}, dir: ${JSON.stringify(dir)} })
        .catch((e) => ({ error: { code: e.code, pgCode: e.pgCode, line: e.line, column: e.column, message: e.message } }));
      out.status = await s.status({ databaseUrl: ${JSON.stringify(url)}, dir: ${JSON.stringify(dir)} });
      out.refused = await s.status({ dir: 5 }).catch((e) => ({ code: e.code }));
      out.dropped = await s.reset({ databaseUrl: ${JSON.stringify(url)} });
      process.stdout.write(JSON.stringify(strip(out)));
    })();`;
  const [one, two] = [await database(), await database()];
  const native = runIn('native', script(one.url));
  const wasm = runIn('wasm', script(two.url));
  expect(native.target).toBe('native');
  expect(wasm.target).toBe('wasm32-wasi');
  delete native.target;
  delete wasm.target;
  expect(native.migrate.error).toMatchObject({ code: 'E_SQL', pgCode: '22012', line: 2 });
  expect(native.lint.warnings).toBe(1);
  expect(wasm).toEqual(native);
});
