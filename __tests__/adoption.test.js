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
