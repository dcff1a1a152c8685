// The stratum command as a user runs it: real processes, real server.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir, writeFiles, CLI } = require('./helpers/fixtures');

const FILES = {
  '001_users.sql': 'CREATE TABLE IF NOT EXISTS users (id SERIAL PRIMARY KEY, email TEXT);\n',
  '002_posts.sql': 'CREATE TABLE IF NOT EXISTS posts (id SERIAL PRIMARY KEY);\n',
};

function run(args, { env = {}, cwd } = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: cwd || process.cwd(),
    env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '', ...env },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

let db;
beforeEach(async () => {
  db = await createDatabase();
});
afterEach(async () => {
  await db.drop();
});

test('migrate prints one line per migration and a summary; status prints a table', () => {
  const dir = migrationsDir(FILES);
  const migrate = run(['migrate', '--dir', dir, '--url', db.url]);
  expect(migrate.code).toBe(0);
  expect(migrate.stdout).toMatch(/applied\s+001_users \(\d/);
  expect(migrate.stdout).toMatch(/applied\s+002_posts \(\d/);
  expect(migrate.stdout).toMatch(/2 applied, 0 already applied/);
  expect(migrate.stdout).not.toMatch(/\u001b\[/);

  const again = run(['migrate', '--dir', dir, '--url', db.url]);
  expect(again.stdout).toMatch(/Nothing to migrate: 2 already applied/);

  writeFiles(dir, { '003_more.sql': 'SELECT 1;' });
  const status = run(['status', '--dir', dir, '--url', db.url]);
  expect(status.code).toBe(0);
  const lines = status.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^version\s+name\s+state\s+applied at$/);
  expect(lines[1]).toMatch(/^\s+1\s+001_users\s+applied\s+\d{4}-/);
  expect(lines[3]).toMatch(/^\s+3\s+003_more\s+pending$/);
  expect(lines[4]).toBe('2 applied, 1 pending');
});

// Applied lines are written in chunks, not one write each: none may be lost or doubled.
test('hundreds of migrations with stdout piped: every applied line once, in order, then the summary', () => {
  const names = Array.from({ length: 400 }, (_, i) => `${String(i + 1).padStart(4, '0')}_tiny`);
  const dir = migrationsDir(Object.fromEntries(names.map((name) => [`${name}.sql`, 'SELECT 1;\n'])));
  const migrate = run(['migrate', '--dir', dir, '--url', db.url]);
  expect(migrate.code).toBe(0);
  const lines = migrate.stdout.trimEnd().split('\n');
  expect(lines.slice(0, -1).map((line) => /^applied {2}(\S+) \(\d/.exec(line)?.[1])).toEqual(names);
  expect(lines.at(-1)).toMatch(/^400 applied, 0 already applied, in /);
});

test('the lines of migrations whose events arrive after the result are printed once, in order', () => {
  const { createProgress } = require('../lib/cli/progress');
  const { palette } = require('../lib/cli/style');
  let text = '';
  const out = { write: (chunk) => (text += chunk) };
  const progress = createProgress({ out, c: palette(out, {}), live: false });
  const applied = Array.from({ length: 300 }, (_, i) => ({ name: `${i + 1}_m`, durationMs: i / 7 }));
  for (const { name, durationMs } of applied.slice(0, 200)) {
    progress.onProgress({ event: 'start', name });
    progress.onProgress({ event: 'end', name, durationMs });
  }
  progress.finish(applied);
  for (const { name, durationMs } of applied.slice(200)) progress.onProgress({ event: 'end', name, durationMs });
  expect(text.split('\n').slice(0, -1).map((line) => /^applied {2}(\S+) /.exec(line)?.[1])).toEqual(
    applied.map((m) => m.name),
  );
});

test('--json prints exactly one JSON document, for results and for errors', () => {
  const dir = migrationsDir(FILES);
  const ok = run(['migrate', '--dir', dir, '--url', db.url, '--json']);
  expect(ok.code).toBe(0);
  const result = JSON.parse(ok.stdout);
  expect(result.applied.map((m) => m.name)).toEqual(['001_users', '002_posts']);

  const status = JSON.parse(run(['status', '--dir', dir, '--url', db.url, '--json']).stdout);
  expect(status).toMatchObject({ applied: 2, pending: 0 });

  writeFiles(dir, { '003_bad.sql': 'SELECT 1;\nSELECT * FROM nowhere;\n' });
  const bad = run(['migrate', '--dir', dir, '--url', db.url, '--json']);
  expect(bad.code).toBe(1);
  const { error } = JSON.parse(bad.stdout);
  expect(error).toMatchObject({ code: 'E_SQL', line: 2, column: 15, pgCode: '42P01' });
  expect(error.file).toMatch(/003_bad\.sql$/);
});

test('errors go to stderr with the source line and a caret', () => {
  const dir = migrationsDir({ '001_bad.sql': '-- one\nCREATE TABLE IF NOT EXISTS t (id INT);\n  SELECT * FROM nowhere;\n' });
  const bad = run(['migrate', '--dir', dir, '--url', db.url]);
  expect(bad.code).toBe(1);
  expect(bad.stdout).toBe('');
  expect(bad.stderr).toContain('error[E_SQL]');
  expect(bad.stderr).toMatch(/001_bad\.sql:3:17: relation "nowhere" does not exist/);
  expect(bad.stderr).toContain('3 |   SELECT * FROM nowhere;');
  expect(bad.stderr).toMatch(/\| {17}\^/);
  expect(bad.stderr).toMatch(/help: .*earlier migration/);
});

test('bad usage exits 2: unknown command, unknown flag, no command', () => {
  for (const args of [['bogus'], ['migrate', '--bogus'], [], ['migrate', 'extra']]) {
    const result = run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage: stratum');
  }
  const help = run(['--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('Usage: stratum');
});

test('fleet flags: one source of targets, whole numbers, and only with migrate, status and plan', () => {
  const cases = [
    [['migrate', '--targets', 'a.txt', '--targets-query', 'SELECT 1'], '--targets and --targets-query do not go together'],
    [['migrate', '--concurrency', '4'], '--concurrency needs --targets, --targets-query or --schemas-query'],
    [['migrate', '--targets', 'a.txt', '--concurrency', '0'], '--concurrency takes a whole number of at least 1, not 0'],
    [['status', '--targets', 'a.txt', '--canary', 'x'], '--canary takes a whole number, not x'],
    [['reset', '--schemas-query', 'SELECT 1'], '--schemas-query goes with migrate, status and plan only'],
    [['lint', '--targets', 'a.txt'], '--targets goes with migrate, status and plan only'],
  ];
  for (const [args, message] of cases) {
    const result = run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  }
});

test('fresh and reset refuse in production unless --force', async () => {
  const dir = migrationsDir(FILES);
  expect(run(['migrate', '--dir', dir, '--url', db.url]).code).toBe(0);
  const env = { NODE_ENV: 'production' };
  for (const command of ['fresh', 'reset']) {
    const refused = run([command, '--dir', dir, '--url', db.url, '--json'], { env });
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).error.code).toBe('E_PRODUCTION');
  }
  expect(await query(db.url, 'SELECT count(*)::int AS n FROM migrations')).toEqual([{ n: 2 }]);
  const forced = run(['fresh', '--dir', dir, '--url', db.url, '--force'], { env });
  expect(forced.code).toBe(0);
  const reset = run(['reset', '--url', db.url, '--force'], { env });
  expect(reset.code).toBe(0);
  expect(reset.stdout).toMatch(/Dropped \d+ objects/);
  expect(await query(db.url, "SELECT to_regclass('public.migrations') AS t")).toEqual([{ t: null }]);
});

test('reads .env in the working directory without overriding the environment', () => {
  const project = migrationsDir();
  const dir = path.join(project, 'migrations');
  fs.mkdirSync(dir);
  writeFiles(dir, FILES);
  fs.writeFileSync(path.join(project, '.env'), `DATABASE_URL=${db.url}\nMIGRATIONS_DIR=nowhere\n`);
  const env = { DATABASE_URL: '', MIGRATIONS_DIR: 'migrations' };
  delete env.DATABASE_URL;
  const result = spawnSync(process.execPath, [CLI, 'migrate', '--json'], {
    cwd: project,
    env: Object.fromEntries(
      Object.entries({ ...process.env, MIGRATIONS_DIR: 'migrations' }).filter(([k]) => k !== 'DATABASE_URL'),
    ),
    encoding: 'utf8',
  });
  expect(result.status).toBe(0);
  expect(JSON.parse(result.stdout).applied).toHaveLength(2);
});

test('the password of the URL never appears in any output', () => {
  const secret = 'Pa55-w0rd-XYZ';
  const dir = migrationsDir({ '001_bad.sql': 'SELEC 1;' });
  const urls = [
    `postgres://postgres:${secret}@127.0.0.1:1/nowhere`,
    `postgres://postgres:${secret}@127.0.0.1:notaport/nowhere`,
    db.url.replace('postgres@', `postgres:${secret}@`),
  ];
  for (const url of urls) {
    for (const args of [['migrate', '--dir', dir, '--url', url], ['migrate', '--dir', dir, '--url', url, '--json']]) {
      const result = run(args);
      expect(result.code).toBe(1);
      expect(`${result.stdout}${result.stderr}`).not.toContain(secret);
    }
    const status = run(['status', '--dir', dir, '--url', url, '--json']);
    expect(`${status.stdout}${status.stderr}`).not.toContain(secret);
  }
});
