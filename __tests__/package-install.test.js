// The package as users get it: the tarballs `npm run pack:local` writes (the
// main package, this machine's platform package, the WebAssembly one) are
// installed into a scratch app that has no Rust at all, and used there the
// way the README says. The addons packed are the ones the checkout built
// (`--reuse`), so this costs seconds, not a build.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { createDatabase, query } = require('./helpers/db');
const packLocal = require('../scripts/pack-local');

const ROOT = path.join(__dirname, '..');
const MiB = 1024 * 1024;
const CONFIGURING = ['DATABASE_URL', 'PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'];
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** The PATH without any folder that holds cargo or rustc: the app has no Rust. */
function pathWithoutRust() {
  return (process.env.PATH || '')
    .split(path.delimiter)
    .filter((dir) => dir && !['cargo', 'rustc', 'rustup'].some((tool) => fs.existsSync(path.join(dir, tool))))
    .concat(path.dirname(process.execPath))
    .join(path.delimiter);
}

function appEnv(extra = {}) {
  const env = { ...process.env, PATH: pathWithoutRust() };
  for (const name of [...CONFIGURING, 'NODE_ENV', 'STRATUM_EMBEDDED_PG', 'NAPI_RS_FORCE_WASI', 'CARGO_HOME', 'RUSTUP_HOME']) {
    delete env[name];
  }
  for (const name of Object.keys(env)) if (name.startsWith('npm_')) delete env[name];
  return { ...env, ...extra };
}

