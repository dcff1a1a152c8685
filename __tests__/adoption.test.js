// Adopting an existing app whose migration files predate the house rules:
// they cannot be edited (they are applied elsewhere), so a baseline and rule
// levels in package.json let them run as they are, byte for byte.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { CLI } = require('./helpers/fixtures');

// Written the way apps wrote them before the rules existed.
const LEGACY = {
  '001_schema.sql': [
    '-- Migration 001: the first tables',
    'CREATE TABLE roles (id serial PRIMARY KEY, name text UNIQUE NOT NULL);',
    'CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, role_id int REFERENCES roles (id));',
    '',
  ].join('\n'),
  '002_seed_roles.sql': [
    "INSERT INTO roles (name) SELECT 'admin' WHERE NOT EXISTS (SELECT 1 FROM roles WHERE name = 'admin');",
    "INSERT INTO roles (name) VALUES ('member');",
    '',
  ].join('\n'),
  '003_tags.sql': ['BEGIN;', 'CREATE TABLE tags (id serial PRIMARY KEY, label text NOT NULL);', 'CREATE INDEX tags_label ON tags (label);', 'COMMIT;', ''].join('\n'),
};

/** A project folder: package.json with `stratum` settings, and migrations/. */
function project(stratumSection, files = LEGACY) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-adopt-'));
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'app', stratum: { dir: 'migrations', ...stratumSection } }));
  const dir = path.join(root, 'migrations');
  fs.mkdirSync(dir);
  for (const [name, sql] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), sql);
  return { root, dir };
}

const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const rulesOf = (diagnostics) => [...new Set(diagnostics.map((d) => d.rule))].sort();

let db;
beforeEach(async () => {
  db = await createDatabase();
});
afterEach(async () => {
  await db.drop();
});

test('without a baseline the legacy files are refused, and nothing runs', async () => {
  const { root } = project({});
  const error = await stratum.migrate({ databaseUrl: db.url, cwd: root }).catch((e) => e);
  expect(error.code).toBe('E_LINT');
  expect(error.diagnostics.filter((d) => d.severity === 'error').map((d) => d.rule)).toContain('create-if-not-exists');
  expect(error.diagnostics.some((d) => d.baselined)).toBe(false);
  expect((await query(db.url, "SELECT to_regclass('roles') IS NULL AS gone"))[0].gone).toBe(true);
});

test('with a baseline they apply byte for byte on a fresh database, and fresh works', async () => {
  const { root, dir } = project({ baseline: 3 });
  const before = Object.keys(LEGACY).map((name) => sha256(path.join(dir, name)));
  const result = await stratum.migrate({ databaseUrl: db.url, cwd: root });
  expect(result.applied.map((m) => m.name)).toEqual(['001_schema', '002_seed_roles', '003_tags']);
  // Their findings are still shown, as warnings of baselined files.
  expect(result.warnings.length).toBeGreaterThan(0);
  expect(result.warnings.every((d) => d.severity === 'warning' && d.baselined === true)).toBe(true);
  expect(rulesOf(result.warnings)).toEqual(expect.arrayContaining(['create-if-not-exists', 'insert-on-conflict']));
  // The INSERT guarded by WHERE NOT EXISTS on its key is safe to re-run; the plain one is not.
  const inserts = result.warnings.filter((d) => d.rule === 'insert-on-conflict');
  expect(inserts.map((d) => [path.basename(d.file), d.line])).toEqual([['002_seed_roles.sql', 2]]);
  // The files are untouched and recorded with their own checksums.
  expect(Object.keys(LEGACY).map((name) => sha256(path.join(dir, name)))).toEqual(before);
  const rows = await query(db.url, 'SELECT name, checksum FROM migrations ORDER BY id');
  expect(rows.map((r) => r.checksum)).toEqual(before);
  expect((await query(db.url, 'SELECT name FROM roles ORDER BY id')).map((r) => r.name)).toEqual(['admin', 'member']);

  const again = await stratum.fresh({ databaseUrl: db.url, cwd: root });
  expect(again.applied).toHaveLength(3);
  expect((await query(db.url, 'SELECT count(*)::int AS n FROM tags'))[0].n).toBe(0);
});

