// The everyday workflow from the command line: new, plan, progress and
// output modes, and the schema diagram. Real processes, real server.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const stratum = require('..');
const { createDatabase, query, withClient } = require('./helpers/db');
const { migrationsDir, writeFiles, CLI } = require('./helpers/fixtures');
const { block, currentBlock } = require('../scripts/readme-diagram');

const ROOT = path.join(__dirname, '..');
const ESCAPE = /\u001b\[/;
// Colour settings of the machine running the tests must not leak in.
const PLAIN_ENV = { NO_COLOR: '', FORCE_COLOR: '' };

function run(args, { env = {}, cwd } = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: cwd || process.cwd(),
    env: { ...process.env, ...PLAIN_ENV, ...env },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the CLI with stdout and stderr on a pseudo-terminal; both arrive on stdout. */
function runOnTerminal(args, env = {}) {
  const quoted = [process.execPath, CLI, ...args].map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(' ');
  const result = spawnSync('script', ['-qec', quoted, '/dev/null'], {
    env: { ...process.env, ...PLAIN_ENV, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return { code: result.status, output: result.stdout };
}

const trackingTable = async (url) => (await query(url, "SELECT to_regclass('public.migrations') AS t"))[0].t;

describe('stratum new', () => {
  test('takes the number after the highest one and writes the header', async () => {
    const dir = migrationsDir({ '001_users.sql': 'SELECT 1;\n', '009_posts.sql': 'SELECT 1;\n', 'README.md': '' });
    const result = run(['new', 'add_user_preferences', '--dir', dir]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const file = path.join(dir, '010_add_user_preferences.sql');
    expect(result.stdout).toBe(`${file}\n`);
    expect(fs.readFileSync(file, 'utf8')).toBe('-- Migration 010: Add User Preferences\n-- Description: \n\n');
    // The engine takes the file's name and header; the SQL is the author's to write.
    fs.appendFileSync(file, 'CREATE TABLE IF NOT EXISTS user_preferences (id INT);\n');
    expect(await stratum.lint({ dir })).toMatchObject({ errors: 0, warnings: 0 });
  });

  test('keeps the width in use: 0042 is followed by 0043; an empty folder starts at 001', () => {
    const dir = migrationsDir({ '0007_a.sql': '', '0042_b.sql': '' });
    expect(run(['new', 'c', '--dir', dir]).stdout).toBe(`${path.join(dir, '0043_c.sql')}\n`);
    expect(fs.readFileSync(path.join(dir, '0043_c.sql'), 'utf8')).toMatch(/^-- Migration 0043: C\n/);

    const empty = path.join(migrationsDir(), 'not', 'yet');
    expect(run(['new', 'first', '--dir', empty]).stdout).toBe(`${path.join(empty, '001_first.sql')}\n`);
  });

  test('refuses a name that is not lower-case letters, digits and underscores, and writes nothing', () => {
    const dir = migrationsDir({ '001_a.sql': '' });
    for (const [name, suggestion] of [['Add-User prefs', 'add_user_prefs'], ['../escape', 'escape'], ['ünïcode', 'n_code']]) {
      const result = run(['new', name, '--dir', dir]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('error[E_FILENAME]');
      expect(result.stderr).toContain('use lower-case letters, digits and underscores');
      expect(result.stderr).toContain(`(try ${suggestion})`);
    }
    expect(run(['new', '--dir', dir]).stderr).toContain('new needs a name');
    expect(fs.readdirSync(dir)).toEqual(['001_a.sql']);
  });

  test('finds the folder as the engine does: package.json "stratum".dir, MIGRATIONS_DIR; npm run migrate:new', () => {
    const project = migrationsDir();
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ stratum: { dir: 'db/migrations' } }));
    const fromPackage = run(['new', 'first'], { cwd: project, env: { MIGRATIONS_DIR: '' } });
    expect(fromPackage.stdout).toBe(`${path.join('db', 'migrations', '001_first.sql')}\n`);

    const elsewhere = migrationsDir({ '005_x.sql': '' });
    const fromEnv = run(['new', 'second'], { cwd: project, env: { MIGRATIONS_DIR: elsewhere } });
    expect(fromEnv.stdout).toBe(`${path.join(elsewhere, '006_second.sql')}\n`);

    const npm = spawnSync('npm', ['run', '-s', 'migrate:new', '--', 'third'], {
      cwd: ROOT,
      env: { ...process.env, MIGRATIONS_DIR: elsewhere },
      encoding: 'utf8',
    });
    expect(npm.stdout).toBe(`${path.join(elsewhere, '007_third.sql')}\n`);
  });
});

test('flags that do not fit the command are bad usage', () => {
  const cases = [
    [['status', '--dry-run'], '--dry-run only goes with migrate'],
    [['migrate', '--out', 'x.mmd'], '--out only goes with diagram'],
    [['migrate', '--lock-mode', 'table'], '--lock-mode takes session or transaction, not table'],
    [['new', 'a', 'b'], 'unexpected argument: b'],
  ];
  for (const [args, message] of cases) {
    const result = run(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  }
});

describe('with a database', () => {
  let db;
  beforeEach(async () => {
    db = await createDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  const PLANNED = {
    '001_users.sql': 'CREATE TABLE IF NOT EXISTS users (id SERIAL PRIMARY KEY);\nCREATE TABLE IF NOT EXISTS teams (id SERIAL PRIMARY KEY);\n',
    '002_index.sql': '-- stratum:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_id ON users (id);\n',
    '003_wrapped.sql': 'BEGIN;\nALTER TABLE users ADD COLUMN IF NOT EXISTS email TEXT;\nCOMMIT;\n',
  };

  test('plan shows each pending file and how it runs, and changes nothing, not even the tracking table', async () => {
    const dir = migrationsDir(PLANNED);
    const json = run(['plan', '--dir', dir, '--url', db.url, '--json']);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(plan).toMatchObject({ alreadyApplied: 0, errors: 0, warnings: 0, diagnostics: [] });
    expect(plan.pending.map((m) => [m.name, m.statements, m.transaction])).toEqual([
      ['001_users', 2, 'wrapped'],
      ['002_index', 1, 'none'],
      ['003_wrapped', 3, 'already-wrapped'],
    ]);
    expect(plan.pending[0].file).toMatch(/001_users\.sql$/);

    const text = run(['plan', '--dir', dir, '--url', db.url]);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^version\s+file\s+statements\s+runs in$/);
    expect(lines[1]).toMatch(/^\s+1\s+\S+001_users\.sql\s+2\s+one transaction$/);
    expect(lines[2]).toMatch(/^\s+2\s+\S+002_index\.sql\s+1\s+no transaction/);
    expect(text.stdout).toContain('3 migrations to apply, 0 already applied; nothing was changed.');

    expect(JSON.parse(run(['migrate', '--dry-run', '--dir', dir, '--url', db.url, '--json']).stdout)).toEqual(plan);
    expect(await trackingTable(db.url)).toBeNull();
    expect(await query(db.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 0 }]);

    await stratum.migrate({ databaseUrl: db.url, dir });
    writeFiles(dir, { '004_more.sql': 'SELECT 1;\n' });
    const later = JSON.parse(run(['plan', '--dir', dir, '--url', db.url, '--json']).stdout);
    expect(later).toMatchObject({ alreadyApplied: 3, pending: [{ name: '004_more', statements: 1 }] });
  });

  test('plan takes no lock: it runs while another session holds the migration lock', async () => {
    const dir = migrationsDir(PLANNED);
    const digest = crypto.createHash('sha256').update('stratum migration lock public.migrations').digest('hex');
    const key = BigInt.asIntN(64, BigInt(`0x${digest.slice(0, 16)}`)).toString();
    await withClient(db.url, async (holder) => {
      await holder.query('SELECT pg_advisory_lock($1)', [key]);
      const migrate = run(['migrate', '--dir', dir, '--url', db.url, '--lock-timeout', '200', '--json']);
      expect(JSON.parse(migrate.stdout).error.code).toBe('E_LOCK_TIMEOUT');
      const plan = run(['plan', '--dir', dir, '--url', db.url, '--lock-timeout', '200', '--json']);
      expect(plan.code).toBe(0);
      expect(JSON.parse(plan.stdout).pending).toHaveLength(3);
    });
  });

  test('plan shows lint findings and exits 1 when migrate would refuse; refuses a changed file like migrate', async () => {
    const dir = migrationsDir({ '001_ok.sql': 'CREATE TABLE IF NOT EXISTS ok (id INT);\n' });
    await stratum.migrate({ databaseUrl: db.url, dir });
    writeFiles(dir, { '002_vacuum.sql': 'VACUUM ok;\n' });
    const refused = run(['plan', '--dir', dir, '--url', db.url]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/002_vacuum\.sql:1:1: error\[not-in-transaction\]/);
    expect(refused.stdout).toContain('migrate would refuse to run');

    writeFiles(dir, { '001_ok.sql': 'CREATE TABLE IF NOT EXISTS ok (id BIGINT);\n' });
    const changed = run(['plan', '--dir', dir, '--url', db.url]);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain('error[E_CHANGED]');
  });

  test('off a terminal: one plain line per migration and a summary; FORCE_COLOR=1 adds colour', () => {
    const dir = migrationsDir({ '001_a.sql': 'SELECT 1;\n', '002_b.sql': 'SELECT 2;\n' });
    const plain = run(['migrate', '--dir', dir, '--url', db.url]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^applied  001_a \(\d+(\.\d)? ms\)\napplied  002_b \(.*\)\n2 applied, 0 already applied, in \d/);
    expect(plain.stdout).not.toMatch(/\r|\u001b/);

    writeFiles(dir, { '003_c.sql': 'SELECT 3;\n' });
    const coloured = run(['migrate', '--dir', dir, '--url', db.url], { env: { FORCE_COLOR: '1' } });
    expect(coloured.stdout).toContain('\u001b[32mapplied\u001b[0m  003_c');
    expect(run(['status', '--dir', dir, '--url', db.url], { env: { FORCE_COLOR: '0' } }).stdout).not.toMatch(ESCAPE);
  });

  test('--quiet prints nothing on success and only the error on failure', async () => {
    const dir = migrationsDir({ '001_a.sql': 'SELECT 1;\n' });
    expect(run(['migrate', '--quiet', '--dir', dir, '--url', db.url])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(run(['new', 'b', '-q', '--dir', dir])).toEqual({ code: 0, stdout: '', stderr: '' });
    fs.appendFileSync(path.join(dir, '002_b.sql'), 'SELECT 2;\n');
    expect(run(['migrate', '-q', '--lock-mode', 'transaction', '--dir', dir, '--url', db.url])).toEqual({
      code: 0,
      stdout: '',
      stderr: '',
    });
    expect(await query(db.url, 'SELECT name FROM migrations ORDER BY id')).toEqual([{ name: '001_a' }, { name: '002_b' }]);

    writeFiles(dir, { '003_bad.sql': 'SELECT * FROM nowhere;\n' });
    const failed = run(['migrate', '-q', '--dir', dir, '--url', db.url]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toMatch(/^error\[E_SQL\]: .*003_bad\.sql:1:15: relation "nowhere" does not exist/);
  });

  test('on a terminal a long run shows a live line; NO_COLOR keeps every escape code out', () => {
    const dir = migrationsDir({ '001_quick.sql': 'SELECT 1;\n', '002_slow.sql': 'SELECT pg_sleep(1.3);\n' });
    const { code, output } = runOnTerminal(['migrate', '--dir', dir, '--url', db.url], { NO_COLOR: '1' });
    expect(code).toBe(0);
    expect(output).not.toMatch(ESCAPE);
    // The live line is redrawn in place with carriage returns: done / total, current file, elapsed.
    expect(output).toMatch(/\r1\/2 {2}002_slow {2}1\.\d s/);
    expect(output).toMatch(/applied {2}002_slow \(1\.\d s\)\r\n2 applied, 0 already applied, in \d\.\d s\.\r\n$/);

    const secondDb = migrationsDir({ '001_quick.sql': 'SELECT 1;\n' });
    const coloured = runOnTerminal(['plan', '--dir', secondDb, '--url', db.url]);
    expect(coloured.output).toMatch(ESCAPE);
  });

  test('diagram: the README block is the diagram of the billing schema', async () => {
    await stratum.migrate({ databaseUrl: db.url, dir: path.join(ROOT, 'migrations') });
    const printed = run(['diagram', '--url', db.url]);
    expect(printed.code).toBe(0);
    expect(printed.stdout).toMatch(/^erDiagram\n/);
    expect(printed.stdout).toMatch(/subscriptions }o--\|\| customers : "customer_id"/);
    expect(printed.stdout).not.toMatch(/\bmigrations\b/);
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(currentBlock(readme)).toBe(block(printed.stdout));

    const out = path.join(migrationsDir(), 'schema.mmd');
    const written = run(['diagram', '--url', db.url, '--out', out]);
    expect(written.stdout).toBe(`Wrote ${out}\n`);
    expect(fs.readFileSync(out, 'utf8')).toBe(printed.stdout);
  });
});