function inApp(command, args, extra) {
  const proc = spawn(command, args, { cwd: app, env: appEnv(extra) });
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c) => (stdout += c));
    proc.stderr.on('data', (c) => (stderr += c));
    // Node's own notice that WASI is experimental is not the package's output.
    const notices = /^\(node:\d+\) ExperimentalWarning: WASI .*\n|^\(Use `node --trace-warnings .*\n/gm;
    proc.on('close', (code) => resolve({ code, stdout, stderr: stderr.replace(notices, '') }));
  });
}

/** `tar -tvzf`: each entry's path and size. */
function entries(tarball) {
  const listing = spawnSync('tar', ['-tvzf', tarball], { encoding: 'utf8' });
  expect(listing.status).toBe(0);
  return listing.stdout
    .trim()
    .split('\n')
    .map((line) => {
      const fields = line.trim().split(/\s+/);
      return { size: Number(fields[2]), path: fields.slice(5).join(' ') };
    });
}

let out;
let app;
let packed;
let database;
const timings = {};

beforeAll(async () => {
  let started = Date.now();
  out = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-tarballs-'));
  packed = packLocal.main(['--reuse', '--out', out]);
  timings.pack = Date.now() - started;

  app = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-app-'));
  // The embedded server runs as an unprivileged user when the tests run as root.
  fs.chmodSync(app, 0o755);
  fs.writeFileSync(
    path.join(app, 'package.json'),
    JSON.stringify({
      name: 'billing-app',
      version: '1.0.0',
      private: true,
      scripts: { migrate: 'stratum migrate' },
      stratum: { dir: 'src/database/migrations' },
    }),
  );
  const migrations = path.join(app, 'src', 'database', 'migrations');
  fs.mkdirSync(migrations, { recursive: true });
  fs.writeFileSync(path.join(migrations, '001_customers.sql'), 'CREATE TABLE IF NOT EXISTS customers (id BIGINT PRIMARY KEY);\n');

  started = Date.now();
  const { main, [packLocal.platformDir()]: native, 'wasm32-wasi': wasm } = packed.tarballs;
  // pg: the app's own driver, which the WebAssembly build connects through.
  // --force: the wasm32-wasi package declares cpu wasm32, which npm installs
  // on this machine only when told to.
  const installed = await inApp('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--force', main, native, wasm, 'pg']);
  if (installed.code !== 0) throw new Error(`npm install failed:\n${installed.stderr}`);
  timings.install = Date.now() - started;
  database = await createDatabase('stratum_pkg');
}, 240_000);

afterAll(async () => {
  if (app) {
    await inApp(path.join(app, 'node_modules', '.bin', 'stratum'), ['db', 'stop']);
    fs.rmSync(app, { recursive: true, force: true });
  }
  if (out) fs.rmSync(out, { recursive: true, force: true });
  if (database) await database.drop();
  process.stdout.write(`package-install: pack ${timings.pack} ms, npm install ${timings.install} ms\n`);
});

test('the app has no Rust: cargo is not on its PATH', () => {
  const cargo = spawnSync('cargo', ['--version'], { env: appEnv() });
  expect(cargo.error && cargo.error.code).toBe('ENOENT');
});

test('the tarballs hold what runs and nothing else, within the size budgets', () => {
  const native = `${pkg.napi.binaryName}.${packLocal.platformDir()}.node`;
  // Unwinding tables stay (a bug rejects with E_INTERNAL rather than ending
  // the app's process); with them the addon is about 3.7 MiB.
  const budget = 4 * MiB;
  if (packed.sizes[native] > budget) {
    throw new Error(
      `${native} is ${(packed.sizes[native] / MiB).toFixed(2)} MiB, over the 4 MiB budget: the published addon is ` +
        'the dist profile (`npm install` and `npm run build:dist` build it; `npm run build` is the larger release profile)',
    );
  }
  for (const tarball of Object.values(packed.tarballs)) {
    expect([path.basename(tarball), fs.statSync(tarball).size <= 6 * MiB]).toEqual([path.basename(tarball), true]);
    const paths = entries(tarball).map((entry) => entry.path);
    for (const file of paths) {
      expect(file).not.toMatch(/\.rs$|Cargo\.(toml|lock)$|\/(src|crates|__tests__|bench|scripts|npm|target)\//);
      expect(file).not.toMatch(/\.debug\.wasm$/);
    }
  }

  const main = entries(packed.tarballs.main).map((entry) => entry.path);
  expect(main).toEqual(expect.arrayContaining(['package/package.json', 'package/index.js', 'package/lib/entry.js', 'package/bin/stratum.js']));
  // The main package carries no binary: each platform's comes as its own package.
  expect(main.filter((file) => /\.(node|wasm)$/.test(file))).toEqual([]);

  expect(entries(packed.tarballs[packLocal.platformDir()]).map((entry) => entry.path).sort()).toEqual(
    ['package/README.md', `package/${native}`, 'package/package.json'].sort(),
  );
  const wasm = entries(packed.tarballs['wasm32-wasi']).map((entry) => entry.path);
  expect(wasm).toEqual(expect.arrayContaining(['package/stratum.wasm32-wasi.wasm', 'package/stratum.wasi.cjs', 'package/wasi-worker.mjs']));

  // The published manifest names every platform package, at this version.
  const manifest = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'pg-stratum', 'package.json'), 'utf8'));
  for (const dir of ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc', 'wasm32-wasi']) {
    expect(manifest.optionalDependencies[`pg-stratum-${dir}`]).toBe(pkg.version);
  }
});

test('npm run migrate with DATABASE_URL applies the app\'s migrations from its "stratum" dir', async () => {
  const run = await inApp('npm', ['run', '-s', 'migrate'], { DATABASE_URL: database.url });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/001_customers/);
  expect(await query(database.url, "SELECT to_regclass('public.customers') AS t")).toEqual([{ t: 'customers' }]);
});

test('npm run migrate with nothing configured runs the embedded PostgreSQL of the app', async () => {
  const run = await inApp('npm', ['run', '-s', 'migrate']);
  expect(run.code).toBe(0);
  expect(run.stderr).toContain('no database configured: using the embedded PostgreSQL in .stratum/pgdata');
  expect(run.stdout).toMatch(/001_customers/);
  expect(fs.existsSync(path.join(app, '.stratum', 'pgdata', 'PG_VERSION'))).toBe(true);
});

describe.each([
  ['the native addon', {}, 'native'],
  ['NAPI_RS_FORCE_WASI=error', { NAPI_RS_FORCE_WASI: 'error' }, 'wasm32-wasi'],
])('with %s', (_, extra, target) => {
  test("require('pg-stratum') and import { migrate } from 'pg-stratum' load it and work", async () => {
    const options = JSON.stringify({ databaseUrl: database.url, dir: 'src/database/migrations' });
    const cjs = await inApp(
      process.execPath,
      [
        '-e',
        `const s = require('pg-stratum');
         s.status(${options}).then((r) => console.log(JSON.stringify({ target: s.__napiBindingTarget, applied: r.applied })));`,
      ],
      extra,
    );
    expect(cjs.stderr).toBe('');
    expect(JSON.parse(cjs.stdout)).toEqual({ target, applied: 1 });

    const esm = await inApp(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { migrate } from 'pg-stratum';
         import * as all from 'pg-stratum';
         const r = await migrate(${options});
         console.log(JSON.stringify({ target: all.__napiBindingTarget, applied: r.applied.length, already: r.alreadyApplied }));`,
      ],
      extra,
    );
    expect(esm.stderr).toBe('');
    expect(JSON.parse(esm.stdout)).toEqual({ target, applied: 0, already: 1 });
  });

  test('npm run migrate with DATABASE_URL', async () => {
    const run = await inApp('npm', ['run', '-s', 'migrate', '--', '--json'], { ...extra, DATABASE_URL: database.url });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ applied: [], alreadyApplied: 1 });
  });
});
