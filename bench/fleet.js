// bench/fleet.js: what one command over many databases costs (issue 17),
// against floors measured in the same run. A script, never a timed test: it
// prints figures and PASS/MISS next to the targets, and fails only when
// something breaks (a target that fails, tables or tracking rows missing).
//
//   node bench/fleet.js [--rounds 3] [--n 100] [--large 1000] [--concurrency 4]
//
// 1. apply: the billing schema (migrations/) to N databases just created, by
//    `stratum migrate --targets FILE --concurrency 4` (the CLI, canary 1 as
//    users run it) against `xargs -P4 psql -1 -f all.sql` over the same
//    databases (every file in one transaction, no tracking). Target <= 1.2x.
// 2. nothing pending on those N: the same command against
//    `xargs -P4 psql -c 'SELECT version, name FROM migrations'`. Target <= 1x.
// 3. nothing pending on --large databases (default 1000): wall time < 3 s
//    and peak RSS < 150 MiB (/usr/bin/time); beside it, what the server
//    allows: pgbench -C opening as many connections, each with one query. Creating them takes minutes and
//    about 7.5 MB of disk each; they are dropped at the end.
//
// Every spawned command runs under /usr/bin/time with sslmode=disable. The
// databases are `bench_fleet_*` on BENCH_ADMIN_URL's server.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { Client } = require('pg');

const ROOT = path.join(__dirname, '..');
const ADMIN_URL = process.env.BENCH_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const ROUNDS = option('rounds', 3);
const N = option('n', 100);
const LARGE = option('large', 1000);
const CONCURRENCY = option('concurrency', 4);
const BILLING = path.join(ROOT, 'migrations');

const urlFor = (database) => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  url.searchParams.set('sslmode', 'disable');
  return url.toString();
};

async function admin(sqls) {
  const client = new Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    for (const sql of sqls) await client.query(sql);
  } finally {
    await client.end();
  }
}

const names = (prefix, count) => Array.from({ length: count }, (_, i) => `bench_fleet_${prefix}_${String(i).padStart(4, '0')}`);
const recreate = (list) => admin(list.flatMap((name) => [`DROP DATABASE IF EXISTS "${name}"`, `CREATE DATABASE "${name}"`]));
const dropAll = (list) => admin(list.map((name) => `DROP DATABASE IF EXISTS "${name}"`));

/** Runs `command` under /usr/bin/time; resolves to { ms, rssMiB, code, stderr }. */
function timed(command, { input, env } = {}) {
  const rssFile = path.join(os.tmpdir(), `bench-fleet-rss-${process.pid}`);
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, ...command], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.stdin.end(input || '');
    child.on('close', (code) => {
      const ms = performance.now() - started;
      const rssMiB = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024;
      resolve({ ms, rssMiB, code, stderr });
    });
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const verdict = (ok) => (ok ? 'PASS' : 'MISS');

function check(run, what) {
  if (run.code !== 0) throw new Error(`${what} failed (exit ${run.code}):\n${run.stderr}`);
}

