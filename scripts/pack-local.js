#!/usr/bin/env node
// Writes the tarballs the registry would receive for this machine: the main
// package pg-stratum (no binary of its own; its optionalDependencies name
// every platform package, as `napi prepublish` sets them), this machine's
// platform package, and the WebAssembly one.
//
//   npm run pack:local                  builds both addons with the dist profile first
//   npm run pack:local -- --reuse       packs the addons already built in the checkout
//   npm run pack:local -- --out DIR     writes to DIR (default: ./pack)
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { parseArgs } = require('node:util');

const ROOT = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const BINARY = pkg.napi.binaryName;
const WASM_DIR = 'wasm32-wasi';
const WASM_TARGET = 'wasm32-wasip1-threads';

/** The npm/ folder of the platform package this machine loads, as napi names them. */
function platformDir() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const glibc = process.report.getReport().header.glibcVersionRuntime;
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`;
  }
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** The npm/ folder of each configured target, e.g. x86_64-unknown-linux-gnu → linux-x64-gnu. */
function targetDirs() {
  return fs
    .readdirSync(path.join(ROOT, 'npm'))
    .filter((dir) => fs.existsSync(path.join(ROOT, 'npm', dir, 'package.json')))
    .sort();
}

// npm and napi are .cmd scripts on Windows, which Node runs only through a shell.
const SHELL = process.platform === 'win32';

function run(command, args, options = {}) {
  execFileSync(command, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], shell: SHELL, ...options });
}

/** Builds both addons with the dist profile into `dir`; returns where each file is. */
function build(dir) {
  const napi = path.join(ROOT, 'node_modules', '.bin', 'napi');
  run(napi, ['build', '--platform', '--profile', 'dist', '--output-dir', dir, '--no-js', '--dts', 'index.d.ts']);
  run('rustup', ['target', 'add', WASM_TARGET], { stdio: 'ignore' });
  run(napi, ['build', '--platform', '--profile', 'dist', '--target', WASM_TARGET, '--output-dir', dir, '--no-js', '--dts', 'index.d.ts']);
  return dir;
}

/** `npm pack` of the folder `stage` into `out`; returns the tarball's path. */
function pack(stage, out) {
  const json = execFileSync('npm', ['pack', stage, '--json', '--ignore-scripts', '--pack-destination', out], {
    cwd: out,
    encoding: 'utf8',
    shell: SHELL,
  });
  return path.join(out, JSON.parse(json)[0].filename);
}

/** Copies `files` (names in `from`) into `to`; a missing one is an error naming the build that makes it. */
function copyInto(from, to, files, hint) {
  for (const file of files) {
    const source = path.join(from, file);
    if (!fs.existsSync(source)) throw new Error(`${source} is missing: ${hint}`);
    fs.cpSync(source, path.join(to, file), { recursive: true });
  }
}

function main(argv) {
  const { values } = parseArgs({ args: argv, options: { out: { type: 'string' }, reuse: { type: 'boolean' } } });
  const out = path.resolve(values.out || path.join(ROOT, 'pack'));
  fs.mkdirSync(out, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-pack-'));
  try {
    const built = values.reuse ? ROOT : build(path.join(work, 'build'));
    const hint = values.reuse
      ? 'build it first (`npm run build` and `npm run build:wasm`), or run without --reuse'
      : 'the build did not write it';
    const tarballs = {};

    // This machine's platform package: its package.json and the addon.
    const platform = platformDir();
    const native = `${BINARY}.${platform}.node`;
    const nativeStage = path.join(work, platform);
    fs.mkdirSync(nativeStage);
    copyInto(path.join(ROOT, 'npm', platform), nativeStage, ['package.json', 'README.md'], 'run `npx napi create-npm-dirs`');
    copyInto(built, nativeStage, [native], hint);
    tarballs[platform] = pack(nativeStage, out);

    // The WebAssembly package: the module, its loader and its worker.
    const wasmStage = path.join(work, WASM_DIR);
    fs.mkdirSync(wasmStage);
    copyInto(path.join(ROOT, 'npm', WASM_DIR), wasmStage, ['package.json', 'README.md'], 'run `npx napi create-npm-dirs`');
    copyInto(built, wasmStage, [`${BINARY}.${WASM_DIR}.wasm`], hint);
    // The loader files are generated beside the module by the build; a checkout has them too.
    for (const file of [`${BINARY}.wasi.cjs`, `${BINARY}.wasi.d.cts`, 'wasi-worker.mjs']) {
      copyInto(fs.existsSync(path.join(built, file)) ? built : ROOT, wasmStage, [file], hint);
    }
    tarballs[WASM_DIR] = pack(wasmStage, out);

    // The main package: what `files` admits, with every platform package as an
    // optional dependency, as `napi prepublish` writes it before publishing.
    const mainStage = path.join(work, 'pg-stratum');
    fs.mkdirSync(mainStage);
    const listing = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', shell: SHELL }),
    );
    copyInto(
      ROOT,
      mainStage,
      listing[0].files.map((file) => file.path),
      'it is listed by npm pack',
    );
    const manifest = { ...pkg, optionalDependencies: { ...pkg.optionalDependencies } };
    for (const dir of targetDirs()) manifest.optionalDependencies[`${pkg.name}-${dir}`] = pkg.version;
    fs.writeFileSync(path.join(mainStage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    tarballs.main = pack(mainStage, out);

    const sizes = { [native]: fs.statSync(path.join(built, native)).size };
    for (const file of Object.values(tarballs)) sizes[path.basename(file)] = fs.statSync(file).size;
    return { tarballs, sizes, reused: Boolean(values.reuse) };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const result = main(process.argv.slice(2));
  for (const [name, size] of Object.entries(result.sizes)) {
    process.stdout.write(`${(size / 1024 / 1024).toFixed(2).padStart(6)} MiB  ${name}\n`);
  }
  process.stdout.write(`${JSON.stringify(result.tarballs)}\n`);
}

module.exports = { main, platformDir };
