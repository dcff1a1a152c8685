// pg-stratum/testing: a database per test that already holds the migrated
// schema, copied from a template database that is migrated once per set of
// migration files. Copying a template takes a fraction of migrating anew.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
// The package's entry, not the bare addon: on the WebAssembly build the
// entry is what opens the connection the engine cannot open itself.
const stratum = require('./lib/entry.js');

const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_PREFIX = 'stratum_test';
/** SQLSTATE 55006: "source database … is being accessed by other users". */
const OBJECT_IN_USE = '55006';
const IN_USE_RETRY_MS = 30000;

function loadPg() {
  try {
    return require('pg');
  } catch (error) {
    if (error.code !== 'MODULE_NOT_FOUND') throw error;
    throw Object.assign(new Error('pg-stratum/testing needs the pg package: npm install --save-dev pg'), {
      code: 'E_CONFIG',
    });
  }
}

/** Variables that say where libpq connects; PGPASSWORD alone says nothing of where. */
const LIBPQ_PLACE = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGUSER', 'PGDATABASE'];
/** Where the server's unix socket lives on the common distributions, as the engine looks. */
const SOCKET_DIRS = ['/var/run/postgresql', '/tmp'];

const configError = (message) => Object.assign(new Error(message), { code: 'E_CONFIG' });

/**
 * The maintenance database of the server the PG* variables point at, as a
 * URL, with libpq's defaults for what they leave out (the local socket, port
 * 5432, the OS user), as the engine resolves them; undefined when none says
 * where. Like DATABASE_URL's, PGDATABASE names the app's database, so the
 * maintenance database `postgres` stands in for it.
 */
function libpqAdminUrl(env) {
  // An empty variable counts as unset, as everywhere in stratum.
  const get = (name) => (env[name] ? env[name] : undefined);
  if (!LIBPQ_PLACE.some(get)) return undefined;
  const port = get('PGPORT') || '5432';
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw configError(`PGPORT=${port} is not a port number`);
  let host = get('PGHOST') || get('PGHOSTADDR');
  if (!host) {
    const dir = SOCKET_DIRS.find((candidate) => fs.existsSync(path.join(candidate, `.s.PGSQL.${port}`)));
    host = dir || 'localhost';
  }
  // A socket directory travels percent-encoded, which pg and the engine both read back.
  if (host.startsWith('/')) host = encodeURIComponent(host);
  else if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  const user = get('PGUSER') || env.USER || env.LOGNAME || env.USERNAME || 'postgres';
  const password = get('PGPASSWORD');
  const credentials = encodeURIComponent(user) + (password ? `:${encodeURIComponent(password)}` : '');
  return `postgres://${credentials}@${host}:${port}/postgres`;
}

/**
 * The maintenance database of STRATUM_TEST_ADMIN_URL, else of DATABASE_URL,
 * else of the server the PG* variables point at, else of the local server.
 */
function defaultAdminUrl(env = process.env) {
  if (env.STRATUM_TEST_ADMIN_URL) return env.STRATUM_TEST_ADMIN_URL;
  if (!env.DATABASE_URL) return libpqAdminUrl(env) || DEFAULT_ADMIN_URL;
  let url;
  try {
    url = new URL(env.DATABASE_URL);
  } catch {
    throw configError('DATABASE_URL is not a URL: set STRATUM_TEST_ADMIN_URL or pass adminUrl');
  }
  url.pathname = '/postgres';
  return url.toString();
}

function settings(options = {}) {
  const prefix = options.prefix || DEFAULT_PREFIX;
  // 20 leaves room for `_template_<hash>_building` within PostgreSQL's 63 bytes.
  if (!/^[a-z_][a-z0-9_]{0,19}$/.test(prefix)) {
    throw Object.assign(new Error(`prefix must be 1 to 20 lower-case letters, digits and underscores, not ${prefix}`), {
      code: 'E_CONFIG',
    });
  }
  return {
    adminUrl: options.adminUrl || defaultAdminUrl(),
    dir: stratum.migrationsDir({ dir: options.dir }),
    prefix,
  };
}

