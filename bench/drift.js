// bench/drift.js: what `drift` costs (issue 16). A script, never a timed
// test: it prints figures and PASS/MISS next to the targets, and fails only
// when something breaks (a drift that is not in sync on a fresh database).
//
//   node bench/drift.js [--rounds 7] [--tables 1000]
//
// 1. The billing schema (migrations/): `migrate()` of every file into a
//    database just created, against `drift()` of such a database once its
//    template is cached. Target: drift <= half of migrate.
// 2. A schema of N tables (key, FK, five columns, an index, a check each),
//    applied as one migration: `drift()` reads it twice (the template and
//    the database) and compares. Target: one snapshot < 1 s, so the whole
//    check is timed and half of it is the per-snapshot figure's upper bound.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Client } = require('pg');
const stratum = require('..');

const ADMIN_URL = process.env.BENCH_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const ROUNDS = option('rounds', 7);
const TABLES = option('tables', 1000);

const urlFor = (database) => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
};

async function admin(sql) {
  const client = new Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

let counter = 0;
async function freshDatabase() {
  const name = `bench_drift_${process.pid}_${counter++}`;
  await admin(`CREATE DATABASE "${name}"`);
  return name;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const ms = (value) => `${value.toFixed(1)} ms`;

async function timed(work) {
  const started = performance.now();
  const result = await work();
  return [performance.now() - started, result];
}

/** The billing files, with a marker so this run builds its own template. */
function billingDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-drift-'));
  const source = path.join(__dirname, '..', 'migrations');
  for (const file of fs.readdirSync(source)) {
    fs.writeFileSync(
      path.join(dir, file),
      `${fs.readFileSync(path.join(source, file), 'utf8')}\n-- bench ${process.pid}\n`,
    );
  }
  return dir;
}

function wideDir(tables) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-drift-wide-'));
  const parts = [];
  for (let i = 1; i <= tables; i += 1) {
    const parent = i > 1 ? `,\n    parent_id INTEGER REFERENCES t_${i - 1} (id) ON DELETE CASCADE` : '';
    parts.push(
      `CREATE TABLE IF NOT EXISTS t_${i} (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    amount NUMERIC(15,2) NOT NULL DEFAULT 0 CHECK (amount >= 0),
    tags TEXT[] NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()${parent}
);
CREATE INDEX IF NOT EXISTS t_${i}_name ON t_${i} (name);
`,
    );
  }
  fs.writeFileSync(path.join(dir, `001_wide_${process.pid}.sql`), parts.join(''));
  return dir;
}

async function main() {
  const databases = [];
  const templates = new Set();
  const report = [];
  try {
    // 1. Billing: migrate from scratch vs drift with the template cached.
    const billing = billingDir();
    const migrateTimes = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const name = await freshDatabase();
      databases.push(name);
      const [elapsed] = await timed(() => stratum.migrate({ databaseUrl: urlFor(name), dir: billing }));
      migrateTimes.push(elapsed);
    }
    const target = urlFor(databases[0]);
    const [buildTime, first] = await timed(() => stratum.drift({ databaseUrl: target, dir: billing }));
    templates.add(first.template);
    if (!first.inSync) throw new Error(`billing not in sync: ${JSON.stringify(first.differences)}`);
    const driftTimes = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const [elapsed, result] = await timed(() => stratum.drift({ databaseUrl: target, dir: billing }));
      if (!result.inSync || result.builtTemplate) throw new Error('a cached drift rebuilt or found drift');
      driftTimes.push(elapsed);
    }
    const ratio = median(driftTimes) / median(migrateTimes);
    report.push(
      `billing migrate() into a new database: median ${ms(median(migrateTimes))} (${ROUNDS} rounds)`,
      `billing drift(), first (builds the template): ${ms(buildTime)}`,
      `billing drift(), template cached: median ${ms(median(driftTimes))}, ${(ratio * 100).toFixed(0)}% of migrate ` +
        `${ratio <= 0.5 ? 'PASS' : 'MISS'} (target <= 50%)`,
    );

    // 2. A wide schema: both snapshots of N tables and their comparison.
    const wide = wideDir(TABLES);
    const name = await freshDatabase();
    databases.push(name);
    await stratum.migrate({ databaseUrl: urlFor(name), dir: wide });
    const [wideBuild, built] = await timed(() => stratum.drift({ databaseUrl: urlFor(name), dir: wide }));
    templates.add(built.template);
    if (!built.inSync) throw new Error(`wide schema not in sync: ${built.differences.length} differences`);
    const wideTimes = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const [elapsed] = await timed(() => stratum.drift({ databaseUrl: urlFor(name), dir: wide }));
      wideTimes.push(elapsed);
    }
    const check = median(wideTimes);
    report.push(
      `${TABLES}-table schema drift(), first (builds the template): ${ms(wideBuild)}`,
      `${TABLES}-table schema drift(), cached: median ${ms(check)} for two snapshots and the comparison; ` +
        `one snapshot <= ${ms(check / 2)} ${check / 2 < 1000 ? 'PASS' : 'MISS'} (target < 1 s)`,
    );
  } finally {
    for (const name of [...databases, ...templates]) await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
  const version = (await admin('SHOW server_version')).rows[0].server_version;
  process.stdout.write(`PostgreSQL ${version}, ${os.cpus().length} CPUs, node ${process.version}\n`);
  process.stdout.write(`${report.join('\n')}\n`);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
