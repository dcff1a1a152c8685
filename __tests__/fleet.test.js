// The fleet: one migrate / status / plan over tenant databases spread on
// three throw-away clusters (and over tenant schemas of one database). A
// migration records how many of the fleet's sessions were busy on its server
// while it ran, so the bounds on connections are read from the servers
// themselves; failures, the canary and reruns are checked on the databases.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Client } = require('pg');
const stratum = require('..');
const { startCluster } = require('./helpers/cluster');
const { migrationsDir, CLI } = require('./helpers/fixtures');

const APP = 'stratum_fleet_test';
// A password the servers never ask for (trust), which must never be printed.
const PASSWORD = 'fleet-s3cret-pw';

/** Sleeps inside the migration so that the targets overlap, then counts the busy sessions of the fleet on this server. */
const FILES = {
  '001_customers.sql': 'CREATE TABLE IF NOT EXISTS customers (id SERIAL PRIMARY KEY, email TEXT NOT NULL);\n',
  '002_seen.sql': `SELECT pg_sleep(0.3);
CREATE TABLE IF NOT EXISTS seen AS
  SELECT count(*)::int AS sessions FROM pg_stat_activity
   WHERE application_name = '${APP}' AND state <> 'idle';
`,
  '003_email_index.sql': 'CREATE INDEX IF NOT EXISTS customers_email ON customers (email);\n',
};

let clusters = [];
let dir;
let counter = 0;

beforeAll(async () => {
  for (let i = 0; i < 3; i++) clusters.push(await startCluster({ settings: ['max_connections = 40'] }));
  dir = migrationsDir(FILES);
}, 120000);

