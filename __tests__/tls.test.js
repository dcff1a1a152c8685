// TLS by sslmode against a second cluster that accepts TLS only, with a
// self-signed CA made by the test.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const stratum = require('..');
const { startTlsCluster } = require('./helpers/cluster');
const { migrationsDir } = require('./helpers/fixtures');

let cluster;
beforeAll(async () => {
  cluster = await startTlsCluster();
}, 60000);
afterAll(() => cluster && cluster.stop());

const dir = () => migrationsDir({ '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n' });
const url = (host, query, user = 'postgres') =>
  `postgres://${user}@${host}:${cluster.port}/postgres${query ? `?${query}` : ''}`;
// Each case runs status: it connects and reads, and changes nothing.
const connect = (databaseUrl) => stratum.status({ databaseUrl, dir: dir() });

test('a server that demands TLS refuses sslmode=disable with a clear E_CONNECT', async () => {
  const error = await connect(url('127.0.0.1', 'sslmode=disable')).catch((e) => e);
  expect(error.code).toBe('E_CONNECT');
  expect(error.message).toMatch(/pg_hba\.conf|no encryption/);
});

test.each([
  ['prefer (the default)', ''],
  ['require', 'sslmode=require'],
  ['verify-ca with the right CA, whatever the host name', 'sslmode=verify-ca&sslrootcert=CA'],
])('%s connects', async (_label, query) => {
  const report = await connect(url('127.0.0.1', query.replace('CA', encodeURIComponent(cluster.ca))));
  expect(report.pending).toBe(1);
});

test('verify-full with the right CA and host name connects and migrates', async () => {
  const result = await stratum.migrate({
    databaseUrl: url('localhost', `sslmode=verify-full&sslrootcert=${encodeURIComponent(cluster.ca)}`),
    dir: dir(),
  });
  expect(result.applied.map((m) => m.name)).toEqual(['001_a']);
});

test('verify-full with a host name the certificate does not carry is refused', async () => {
  const error = await connect(
    url('127.0.0.1', `sslmode=verify-full&sslrootcert=${encodeURIComponent(cluster.ca)}`),
  ).catch((e) => e);
  expect(error.code).toBe('E_CONNECT');
  expect(error.message).toMatch(/certificate|TLS/i);
});

test('verify-full against a CA that did not sign the certificate is refused', async () => {
  const error = await connect(
    url('localhost', `sslmode=verify-full&sslrootcert=${encodeURIComponent(cluster.otherCa)}`),
  ).catch((e) => e);
  expect(error.code).toBe('E_CONNECT');
});

test('a wrong password is E_CONNECT, says so, and never shows the password', async () => {
  const error = await connect(
    `postgres://pwuser:Wr0ng-Secret@127.0.0.1:${cluster.port}/postgres?sslmode=require`,
  ).catch((e) => e);
  expect(error.code).toBe('E_CONNECT');
  expect(error.message).toMatch(/password authentication failed/);
  expect(JSON.stringify({ ...error, message: error.message })).not.toContain('Wr0ng-Secret');
  const ok = await connect(`postgres://pwuser:right-password@127.0.0.1:${cluster.port}/postgres?sslmode=require`);
  expect(ok.migrations).toHaveLength(1);
});

test('PGSSLMODE and PGSSLROOTCERT are read when the URL says nothing', () => {
  const { spawnSync } = require('node:child_process');
  const { CLI } = require('./helpers/fixtures');
  const run = (env) =>
    spawnSync(process.execPath, [CLI, 'status', '--dir', dir(), '--url', url('127.0.0.1', ''), '--json'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
  expect(run({ PGSSLMODE: 'disable' }).status).toBe(1);
  expect(run({ PGSSLMODE: 'verify-ca', PGSSLROOTCERT: cluster.ca }).status).toBe(0);
  expect(run({ PGSSLMODE: 'verify-full', PGSSLROOTCERT: cluster.ca }).status).toBe(1);
});

test('a fleet reads its sslrootcert once for all its targets, and the next call reads it again', async () => {
  const names = [1, 2, 3, 4, 5].map((i) => `tls_fleet_${process.pid}_${i}`);
  for (const name of names) await cluster.psql(`CREATE DATABASE ${name}`);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-tls-ca-'));
  const ca = path.join(folder, 'ca.pem');
  fs.copyFileSync(cluster.ca, ca);
  const targets = names.map(
    (name) => `postgres://postgres@127.0.0.1:${cluster.port}/${name}?sslmode=verify-ca&sslrootcert=${encodeURIComponent(ca)}`,
  );
  try {
    // The canary runs alone; once it has ended the file is gone, and the
    // targets after it connect with the certificates read for it.
    const result = await stratum.status({
      dir: dir(),
      targets,
      concurrency: 1,
      onTarget: () => fs.rmSync(ca, { force: true }),
    });
    expect(result.targets.map((target) => (target.error ? target.error.message : target.outcome))).toEqual(
      names.map(() => 'ok'),
    );
    const again = await stratum.status({ dir: dir(), targets: targets.slice(0, 1) });
    expect(again.targets[0].error.code).toBe('E_CONFIG');
    expect(again.targets[0].error.message).toContain('sslrootcert');
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
});