test('files above the baseline are held to every rule', async () => {
  const { root } = project({ baseline: 3 }, { ...LEGACY, '004_new.sql': 'CREATE TABLE fresh_one (id int);\n' });
  const error = await stratum.migrate({ databaseUrl: db.url, cwd: root }).catch((e) => e);
  expect(error.code).toBe('E_LINT');
  const errors = error.diagnostics.filter((d) => d.severity === 'error');
  expect(errors.map((d) => [path.basename(d.file), d.rule])).toEqual([['004_new.sql', 'create-if-not-exists']]);
  expect(errors[0].baselined).toBeUndefined();
  // The option and --baseline win over package.json.
  const lowered = await stratum.lint({ cwd: root, baseline: 4 });
  expect(lowered.errors).toBe(0);
  const plan = await stratum.plan({ databaseUrl: db.url, cwd: root, baseline: 1 });
  expect(plan.errors).toBeGreaterThan(0);
  expect(plan.diagnostics.filter((d) => d.severity === 'error').map((d) => path.basename(d.file))).toContain('003_tags.sql');
});

test('rule levels in package.json and in the options', async () => {
  const { root } = project({ rules: { 'create-if-not-exists': 'warning', 'insert-on-conflict': 'off', 'drop-if-exists': 'error' } }, {
    ...LEGACY,
    '004_drop.sql': 'DROP TABLE IF EXISTS old_one;\nDROP INDEX tags_label;\n',
  });
  const report = await stratum.lint({ cwd: root });
  expect(report.diagnostics.filter((d) => d.rule === 'create-if-not-exists').every((d) => d.severity === 'warning')).toBe(true);
  expect(rulesOf(report.diagnostics)).not.toContain('insert-on-conflict');
  expect(report.diagnostics.filter((d) => d.severity === 'error').map((d) => d.rule)).toEqual(['drop-if-exists']);
  // The option overrides package.json, id by id.
  const quieter = await stratum.lint({ cwd: root, rules: { 'drop-if-exists': 'off' } });
  expect(quieter.errors).toBe(0);
  expect(rulesOf(quieter.diagnostics)).toEqual(['create-if-not-exists']);
});

test('an unknown rule id is E_CONFIG and lists the valid ones', async () => {
  const { root } = project({ rules: { 'insert-on-conflicts': 'off' } });
  const error = await stratum.lint({ cwd: root }).catch((e) => e);
  expect(error.code).toBe('E_CONFIG');
  expect(error.message).toMatch(/insert-on-conflicts/);
  expect(error.message).toMatch(/create-if-not-exists, .*insert-on-conflict/);
  const fromOption = await stratum.lint({ cwd: project({}).root, rules: { nope: 'off' } }).catch((e) => e);
  expect(fromOption.code).toBe('E_CONFIG');
  const badLevel = await stratum.lint({ cwd: project({}).root, rules: { 'drop-if-exists': 'warn' } }).catch((e) => e);
  expect(badLevel.code).toBe('E_CONFIG');
  expect(badLevel.message).toMatch(/"warning"/);
});

test('-- stratum:allow-file in the leading comments silences a rule for the file', async () => {
  const { root } = project({}, {
    '001_seed.sql': "-- Seed data\n-- stratum:allow-file insert-on-conflict\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\n",
    '002_late.sql': "INSERT INTO t VALUES (3) ON CONFLICT DO NOTHING;\n-- stratum:allow-file insert-on-conflict\nINSERT INTO t VALUES (4);\n",
  });
  const report = await stratum.lint({ cwd: root });
  const found = report.diagnostics.map((d) => [path.basename(d.file), d.rule]);
  expect(found).toEqual([
    ['002_late.sql', 'misplaced-directive'],
    ['002_late.sql', 'insert-on-conflict'],
  ]);
});

test('the CLI takes --baseline and says once that files are under it', () => {
  const { root } = project({});
  const run = (...args) => spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const strict = run('lint');
  expect(strict.status).toBe(1);
  expect(strict.stdout).not.toMatch(/baseline/);
  const lenient = run('lint', '--baseline', '3');
  expect(lenient.status).toBe(0);
  expect(lenient.stdout.match(/at or below the baseline/g)).toHaveLength(1);
  expect(lenient.stdout).toMatch(/0 errors/);
  const bad = run('lint', '--baseline', 'six');
  expect(bad.status).toBe(2);
});

/** The advisory lock key stratum derives from the tracking table's schema and name. */
function lockKey(schema, table) {
  const digest = crypto.createHash('sha256').update(`stratum migration lock ${schema}.${table}`).digest('hex');
  return BigInt.asIntN(64, BigInt(`0x${digest.slice(0, 16)}`)).toString();
}

/** A schema built by hand from the legacy files' tables, with none of their rows. */
async function builtByHand(url) {
  await query(url, LEGACY['001_schema.sql']);
  await query(url, LEGACY['003_tags.sql']);
}