afterAll(() => {
  for (const cluster of clusters) cluster.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** `count` new databases on each cluster, named uniquely; returns their URLs (with the password and app name). */
async function tenants(count, perCluster = clusters) {
  const urls = [];
  for (const cluster of perCluster) {
    for (let i = 0; i < count; i++) {
      counter += 1;
      const name = `isp_${counter}`;
      await cluster.psql(`CREATE DATABASE ${name}`);
      urls.push(`postgres://postgres:${PASSWORD}@127.0.0.1:${cluster.port}/${name}?application_name=${APP}&sslmode=disable`);
    }
  }
  return urls;
}

async function rows(url, sql) {
  const client = new Client({ connectionString: url.replace(/\?.*$/, '') });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

const trackingTable = async (url) => (await rows(url, "SELECT to_regclass('public.migrations') AS t"))[0].t;

test('migrates every target across three servers, within the bounds on connections', async () => {
  const urls = await tenants(3);
  const ended = [];
  const result = await stratum.migrate({
    dir,
    targets: urls,
    concurrency: 4,
    perServer: 2,
    onTarget: (target) => ended.push(target.target),
  });
  expect(result.failed).toBe(0);
  expect(result.ok).toBe(9);
  expect(result.targets.map((t) => t.database)).toEqual(urls.map((u) => new URL(u).pathname.slice(1)));
  for (const target of result.targets) {
    expect(target.applied.map((m) => m.name)).toEqual(['001_customers', '002_seen', '003_email_index']);
    expect(target.target).toMatch(/^127\.0\.0\.1:\d+\/isp_\d+$/);
  }
  await new Promise((resolve) => setImmediate(resolve));
  expect(ended.sort()).toEqual(result.targets.map((t) => t.target).sort());

  // What each migration saw of the fleet on its own server.
  const seen = [];
  for (const url of urls) seen.push((await rows(url, 'SELECT sessions FROM seen'))[0].sessions);
  expect(Math.max(...seen)).toBeLessThanOrEqual(2);
  // The targets did overlap: a fleet run one at a time would see 1 everywhere.
  expect(Math.max(...seen)).toBe(2);

  // A rerun touches only what is pending: nothing here.
  const again = await stratum.migrate({ dir, targets: urls, concurrency: 4 });
  expect(again.ok).toBe(9);
  for (const target of again.targets) {
    expect(target.applied).toEqual([]);
    expect(target.alreadyApplied).toBe(3);
  }
});

test('never more connections than the concurrency, all targets on one server', async () => {
  const urls = await tenants(6, [clusters[0]]);
  const result = await stratum.migrate({ dir, targets: urls, concurrency: 3, canary: 0 });
  expect(result.ok).toBe(6);
  const seen = [];
  for (const url of urls) seen.push((await rows(url, 'SELECT sessions FROM seen'))[0].sessions);
  expect(Math.max(...seen)).toBeLessThanOrEqual(3);
  expect(Math.max(...seen)).toBeGreaterThanOrEqual(2);
});

/** A tenant whose `customers` table predates the files and lacks `email`: 003 fails there. */
async function poisoned() {
  const [url] = await tenants(1, [clusters[1]]);
  await rows(url, 'CREATE TABLE customers (id SERIAL PRIMARY KEY)');
  return url;
}

test('a failed canary touches no other target', async () => {
  const bad = await poisoned();
  const others = await tenants(1);
  const result = await stratum.migrate({ dir, targets: [bad, ...others] });
  expect(result).toMatchObject({ ok: 0, failed: 1, skipped: 3 });
  const [failed, ...skipped] = result.targets;
  expect(failed.outcome).toBe('failed');
  expect(failed.error).toMatchObject({ code: 'E_SQL', file: expect.stringContaining('003_email_index.sql'), line: 1 });
  expect(failed.error.message).toMatch(/column "email" does not exist/);
  // It committed 001 and 002 before 003 failed; the report says so.
  expect(failed.applied.map((m) => m.name)).toEqual(['001_customers', '002_seen']);
  for (const target of skipped) expect(target).toMatchObject({ outcome: 'skipped', ok: false });
  for (const url of others) expect(await trackingTable(url)).toBeNull();
});

test('after a failure no new target starts; --continue-on-error runs them all', async () => {
  const good = await tenants(1, [clusters[0]]);
  const bad = await poisoned();
  const later = await tenants(2, [clusters[2]]);
  const targets = [...good, bad, ...later];

  const stopped = await stratum.migrate({ dir, targets, concurrency: 1 });
  expect(stopped.targets.map((t) => t.outcome)).toEqual(['ok', 'failed', 'skipped', 'skipped']);
  for (const url of later) expect(await trackingTable(url)).toBeNull();

  const all = await stratum.migrate({ dir, targets, concurrency: 2, continueOnError: true });
  expect(all.targets.map((t) => t.outcome)).toEqual(['ok', 'failed', 'ok', 'ok']);
  // The first target was done already: the rerun applied nothing there.
  expect(all.targets[0].applied).toEqual([]);
  expect(all.targets[2].applied).toHaveLength(3);
});

test('status groups the targets by their newest migration and names changed files', async () => {
  const urls = await tenants(1);
  const firstTwo = migrationsDir({ '001_customers.sql': FILES['001_customers.sql'], '002_seen.sql': FILES['002_seen.sql'] });
  try {
    await stratum.migrate({ dir: firstTwo, targets: urls.slice(0, 1) });
    await stratum.migrate({ dir, targets: urls.slice(1) });
  } finally {
    fs.rmSync(firstTwo, { recursive: true, force: true });
  }
  await rows(urls[2], "UPDATE migrations SET checksum = repeat('0', 64) WHERE name = '001_customers'");

  const status = await stratum.status({ dir, targets: urls });
  expect(status.groups).toEqual([
    { newest: { version: 3, name: '003_email_index' }, pending: 0, targets: [status.targets[1].target, status.targets[2].target] },
    { newest: { version: 2, name: '002_seen' }, pending: 1, targets: [status.targets[0].target] },
  ]);
  expect(status.targets[2].changed).toEqual(['001_customers']);
  expect(status.targets[0]).toMatchObject({ applied: 2, pending: 1, changed: [], missing: [] });

  const plan = await stratum.plan({ dir, targets: urls.slice(0, 2) });
  expect(plan.targets[0].pending.map((m) => m.name)).toEqual(['003_email_index']);
  expect(plan.targets[1].pending).toEqual([]);
  // Nothing was changed by either.
  expect((await rows(urls[0], 'SELECT count(*)::int AS n FROM migrations'))[0].n).toBe(2);

  const cli = spawnSync(process.execPath, [CLI, 'status', '--dir', dir, '--targets', '-'], {
    input: `# the tenants\n${urls.join('\n')}\n\n`,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  expect(cli.stdout).toContain('2 targets at 003_email_index: up to date');
  expect(cli.stdout).toContain('1 target at 002_seen: 1 pending');
  expect(cli.stdout).toMatch(/changed {2}127\.0\.0\.1:\d+\/isp_\d+: 001_customers/);
  expect(cli.stdout + cli.stderr).not.toContain(PASSWORD);
  expect(cli.status).toBe(0);
});

test('--targets-query names databases on the configured server', async () => {
  const cluster = clusters[2];
  const urls = await tenants(2, [cluster]);
  const names = urls.map((u) => new URL(u).pathname.slice(1));
  const result = await stratum.migrate({
    dir,
    databaseUrl: `${cluster.url('postgres')}?application_name=${APP}`,
    targetsQuery: `SELECT datname FROM pg_database WHERE datname IN ('${names.join("','")}') ORDER BY datname DESC`,
  });
  expect(result.targets.map((t) => t.database)).toEqual([...names].sort().reverse());
  expect(result.ok).toBe(2);
});

test('--schemas-query migrates each tenant schema with its own tracking table', async () => {
  const [url] = await tenants(1, [clusters[0]]);
  await rows(url, 'CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b');
  const result = await stratum.migrate({
    dir,
    databaseUrl: url,
    schemasQuery: "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%' ORDER BY 1",
    concurrency: 2,
  });
  expect(result.ok).toBe(2);
  expect(result.targets.map((t) => t.schema)).toEqual(['tenant_a', 'tenant_b']);
  expect(result.targets[0].target).toMatch(/\/isp_\d+ \(schema tenant_a\)$/);
  for (const schema of ['tenant_a', 'tenant_b']) {
    const tables = await rows(url, `SELECT to_regclass('${schema}.customers') AS c, to_regclass('${schema}.migrations') AS m`);
    expect(tables[0]).toEqual({ c: `${schema}.customers`, m: `${schema}.migrations` });
  }
  expect(await trackingTable(url)).toBeNull();
});

test('the CLI: --json report, a live-free failure line, exit code 1, never a password', async () => {
  const good = await tenants(1, [clusters[0]]);
  const missing = `postgres://postgres:${PASSWORD}@127.0.0.1:${clusters[0].port}/no_such_tenant?sslmode=disable`;
  const file = path.join(os.tmpdir(), `stratum-targets-${process.pid}.txt`);
  fs.writeFileSync(file, [good[0], missing].join('\n'));
  try {
    const run = (args) =>
      spawnSync(process.execPath, [CLI, 'migrate', '--dir', dir, '--targets', file, '--continue-on-error', ...args], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
    const json = run(['--json']);
    expect(json.status).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report).toMatchObject({ ok: 1, failed: 1, skipped: 0 });
    expect(report.targets[1]).toMatchObject({ database: 'no_such_tenant', ok: false, error: { code: 'E_CONNECT' } });
    expect(json.stdout + json.stderr).not.toContain(PASSWORD);

    const text = run([]);
    expect(text.status).toBe(1);
    expect(text.stdout).toMatch(/failed {2}127\.0\.0\.1:\d+\/no_such_tenant {2}E_CONNECT {2}.*does not exist/);
    expect(text.stdout).toContain('2 targets: 1 ok, 1 failed');
    expect(text.stdout + text.stderr).not.toContain(PASSWORD);

    // --quiet: nothing but the failures, on stderr.
    const quiet = run(['--quiet']);
    expect(quiet.status).toBe(1);
    expect(quiet.stdout).toBe('');
    expect(quiet.stderr).toMatch(/^failed {2}127\.0\.0\.1:\d+\/no_such_tenant {2}E_CONNECT/);
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('createDatabase creates a missing tenant database before migrating it', async () => {
  counter += 1;
  const name = `isp_new_${counter}`;
  const url = `${clusters[2].url(name)}?sslmode=disable`;
  const result = await stratum.migrate({ dir, targets: [url], createDatabase: true });
  expect(result.ok).toBe(1);
  expect(result.targets[0].applied).toHaveLength(3);
  expect(await trackingTable(url)).toBe('migrations');
});

test('fresh and reset take no targets', async () => {
  const [url] = await tenants(1, [clusters[0]]);
  await expect(stratum.fresh({ dir, targets: [url] })).rejects.toMatchObject({ code: 'E_CONFIG' });
  await expect(stratum.reset({ targets: [url] })).rejects.toMatchObject({ code: 'E_CONFIG' });
  const cli = spawnSync(process.execPath, [CLI, 'fresh', '--targets', '-'], { input: url, encoding: 'utf8' });
  expect(cli.status).toBe(2);
  expect(cli.stderr).toContain('--targets goes with migrate, status and plan only');
  await expect(stratum.migrate({ dir, concurrency: 2 })).rejects.toMatchObject({ code: 'E_CONFIG' });
});

test('the fleet options are read and checked with the rest', async () => {
  const [url] = await tenants(1, [clusters[0]]);
  const refused = (call, message) => expect(call).rejects.toMatchObject({ code: 'E_CONFIG', message: expect.stringMatching(message) });
  await refused(stratum.fresh({ dir, targets: [url] }), /^fresh runs on one database/);
  await refused(stratum.baseline(1, { dir, targets: [url] }), /^baseline runs on one database/);
  await refused(stratum.diagram({ targetsQuery: 'SELECT 1' }), /^diagram runs on one database/);
  await refused(stratum.status({ dir, targets: [url], schemasQuery: 'SELECT 1' }), /give one of targets/);
  await refused(stratum.plan({ dir, targets: [url], client: { query: () => {} } }), /leave out `client`/);
  await refused(stratum.migrate({ dir, targets: url }), /^invalid options/);
  await refused(stratum.migrate({ dir, targets: [url], canary: -1 }), /canary takes a whole number/);
  expect(await trackingTable(url)).toBe(null);
});
