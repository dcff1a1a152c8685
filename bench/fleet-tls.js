// bench/fleet-tls.js: what reading the root certificates costs a fleet over
// TLS. One `migrate()` with nothing pending over N databases of a throw-away
// cluster that accepts TLS only (the tests' self-signed CA), timed in a
// process of its own for each addon given, the addons alternating each round:
//
//   node bench/fleet-tls.js [--n 50] [--rounds 5] [--concurrency 4] [ADDON.node ...]
//
// Without addons it times the package's own. Three TLS settings:
// - `require`: no root certificate, nothing read (the control);
// - `require&sslrootcert=FILE`: the CA's PEM file;
// - `require&sslrootcert=system`: the system store as a Linux host has it
//   (SSL_CERT_DIR=/etc/ssl/certs, SSL_CERT_FILE the distribution's bundle
//   with the test CA added), where rustls-native-certs reads every file.
// A script, never a timed test: it prints medians, and fails only when a
// target fails.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');

if (process.argv[2] === '--child') {
  // One timed call, in a process that loaded the addon before the clock starts.
  const [, , , targetsFile, dir, concurrency] = process.argv;
  const stratum = require(ROOT);
  const targets = fs.readFileSync(targetsFile, 'utf8').split('\n').filter(Boolean);
  const started = performance.now();
  stratum
    .migrate({ dir, targets, concurrency: Number(concurrency) })
    .then((result) => {
      const ms = performance.now() - started;
      if (result.failed > 0) {
        const failed = result.targets.find((target) => !target.ok);
        throw new Error(`${result.failed} targets failed: ${failed.target}: ${failed.error.message}`);
      }
      process.stdout.write(`${ms}\n`);
    })
    .catch((error) => {
      process.stderr.write(`${error.stack || error}\n`);
      process.exit(1);
    });
  return;
}

const { startTlsCluster } = require('../__tests__/helpers/cluster');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  args.splice(at, 2);
  return value;
};
const N = option('n', 50);
const ROUNDS = option('rounds', 5);
const CONCURRENCY = option('concurrency', 4);
const ADDONS = args.length > 0 ? args.map((addon) => path.resolve(addon)) : [undefined];

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function timedMigrate({ addon, targetsFile, dir, env }) {
  const run = spawnSync(process.execPath, [__filename, '--child', targetsFile, dir, String(CONCURRENCY)], {
    env: { ...process.env, ...env, ...(addon ? { NAPI_RS_NATIVE_LIBRARY_PATH: addon } : {}) },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`migrate failed (${addon || 'the package addon'}):\n${run.stderr}`);
  return Number(run.stdout.trim());
}

async function main() {
  const cluster = await startTlsCluster();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-fleet-tls-'));
  try {
    const dir = path.join(work, 'migrations');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, '001_customers.sql'), 'CREATE TABLE IF NOT EXISTS customers (id SERIAL PRIMARY KEY, email TEXT NOT NULL);\n');
    fs.writeFileSync(path.join(dir, '002_email_index.sql'), 'CREATE INDEX IF NOT EXISTS customers_email ON customers (email);\n');
    const databases = Array.from({ length: N }, (_, i) => `bench_tls_${String(i).padStart(3, '0')}`);
    for (const name of databases) await cluster.psql(`CREATE DATABASE ${name}`);

    const bundle = path.join(work, 'system-and-test-ca.pem');
    fs.writeFileSync(bundle, fs.readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8') + fs.readFileSync(cluster.ca, 'utf8'));
    const settings = [
      { name: 'sslmode=require (nothing read)', query: 'sslmode=require', env: {} },
      { name: 'sslmode=require&sslrootcert=FILE (one CA)', query: `sslmode=require&sslrootcert=${encodeURIComponent(cluster.ca)}`, env: {} },
      {
        name: 'sslmode=require&sslrootcert=system',
        query: 'sslmode=require&sslrootcert=system',
        env: { SSL_CERT_FILE: bundle, SSL_CERT_DIR: '/etc/ssl/certs' },
      },
    ];
    console.log(`fleet over TLS: ${N} databases, nothing pending, concurrency ${CONCURRENCY}, ${ROUNDS} rounds`);
    const rows = [];
    for (const setting of settings) {
      const targetsFile = path.join(work, 'targets.txt');
      fs.writeFileSync(
        targetsFile,
        databases.map((name) => `postgres://postgres@127.0.0.1:${cluster.port}/${name}?${setting.query}`).join('\n'),
      );
      // The first run applies the files; the timed ones find nothing pending.
      timedMigrate({ addon: ADDONS[0], targetsFile, dir, env: setting.env });
      const times = ADDONS.map(() => []);
      for (let round = 0; round < ROUNDS; round++) {
        const order = ADDONS.map((_, i) => i);
        if (round % 2 === 1) order.reverse();
        for (const i of order) times[i].push(timedMigrate({ addon: ADDONS[i], targetsFile, dir, env: setting.env }));
      }
      rows.push([setting.name, ...times.map((list) => `${median(list).toFixed(0)} ms`)]);
      console.log(`${setting.name}: ${times.map((list) => list.map((ms) => ms.toFixed(0)).join(' ')).join(' | ')}`);
    }
    console.log('');
    console.log(`| ${N} databases, median of ${ROUNDS} | ${ADDONS.map((addon) => (addon ? path.basename(addon) : 'addon')).join(' | ')} |`);
    console.log(`|---|${ADDONS.map(() => '---').join('|')}|`);
    for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  } finally {
    cluster.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