const stratumMigrate = (targetsFile) => [process.execPath, 'bin/stratum.js', 'migrate', '--dir', BILLING, '--targets', targetsFile, '--concurrency', String(CONCURRENCY), '--quiet'];
const xargs = (psqlArgs) => ['xargs', `-P${CONCURRENCY}`, '-I{}', 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', ...psqlArgs, '{}'];

async function verify(list) {
  const client = new Client({ connectionString: urlFor(list[list.length - 1]) });
  await client.connect();
  try {
    const files = fs.readdirSync(BILLING).filter((f) => f.endsWith('.sql')).length;
    const { rows } = await client.query('SELECT count(*)::int AS n FROM migrations');
    if (rows[0].n !== files) throw new Error(`${list[list.length - 1]}: ${rows[0].n} tracking rows, expected ${files}`);
  } finally {
    await client.end();
  }
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-fleet-'));
  const allSql = path.join(work, 'all.sql');
  const files = fs.readdirSync(BILLING).filter((f) => f.endsWith('.sql')).sort();
  fs.writeFileSync(allSql, files.map((f) => fs.readFileSync(path.join(BILLING, f), 'utf8')).join('\n;\n'));
  const fleet = names('n', N);
  const targetsFile = path.join(work, 'targets.txt');
  fs.writeFileSync(targetsFile, fleet.map(urlFor).join('\n'));
  const targetsInput = fleet.map(urlFor).join('\n');
  const results = { apply: { stratum: [], floor: [] }, noop: { stratum: [], floor: [] } };

  console.log(`fleet bench: ${N} databases, concurrency ${CONCURRENCY}, ${ROUNDS} rounds; ${LARGE} for the large run`);
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate who goes first, as bench/run.js does.
      const order = round % 2 === 0 ? ['stratum', 'floor'] : ['floor', 'stratum'];
      for (const who of order) {
        await recreate(fleet);
        const run =
          who === 'stratum'
            ? await timed(stratumMigrate(targetsFile))
            : await timed(xargs(['-1', '-f', allSql]), { input: targetsInput });
        check(run, `apply by ${who}`);
        results.apply[who].push(run.ms);
      }
      if (order[1] === 'floor') {
        // Nothing pending means migrated by stratum: the floor keeps no tracking table.
        await recreate(fleet);
        check(await timed(stratumMigrate(targetsFile)), 'apply by stratum');
      }
      await verify(fleet);
      for (const who of order) {
        const run =
          who === 'stratum'
            ? await timed(stratumMigrate(targetsFile))
            : await timed(xargs(['-At', '-c', 'SELECT version, name FROM migrations ORDER BY version']), { input: targetsInput });
        check(run, `nothing pending by ${who}`);
        results.noop[who].push(run.ms);
      }
      console.log(
        `round ${round + 1}: apply ${fmt(results.apply.stratum[round])} vs floor ${fmt(results.apply.floor[round])}; ` +
          `nothing pending ${fmt(results.noop.stratum[round])} vs floor ${fmt(results.noop.floor[round])}`,
      );
    }
    await dropAll(fleet);

    const ratio = (part) => median(results[part].stratum.map((ms, i) => ms / results[part].floor[i]));
    const applyRatio = ratio('apply');
    const noopRatio = ratio('noop');
    const lines = [
      `| figure | stratum | floor | x floor | target | |`,
      `|---|---|---|---|---|---|`,
      `| apply billing schema, ${N} dbs, -P${CONCURRENCY} | ${fmt(median(results.apply.stratum))} | ${fmt(median(results.apply.floor))} | ${applyRatio.toFixed(2)} | <= 1.2x | ${verdict(applyRatio <= 1.2)} |`,
      `| nothing pending, ${N} dbs, -P${CONCURRENCY} | ${fmt(median(results.noop.stratum))} | ${fmt(median(results.noop.floor))} | ${noopRatio.toFixed(2)} | <= 1x | ${verdict(noopRatio <= 1)} |`,
    ];

    if (LARGE > 0) {
      const large = names('large', LARGE);
      const largeFile = path.join(work, 'large.txt');
      fs.writeFileSync(largeFile, large.map(urlFor).join('\n'));
      console.log(`creating ${LARGE} databases (not timed)...`);
      await recreate(large);
      try {
        check(await timed(stratumMigrate(largeFile)), 'the first migrate of the large fleet');
        await verify(large);
        const runs = [];
        for (let round = 0; round < ROUNDS; round++) {
          const run = await timed(stratumMigrate(largeFile));
          check(run, 'nothing pending on the large fleet');
          runs.push(run);
          console.log(`large round ${round + 1}: ${fmt(run.ms)}, peak ${run.rssMiB.toFixed(1)} MiB`);
        }
        const wall = median(runs.map((r) => r.ms));
        const rss = Math.max(...runs.map((r) => r.rssMiB));
        // What the server allows: as many connections, each with one query,
        // by pgbench (-C: a new connection per transaction) into one of them.
        const selectOne = path.join(work, 'select-one.sql');
        fs.writeFileSync(selectOne, 'SELECT 1;\n');
        const perClient = Math.ceil(LARGE / CONCURRENCY);
        const pgbench = ['pgbench', '-n', '-C', '-c', String(CONCURRENCY), '-j', '2', '-t', String(perClient), '-f', selectOne, urlFor(large[0])];
        const floors = [];
        for (let round = 0; round < ROUNDS; round++) {
          const run = await timed(pgbench);
          if (run.code === 0) floors.push(run.ms);
        }
        const floor = floors.length > 0 ? median(floors) : undefined;
        lines.push(
          `| nothing pending, ${LARGE} dbs, -P${CONCURRENCY} | ${fmt(wall)} | ${floor === undefined ? '' : `${fmt(floor)} (pgbench -C)`} | ` +
            `${floor === undefined ? '' : (wall / floor).toFixed(2)} | < 3 s | ${verdict(wall < 3000)} |`,
        );
        lines.push(`| peak RSS, ${LARGE} targets | ${rss.toFixed(1)} MiB | | | < 150 MiB | ${verdict(rss < 150)} |`);
      } finally {
        await dropAll(large);
      }
    }
    console.log(`\n${lines.join('\n')}`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error.stack || error);
  process.exit(1);
});
