// What a user meets before any migration runs: the command's version, the
// Node versions the package admits, and a test run that names what the
// machine lacks.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { findPgBouncer, startPgBouncer } = require('./helpers/pgbouncer');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'stratum.js');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

test('stratum --version and -V print the package version, whatever else is on the line', () => {
  for (const args of [['--version'], ['-V'], ['migrate', '-V']]) {
    const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${pkg.version}\n`);
  }
  const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  expect(help.stdout).toMatch(/-V, --version/);
});

test('engines.node admits no Node without process.loadEnvFile, which the command uses for .env', () => {
  const match = /^>=\s*(\d+)\.(\d+)/.exec(pkg.engines.node);
  expect(match).not.toBeNull();
  const [major, minor] = [Number(match[1]), Number(match[2])];
  // process.loadEnvFile came in Node 20.12 (and 21.7).
  expect(major > 20 || (major === 20 && minor >= 12)).toBe(true);
  expect(fs.readFileSync(path.join(ROOT, 'lib', 'cli', 'main.js'), 'utf8')).toContain('process.loadEnvFile');
});

describe('the PgBouncer tests on a machine without pgbouncer', () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-no-pgbouncer-'));
  afterAll(() => fs.rmSync(empty, { recursive: true, force: true }));

  test('fail with the cause and the command that installs it', async () => {
    await expect(startPgBouncer({ searchPath: empty })).rejects.toThrow(
      /pgbouncer is not installed: install it: `apt-get install pgbouncer`.*`bash \.ci\/run` installs it/,
    );
  });

  test('find it by its full path, so running it as another account needs no PATH of that account', () => {
    const fake = path.join(empty, 'pgbouncer');
    fs.writeFileSync(fake, '#!/bin/sh\n', { mode: 0o755 });
    expect(findPgBouncer(['/nonexistent', empty].join(path.delimiter))).toBe(fake);
  });
});