function urlFor(adminUrl, database) {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

const quote = (identifier) => `"${identifier.replace(/"/g, '""')}"`;

/**
 * Identifies a set of migrations: every `.sql` file's name and bytes. Any
 * change, even one the engine would forgive such as CRLF line ends, makes a
 * new template, which costs one migration run and can never be wrong.
 */
function migrationsHash(dir) {
  const hash = crypto.createHash('sha256');
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    throw Object.assign(new Error(`cannot read the migrations directory ${dir}: ${error.message}`), {
      code: 'E_CONFIG',
    });
  }
  const files = names
    .filter((file) => file.toLowerCase().endsWith('.sql'))
    .sort();
  for (const file of files) {
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(dir, file)));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

async function withAdmin(adminUrl, work) {
  const { Client } = loadPg();
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Runs `statement`, retrying while PostgreSQL says a database it needs is in
 * use: a session that just closed can linger on the server for a moment.
 */
async function whileInUse(client, statement) {
  const deadline = Date.now() + IN_USE_RETRY_MS;
  for (let pause = 50; ; pause = Math.min(pause * 2, 1000)) {
    try {
      return await client.query(statement);
    } catch (error) {
      if (error.code !== OBJECT_IN_USE || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

const databaseExists = async (client, name) =>
  (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount > 0;

/** Drops `name` if it exists, template or not. */
async function dropDatabase(client, name) {
  if (!(await databaseExists(client, name))) return;
  await client.query(`ALTER DATABASE ${quote(name)} WITH IS_TEMPLATE false`);
  await client.query(`DROP DATABASE ${quote(name)} WITH (FORCE)`);
}

/**
 * The template database for the current migration files, migrated first if
 * it does not exist yet. Safe from many processes at once: one migrates, the
 * others wait on an advisory lock and then find it there.
 */
async function ensureTemplate(client, { adminUrl, dir, prefix }) {
  const template = `${prefix}_template_${migrationsHash(dir)}`;
  if (await databaseExists(client, template)) return template;
  await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [template]);
  try {
    if (await databaseExists(client, template)) return template;
    // Built under another name and renamed when complete, so a template
    // that exists is always a whole one, even after a crash mid-build.
    const building = `${template}_building`;
    await dropDatabase(client, building);
    await client.query(`CREATE DATABASE ${quote(building)}`);
    try {
      await stratum.migrate({ databaseUrl: urlFor(adminUrl, building), dir });
    } catch (error) {
      await dropDatabase(client, building);
      throw error;
    }
    // No connections to a template: a copy fails while anyone is connected to it.
    await client.query(`ALTER DATABASE ${quote(building)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
    await whileInUse(client, `ALTER DATABASE ${quote(building)} RENAME TO ${quote(template)}`);
    return template;
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [template]);
  }
}

/** Makes sure the template for the current migration files exists (e.g. in jest's globalSetup); returns its name. */
async function prepareTemplate(options) {
  const resolved = settings(options);
  return withAdmin(resolved.adminUrl, (client) => ensureTemplate(client, resolved));
}

/** A new database holding the migrated schema: `{ url, name, drop() }`. */
async function createTestDatabase(options) {
  const resolved = settings(options);
  const { adminUrl, prefix } = resolved;
  const name = `${prefix}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await withAdmin(adminUrl, async (client) => {
    const template = await ensureTemplate(client, resolved);
    await whileInUse(client, `CREATE DATABASE ${quote(name)} TEMPLATE ${quote(template)}`);
  });
  return {
    name,
    url: urlFor(adminUrl, name),
    drop: () =>
      withAdmin(adminUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
      }),
  };
}

/** Drops every template database of `prefix`, and any left half-built; returns their names. */
async function dropTemplates(options) {
  const { adminUrl, prefix } = settings(options);
  return withAdmin(adminUrl, async (client) => {
    const { rows } = await client.query(
      'SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname',
      [`${prefix}_template_`],
    );
    for (const { datname } of rows) await dropDatabase(client, datname);
    return rows.map((row) => row.datname);
  });
}

module.exports = { createTestDatabase, prepareTemplate, dropTemplates };
