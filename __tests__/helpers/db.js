// Test databases: each test file gets its own uniquely named database on the
// real server, dropped afterwards, so jest workers never share state.
const crypto = require('node:crypto');
const { Client } = require('pg');

const ADMIN_URL =
  process.env.STRATUM_TEST_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

function urlFor(database) {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient(url, fn) {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database; returns its name, its URL and a drop(). */
async function createDatabase(prefix = 'stratum_test') {
  const name = `${prefix}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await withClient(ADMIN_URL, (client) => client.query(`CREATE DATABASE "${name}"`));
  const url = urlFor(name);
  return {
    name,
    url,
    drop: () =>
      withClient(ADMIN_URL, (client) =>
        client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
      ),
  };
}

/** Runs one query against `url` and returns its rows. */
function query(url, sql, params) {
  return withClient(url, async (client) => (await client.query(sql, params)).rows);
}

module.exports = { ADMIN_URL, createDatabase, query, withClient, urlFor };