const trackingRows = (url) => query(url, 'SELECT name, version, checksum FROM migrations ORDER BY id');
const hasTracking = async (url) => (await query(url, "SELECT to_regclass('migrations') IS NOT NULL AS e"))[0].e;

describe('baseline: a database built before any tracking', () => {
  test('records the files up to the version with their checksums, without running them', async () => {
    const { root, dir } = project({}, { ...LEGACY, '004_notes.sql': 'CREATE TABLE IF NOT EXISTS notes (id int);\n' });
    await builtByHand(db.url);
    const result = await stratum.baseline(3, { databaseUrl: db.url, cwd: root });
    expect(result.recorded.map((m) => [m.version, m.name])).toEqual([
      [1, '001_schema'],
      [2, '002_seed_roles'],
      [3, '003_tags'],
    ]);
    const rows = await trackingRows(db.url);
    expect(rows.map((r) => [r.name, Number(r.version), r.checksum])).toEqual(
      Object.keys(LEGACY).map((name, i) => [name.replace(/\.sql$/, ''), i + 1, sha256(path.join(dir, name))]),
    );
    expect(result.recorded.map((m) => m.checksum)).toEqual(rows.map((r) => r.checksum));
    // 002 seeds two roles: it was recorded, not run.
    expect((await query(db.url, 'SELECT count(*)::int AS n FROM roles'))[0].n).toBe(0);

    const status = await stratum.status({ databaseUrl: db.url, cwd: root });
    expect(status.migrations.map((m) => m.state)).toEqual(['applied', 'applied', 'applied', 'pending']);
    const migrated = await stratum.migrate({ databaseUrl: db.url, cwd: root });
    expect(migrated.applied.map((m) => m.name)).toEqual(['004_notes']);
    expect(migrated.alreadyApplied).toBe(3);
  });

  test('works on an empty tracking table', async () => {
    const { root } = project({});
    await builtByHand(db.url);
    await query(db.url, 'CREATE TABLE migrations (id SERIAL PRIMARY KEY, name VARCHAR(255) UNIQUE NOT NULL, executed_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const result = await stratum.baseline(1, { databaseUrl: db.url, cwd: root });
    expect(result.recorded.map((m) => m.name)).toEqual(['001_schema']);
    const rows = await trackingRows(db.url);
    expect(rows.map((r) => r.name)).toEqual(['001_schema']);
    expect(rows[0].checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  test('refuses a database that already tracks migrations, and changes nothing', async () => {
    const { root } = project({ baseline: 3 });
    await stratum.migrate({ databaseUrl: db.url, cwd: root });
    const before = await trackingRows(db.url);
    const error = await stratum.baseline(2, { databaseUrl: db.url, cwd: root }).catch((e) => e);
    expect(error.code).toBe('E_BASELINE');
    expect(error.message).toMatch(/already records 3 migration/);
    expect(error.message).toMatch(/stratum migrate/);
    expect(await trackingRows(db.url)).toEqual(before);
  });

  test('refuses a version with no file, before it creates anything', async () => {
    const { root } = project({});
    const error = await stratum.baseline(5, { databaseUrl: db.url, cwd: root }).catch((e) => e);
    expect(error.code).toBe('E_BASELINE');
    expect(error.message).toMatch(/no migration file is numbered 5/);
    expect(error.message).toMatch(/numbered 1 to 3/);
    expect(await hasTracking(db.url)).toBe(false);
    const bad = await stratum.baseline(1.5, { databaseUrl: db.url, cwd: root }).catch((e) => e);
    expect(bad.code).toBe('E_CONFIG');
  });

  test('waits for the migration lock, and writes nothing when it cannot have it', async () => {
    const { root } = project({});
    const { withClient } = require('./helpers/db');
    await withClient(db.url, async (holder) => {
      await holder.query(`SELECT pg_advisory_lock(${lockKey('public', 'migrations')})`);
      const error = await stratum.baseline(3, { databaseUrl: db.url, cwd: root, lockTimeoutMs: 300 }).catch((e) => e);
      expect(error.code).toBe('E_LOCK_TIMEOUT');
    });
    expect(await hasTracking(db.url)).toBe(false);
  });

  test('the CLI: stratum baseline <version>', () => {
    const { root } = project({});
    const run = (...args) => spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const done = run('baseline', '2', '--url', db.url);
    expect(done.stderr).not.toMatch(/error/);
    expect(done.status).toBe(0);
    expect(done.stdout).toMatch(/recorded {2}001_schema\nrecorded {2}002_seed_roles\n2 recorded as applied/);
    const again = run('baseline', '2', '--url', db.url, '--json');
    expect(again.status).toBe(1);
    expect(JSON.parse(again.stdout).error.code).toBe('E_BASELINE');
    expect(run('baseline', 'two').status).toBe(2);
    expect(run('baseline').status).toBe(2);
  });
});

describe('createDatabase: a database that does not exist yet', () => {
  const { ADMIN_URL, urlFor } = require('./helpers/db');
  const missingName = () => `stratum_new_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const exists = async (name) => (await query(ADMIN_URL, 'SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [name]))[0].n === 1;
  const dropDatabase = (name) => query(ADMIN_URL, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  const cli = (root, args, env = {}) =>
    spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', NODE_ENV: '', ...env } });

  test('without the flag, the error says to add it or run createdb', async () => {
    const name = missingName();
    const { root } = project({ baseline: 3 });
    const error = await stratum.migrate({ databaseUrl: urlFor(name), cwd: root }).catch((e) => e);
    expect(error.code).toBe('E_CONNECT');
    expect(error.message).toMatch(new RegExp(`database "${name}" does not exist`));
    expect(error.message).toMatch(/--create-database/);
    expect(error.message).toMatch(new RegExp(`createdb ${name}`));
    expect(await exists(name)).toBe(false);
  });

  test('with it, migrate creates the database, then applies every file', async () => {
    const name = missingName();
    const { root } = project({ baseline: 3 });
    try {
      const result = await stratum.migrate({ databaseUrl: urlFor(name), cwd: root, createDatabase: true });
      expect(result.applied).toHaveLength(3);
      expect(await exists(name)).toBe(true);
      // A database that exists is left alone.
      const again = await stratum.migrate({ databaseUrl: urlFor(name), cwd: root, createDatabase: true });
      expect(again.alreadyApplied).toBe(3);
    } finally {
      await dropDatabase(name);
    }
  });

  test('the CLI flag, refused with NODE_ENV=production and on other commands', async () => {
    const name = missingName();
    const { root } = project({ baseline: 3 });
    try {
      const production = cli(root, ['migrate', '--create-database', '--url', urlFor(name)], { NODE_ENV: 'production' });
      expect(production.status).toBe(1);
      expect(production.stderr).toMatch(/NODE_ENV=production stratum never creates a database/);
      expect(await exists(name)).toBe(false);
      expect(cli(root, ['status', '--create-database', '--url', urlFor(name)]).status).toBe(2);
      const created = cli(root, ['migrate', '--create-database', '--url', urlFor(name)]);
      expect(created.stderr).not.toMatch(/error/);
      expect(created.status).toBe(0);
      expect(await exists(name)).toBe(true);
    } finally {
      await dropDatabase(name);
    }
  });

  test('a role without CREATEDB is told why the database could not be created', async () => {
    const name = missingName();
    const role = `stratum_nocreate_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
    await query(ADMIN_URL, `CREATE ROLE "${role}" LOGIN NOCREATEDB`);
    try {
      const url = new URL(urlFor(name));
      url.username = role;
      const { root } = project({ baseline: 3 });
      const error = await stratum.migrate({ databaseUrl: url.toString(), cwd: root, createDatabase: true }).catch((e) => e);
      expect(error.code).toBe('E_CONNECT');
      expect(error.message).toMatch(/creating it failed: permission denied to create database/);
      expect(await exists(name)).toBe(false);
    } finally {
      await dropDatabase(name);
      await query(ADMIN_URL, `DROP ROLE IF EXISTS "${role}"`);
    }
  });
});

describe('lint --since: committed migration files never change', () => {
  const git = (root, ...args) => {
    const done = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'commit.gpgsign=false', ...args], {
      cwd: root,
      encoding: 'utf8',
    });
    if (done.status !== 0) throw new Error(`git ${args.join(' ')}: ${done.stderr}`);
    return done.stdout;
  };
  const CLEAN = {
    '001_users.sql': 'CREATE TABLE IF NOT EXISTS users (id int);\nCREATE INDEX IF NOT EXISTS users_id ON users (id);\n',
    '002_posts.sql': 'CREATE TABLE IF NOT EXISTS posts (id int);\n',
    '003_tags.sql': 'CREATE TABLE IF NOT EXISTS tags (id int);\n',
    '004_notes.sql': 'CREATE TABLE IF NOT EXISTS notes (id int);\n',
  };
  /** A checkout whose branch `main` holds CLEAN, then edits in the working tree. */
  function checkout(section = {}) {
    const { root, dir } = project(section, CLEAN);
    git(root, 'init', '-q', '-b', 'main');
    git(root, 'add', '.');
    git(root, 'commit', '-q', '-m', 'first');
    fs.writeFileSync(path.join(dir, '001_users.sql'), 'CREATE TABLE IF NOT EXISTS users (id int);\nCREATE INDEX IF NOT EXISTS users_id ON users (id, id);\n');
    fs.rmSync(path.join(dir, '002_posts.sql'));
    fs.renameSync(path.join(dir, '003_tags.sql'), path.join(dir, '005_tags.sql'));
    fs.writeFileSync(path.join(dir, '006_new.sql'), 'CREATE TABLE new_one (id int);\n');
    return root;
  }
  const cli = (root, ...args) => spawnSync(process.execPath, [CLI, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const immutable = (diagnostics) =>
    diagnostics.filter((d) => d.rule === 'immutable-migration').map((d) => [d.file, d.line, d.severity]);

  test('modified, deleted and renumbered files are errors; new files are linted as usual', async () => {
    // Held even for files under the lint baseline: it is not about their style.
    const root = checkout({ baseline: 10 });
    const report = await stratum.lint({ cwd: root, since: 'main' });
    expect(immutable(report.diagnostics)).toEqual([
      ['migrations/001_users.sql', 2, 'error'],
      ['migrations/002_posts.sql', 1, 'error'],
      ['migrations/005_tags.sql', 1, 'error'],
    ]);
    const messages = report.diagnostics.filter((d) => d.rule === 'immutable-migration').map((d) => d.message);
    expect(messages[0]).toMatch(/001_users\.sql was modified since main/);
    expect(messages[1]).toMatch(/002_posts\.sql exists at main but was deleted/);
    expect(messages[2]).toMatch(/005_tags\.sql is 003_tags\.sql renumbered since main/);
    expect(report.diagnostics.filter((d) => d.rule === 'create-if-not-exists').map((d) => d.file)).toEqual(['migrations/006_new.sql']);
    expect(report.errors).toBe(3);
    // Without --since, nothing of it.
    expect(immutable((await stratum.lint({ cwd: root })).diagnostics)).toEqual([]);
    // Committed on a branch, the same: the reference is what counts.
    git(root, 'checkout', '-q', '-b', 'feature');
    git(root, 'add', '-A');
    git(root, 'commit', '-q', '-m', 'edit');
    expect(immutable((await stratum.lint({ cwd: root, since: 'main' })).diagnostics)).toHaveLength(3);
    expect(immutable((await stratum.lint({ cwd: root, since: 'HEAD' })).diagnostics)).toEqual([]);
  });

  test('--format github prints annotations, --format json is --json', () => {
    const root = checkout();
    const annotated = cli(root, 'lint', '--since', 'main', '--format', 'github');
    expect(annotated.status).toBe(1);
    const lines = annotated.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^::error file=migrations\/001_users\.sql,line=2,col=1,title=stratum immutable-migration::001_users\.sql was modified since main/);
    expect(lines[0]).toMatch(/%0Ahelp: restore it/);
    expect(lines).toContainEqual(expect.stringMatching(/^::error file=migrations\/006_new\.sql,line=1,col=1,title=stratum create-if-not-exists::/));
    expect(lines[lines.length - 1]).toBe('4 errors, 0 warnings');
    const json = cli(root, 'lint', '--since', 'main', '--format', 'json');
    const plain = cli(root, 'lint', '--since', 'main', '--json');
    expect(json.stdout).toBe(plain.stdout);
    expect(JSON.parse(json.stdout).errors).toBe(4);
    expect(cli(root, 'status', '--format', 'github').status).toBe(2);
    expect(cli(root, 'lint', '--format', 'xml').status).toBe(2);
    expect(cli(root, 'status', '--since', 'main').status).toBe(2);
  });

  test('clear errors for a folder that is not a checkout and for an unknown ref', async () => {
    const { root } = project({}, CLEAN);
    const outside = await stratum.lint({ cwd: root, since: 'main' }).catch((e) => e);
    expect(outside.code).toBe('E_CONFIG');
    expect(outside.message).toMatch(/is not inside a git checkout/);
    const repo = checkout();
    const unknown = await stratum.lint({ cwd: repo, since: 'origin/nope' }).catch((e) => e);
    expect(unknown.code).toBe('E_CONFIG');
    expect(unknown.message).toMatch(/--since origin\/nope: no such commit/);
    const annotated = cli(repo, 'lint', '--since', 'origin/nope', '--format', 'github');
    expect(annotated.status).toBe(1);
    expect(annotated.stdout).toMatch(/^::error title=stratum E_CONFIG::--since origin\/nope: no such commit/);
  });
});
