#!/usr/bin/env node
'use strict';
// The benchmark of issue 6: `npm run bench` (see bench/README.md).
//
// Times stratum against psql floors and Node / npm start-up floors on
//   W1        apply all N migrations to a freshly created database (creating it is not timed)
//   W1-small  the same with 10,000 one-statement migrations (migrations per second)
//   W2        migrate again with nothing pending
//   W3        status
//   lint      lint() of one 16 MB file of ordinary DDL, and of the same SQL in 800 files, in MB/s (bench/lint.js)
// Rounds are interleaved (every contender once per round, start rotated each round) and
// ratios / differences to a floor are taken pair by pair inside a round, then the median.
// Timings never fail the process; a contender that errors (or leaves the wrong tables) does.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync, spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const { Client } = require('pg');
const { writeSet } = require('./gen');
const lintBench = require('./lint');

const ROOT = path.resolve(__dirname, '..');
const OUT = path.join(__dirname, 'out');
const DATA = path.join(OUT, 'data');
const LOGS = path.join(OUT, 'logs');
const ADMIN_URL = process.env.BENCH_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const PEERS_DIR = process.env.BENCH_PEERS_DIR || path.resolve(ROOT, '../shared/bench/peers');
const PEERS_ROOT = process.env.BENCH_ROOT || '/tmp/bench';
const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const NODE = 'node'; // from PATH, as `npm run` and a user's shell would find it
const DB_PREFIX = 'bench_s_';

const USAGE = `Usage: node bench/run.js [--smoke] [--rounds K] [--n 100,500] [--small 10000] [--no-peers]

  --smoke        N=20 only, one round, W1-small with 200 migrations, a 1 MB lint file, no peers (CI)
  --rounds K     W1 rounds (default 5); W2/W3 take 2K+1, W1-small min(K, 3)
  --n LIST       workload sizes for W1/W2/W3 (default 100,500)
  --small M      W1-small size (default 10000)
  --no-peers     skip the peer tools (../shared/bench/peers/run.sh, when set up)
`;

// ---------------------------------------------------------------- options

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        smoke: { type: 'boolean' },
        rounds: { type: 'string' },
        n: { type: 'string' },
        small: { type: 'string' },
        'no-peers': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`bench: ${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (value, name) => {
    const v = Number(value);
    if (!Number.isInteger(v) || v < 1) {
      process.stderr.write(`bench: ${name} takes a positive whole number, not ${value}\n`);
      process.exit(2);
    }
    return v;
  };
  const smoke = Boolean(parsed.smoke);
  const rounds = smoke ? 1 : parsed.rounds ? int(parsed.rounds, '--rounds') : 5;
  const ns = smoke ? [20] : (parsed.n || '100,500').split(',').map((v) => int(v, '--n'));
  const small = smoke ? 200 : parsed.small ? int(parsed.small, '--small') : 10000;
  return {
    smoke,
    ns,
    small,
    roundsW1: rounds,
    roundsW2: smoke ? 1 : 2 * rounds + 1,
    roundsSmall: smoke ? 1 : Math.min(rounds, 3),
    peers: !smoke && !parsed['no-peers'],
    checksumNs: smoke ? [0, 20, 200] : [0, 100, 500, 2000, 10000],
    lintMb: smoke ? 1 : 16,
    lintRounds: smoke ? 1 : rounds,
    // About 20 KB a file, as a project's folder of migrations.
    lintFiles: smoke ? 50 : 800,
  };
}

// ---------------------------------------------------------------- statistics

const median = (xs) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const min = (xs) => (xs.length ? Math.min(...xs) : null);
const max = (xs) => (xs.length ? Math.max(...xs) : null);

/** Median over rounds of f(a's run, b's run), for the rounds where both ran. */
function paired(runsA, runsB, f) {
  const byRound = new Map((runsB || []).map((run) => [run.round, run]));
  const xs = [];
  for (const run of runsA || []) if (byRound.has(run.round)) xs.push(f(run, byRound.get(run.round)));
  return median(xs);
}

/** Least squares y = a + b x. */
function linearFit(points) {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
    syy += (p.y - my) ** 2;
  }
  const slope = sxx ? sxy / sxx : 0;
  return { intercept: my - slope * mx, slope, r2: sxx && syy ? (sxy * sxy) / (sxx * syy) : 1 };
}

// ---------------------------------------------------------------- databases

const dbUrl = (db) => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${db}`;
  url.searchParams.set('sslmode', 'disable');
  return url.toString();
};

let admin;
const created = new Set();

async function resetDb(db) {
  if (!/^bench_[a-z0-9_]+$/.test(db)) throw new Error(`refusing to reset ${db}`);
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${db}`);
  created.add(db);
}

async function queryDb(db, sql) {
  const client = new Client({ connectionString: dbUrl(db) });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- running one contender once

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Environment of a spawned contender: ours, without the npm_* noise of `npm run bench`. */
function childEnv(db, dir) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || key === 'INIT_CWD' || key === 'NODE') continue;
    env[key] = value;
  }
  const url = new URL(ADMIN_URL);
  Object.assign(env, {
    PGHOST: url.hostname,
    PGPORT: url.port || '5432',
    PGUSER: decodeURIComponent(url.username) || 'postgres',
    PGDATABASE: db,
    PGSSLMODE: 'disable',
    DATABASE_URL: dbUrl(db),
    NO_COLOR: '1',
  });
  if (dir) env.MIGRATIONS_DIR = dir;
  return env;
}

/**
 * Spawns argv (through /usr/bin/time -f %M when present, the same for every contender),
 * wall = fork to exit on the monotonic clock; rss = the process's peak RSS in MiB.
 */
function runProcess(argv, { cwd, env, log }) {
  const rssFile = `${log}.rss`;
  const full = TIME ? [TIME, '-f', '%M', '-o', rssFile, ...argv] : argv;
  const fd = fs.openSync(log, 'w');
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(full[0], full.slice(1), { cwd, env, stdio: ['ignore', fd, fd] });
    child.on('error', (error) => {
      fs.closeSync(fd);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      fs.closeSync(fd);
      let rss = null;
      if (TIME && fs.existsSync(rssFile)) {
        const last = fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop();
        if (/^\d+$/.test(last)) rss = Number(last) / 1024;
      }
      resolve({ wall, rss, code: signal ? 128 : code });
    });
  });
}

// ---------------------------------------------------------------- contenders

let stratum; // the addon, loaded once for the in-process contender

/**
 * A contender knows how to run one workload ('W1' | 'W2' | 'W3') against set `set`
 * ({ dir, floor, db, kind }). Returns { wall, rss } or throws with a message.
 */
function contenders(npmFloorDir) {
  const psql = ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1'];
  const psqlRead = [...psql, '-At', '-c', 'SELECT version, name FROM floor_migrations ORDER BY version'];
  const proc = (argv, cwd = ROOT) => async (set, db, log) => {
    const r = await runProcess(argv(set), { cwd, env: childEnv(db, set.dir), log });
    if (r.code !== 0) {
      const tail = fs.readFileSync(log, 'utf8').slice(-1500);
      throw new Error(`exit ${r.code}: ${tail}`);
    }
    return r;
  };
  const inproc = (fn) => async (set, db) => {
    const t0 = process.hrtime.bigint();
    await stratum[fn]({ databaseUrl: dbUrl(db), dir: set.dir });
    return { wall: Number(process.hrtime.bigint() - t0) / 1e9, rss: null };
  };
  return {
    npm: {
      label: 'npm run -s migrate',
      W1: proc(() => ['npm', 'run', '-s', 'migrate']),
      W2: proc(() => ['npm', 'run', '-s', 'migrate']),
      W3: proc(() => ['npm', 'run', '-s', 'migrate:status']),
      w3label: 'npm run -s migrate:status',
      tracks: 'migrations',
    },
    cli: {
      label: 'node bin/stratum.js migrate',
      W1: proc(() => [NODE, 'bin/stratum.js', 'migrate']),
      W2: proc(() => [NODE, 'bin/stratum.js', 'migrate']),
      W3: proc(() => [NODE, 'bin/stratum.js', 'status']),
      w3label: 'node bin/stratum.js status',
      tracks: 'migrations',
    },
    inproc: {
      label: 'migrate() in-process',
      W1: inproc('migrate'),
      W2: inproc('migrate'),
      W3: inproc('status'),
      w3label: 'status() in-process',
      tracks: 'migrations',
    },
    'psql-1tx': {
      label: 'psql -1 -f all.sql (floor)',
      W1: proc((set) => [...psql, '-1', '-f', path.join(set.root, 'floor', 'all.sql')]),
    },
    'psql-pertx-async': {
      label: 'psql per-file tx, flush deferred (floor)',
      W1: proc((set) => [...psql, '-f', path.join(set.root, 'floor', 'per_file_async.sql')]),
      tracks: 'floor_migrations',
    },
    'psql-1msg': {
      label: 'psql 1 message per file, flush deferred (floor)',
      W1: proc((set) => [...psql, '-f', path.join(set.root, 'floor', 'per_file_1msg.sql')]),
      tracks: 'floor_migrations',
    },
    'psql-pertx': {
      label: 'psql per-file tx (floor)',
      W1: proc((set) => [...psql, '-f', path.join(set.root, 'floor', 'per_file.sql')]),
      W2: proc(() => psqlRead),
      W3: proc(() => psqlRead),
      w2label: 'psql-read (floor)',
      w3label: 'psql-read (floor)',
      tracks: 'floor_migrations',
    },
    require: {
      label: `node -e "require('<repo>')" (floor)`,
      W2: proc(() => [NODE, '-e', `require(${JSON.stringify(ROOT)})`]),
      W3: proc(() => [NODE, '-e', `require(${JSON.stringify(ROOT)})`]),
      noDb: true,
    },
    node0: {
      label: 'node -e 0 (floor)',
      W2: proc(() => [NODE, '-e', '0']),
      W3: proc(() => [NODE, '-e', '0']),
      noDb: true,
    },
    npm0: {
      label: 'npm run -s noop (floor: node -e 0)',
      W2: proc(() => ['npm', 'run', '-s', 'noop'], npmFloorDir),
      W3: proc(() => ['npm', 'run', '-s', 'noop'], npmFloorDir),
      noDb: true,
    },
  };
}

// ---------------------------------------------------------------- one workload set

/**
 * Runs W1 (rounds interleaved, database reset untimed before each run), then W2 and W3
 * on the state the last W1 round left. Returns { W1: {name: [runs]}, W2, W3 }.
 */
async function runSet(set, C, names, roundsW1, roundsW2, failures) {
  const res = { W1: {}, W2: {}, W3: {} };
  const logdir = path.join(LOGS, set.key);
  fs.mkdirSync(logdir, { recursive: true });
  const db = (name) => `${DB_PREFIX}${name.replace(/-/g, '_')}`;

  const attempt = async (w, name, round) => {
    const c = C[name];
    const log = path.join(logdir, `${name}.${w}.log`);
    try {
      const r = await c[w](set, db(name), log);
      (res[w][name] ||= []).push({ round, wall: r.wall, rss: r.rss });
      return true;
    } catch (error) {
      failures.push({ set: set.key, workload: w, contender: name, round, message: String(error.message || error) });
      process.stderr.write(`!! ${set.key} ${w} ${name} round ${round + 1}: ${error.message || error}\n`);
      return false;
    }
  };
  const failed = (name) => failures.some((f) => f.set === set.key && f.contender === name);

  // W1
  const w1 = names.filter((n) => C[n].W1);
  for (let r = 0; r < roundsW1; r++) {
    const k = r % w1.length;
    for (const name of [...w1.slice(k), ...w1.slice(0, k)]) {
      if (failed(name)) continue;
      await resetDb(db(name));
      await sleep(200); // the reset forces checkpoints: let them pass (not timed)
      if (!(await attempt('W1', name, r))) continue;
      const problem = await checkApplied(set, db(name), C[name].tracks);
      if (problem) {
        failures.push({ set: set.key, workload: 'W1', contender: name, round: r, message: problem });
        process.stderr.write(`!! ${set.key} W1 ${name}: ${problem}\n`);
      }
    }
    process.stdout.write(`  ${set.key} W1 round ${r + 1}/${roundsW1}\n`);
  }

  // W2, W3: everything applied (what the last W1 round left)
  for (const w of ['W2', 'W3']) {
    const cand = names.filter((n) => C[n][w] && (C[n].noDb || C[n].W1));
    for (let r = 0; r < roundsW2; r++) {
      const k = r % cand.length;
      for (const name of [...cand.slice(k), ...cand.slice(0, k)]) {
        if (!failed(name)) await attempt(w, name, r);
      }
    }
    process.stdout.write(`  ${set.key} ${w} ${roundsW2} rounds\n`);
  }
  return res;
}

/** After W1: the tables (and the tracking rows) must all be there. */
async function checkApplied(set, db, tracks) {
  if (set.kind === 'small') {
    const [{ n }] = await queryDb(db, 'SELECT count(*)::int AS n FROM small');
    if (n !== set.n - 1) return `${n} rows in small after W1, expected ${set.n - 1}`;
  } else {
    const [{ n }] = await queryDb(
      db,
      `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t_[0-9]{4,}$'`,
    );
    if (n !== set.n) return `${n} tables after W1, expected ${set.n}`;
  }
  if (tracks) {
    const [{ n }] = await queryDb(db, `SELECT count(*)::int AS n FROM ${tracks}`);
    if (n !== set.n) return `${n} rows in ${tracks} after W1, expected ${set.n}`;
  }
  return null;
}

/** Reading + checksumming: in-process status() against an empty database, N files. */
async function checksumScaling(ns, rounds, failures) {
  const db = `${DB_PREFIX}empty`;
  await resetDb(db);
  const dirs = ns.map((n) => {
    if (n === 0) {
      const dir = path.join(DATA, 'cs0', 'plain');
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    }
    return path.join(writeSet(path.join(DATA, `cs${n}`), n, 'tables', { floors: false }), 'plain');
  });
  const runs = ns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < ns.length; j++) {
      const i = (j + r) % ns.length;
      try {
        const t0 = process.hrtime.bigint();
        const report = await stratum.status({ databaseUrl: dbUrl(db), dir: dirs[i] });
        runs[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (report.pending !== ns[i]) throw new Error(`status saw ${report.pending} pending, expected ${ns[i]}`);
      } catch (error) {
        failures.push({ set: 'checksum', workload: 'status', contender: 'inproc', round: r, message: error.message });
        process.stderr.write(`!! checksum N=${ns[i]}: ${error.message}\n`);
      }
    }
  }
  const points = ns.map((n, i) => ({ n, ms: median(runs[i]), min: min(runs[i]), max: max(runs[i]) }));
  const base = points.find((p) => p.n === 0);
  for (const p of points) p.usPerFile = p.n && base && p.ms != null ? ((p.ms - base.ms) * 1000) / p.n : null;
  const ok = points.filter((p) => p.ms != null);
  const fit = ok.length >= 2 ? linearFit(ok.map((p) => ({ x: p.n, y: p.ms }))) : null;
  return { points, fit, rounds };
}

// ---------------------------------------------------------------- summary

function summarize(res, C) {
  const out = {};
  for (const w of ['W1', 'W2', 'W3']) {
    for (const [name, runs] of Object.entries(res[w])) {
      const walls = runs.map((r) => r.wall);
      const rss = runs.map((r) => r.rss).filter((v) => v != null);
      const s = {
        label: (w === 'W3' && C[name].w3label) || (w === 'W2' && C[name].w2label) || C[name].label,
        runs: runs.length,
        med: median(walls),
        min: min(walls),
        max: max(walls),
        rssMed: median(rss),
        rssMax: max(rss),
      };
      const vs = (floor, f) => paired(runs, res[w][floor], f);
      if (w === 'W1') {
        s.xPertx = vs('psql-pertx', (a, b) => a.wall / b.wall);
        s.xAsync = vs('psql-pertx-async', (a, b) => a.wall / b.wall);
        s.x1msg = vs('psql-1msg', (a, b) => a.wall / b.wall);
        s.x1tx = vs('psql-1tx', (a, b) => a.wall / b.wall);
      } else {
        // each process contender against the start-up floor it contains
        const floor = { cli: 'require', npm: 'npm0', require: 'node0', npm0: 'node0' }[name];
        if (floor) {
          s.floor = floor;
          s.msOverFloor = vs(floor, (a, b) => (a.wall - b.wall) * 1000);
        }
        s.msOverNode0 = vs('node0', (a, b) => (a.wall - b.wall) * 1000);
        s.xRead = vs('psql-pertx', (a, b) => a.wall / b.wall);
      }
      (out[w] ||= {})[name] = s;
    }
  }
  return out;
}

const f = (v, d = 3) => (v == null || Number.isNaN(v) ? '-' : v.toFixed(d));
const ms = (v, d = 1) => (v == null ? '-' : (v * 1000).toFixed(d));
const signed = (v, d = 1) => (v == null ? '-' : `${v >= 0 ? '+' : ''}${v.toFixed(d)}`);

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

const FLOOR_NAMES = { require: 'require', node0: 'node -e 0', npm0: 'npm floor' };

function renderSet(key, title, s, rounds) {
  const lines = [];
  if (s.W1) {
    lines.push(`### ${title}: W1 apply all to an empty database (${rounds.w1} rounds; reset not timed)`, '');
    const small = key.startsWith('small');
    const header = ['contender', 'median s', 'min-max s', 'peak MiB', 'x psql-pertx', 'x pertx-deferred', 'x 1msg', 'x psql-1tx'];
    if (small) header.push('migrations/s');
    lines.push(
      table(
        header,
        Object.entries(s.W1).map(([, v]) => {
          const row = [v.label, f(v.med), `${f(v.min, 2)}-${f(v.max, 2)}`, f(v.rssMed, 0), f(v.xPertx, 2), f(v.xAsync, 2), f(v.x1msg, 2), f(v.x1tx, 2)];
          if (small) row.push(v.med ? Math.round(rounds.n / v.med) : '-');
          return row;
        }),
      ),
      '',
    );
  }
  for (const w of ['W2', 'W3']) {
    if (!s[w]) continue;
    const what = w === 'W2' ? 'migrate with nothing pending' : 'status';
    lines.push(`### ${title}: ${w} ${what} (${rounds.w2} rounds)`, '');
    lines.push(
      table(
        ['contender', 'median ms', 'min-max ms', 'peak MiB', 'ms over its floor', 'x psql-read'],
        Object.entries(s[w]).map(([, v]) => [
          v.label,
          ms(v.med),
          `${ms(v.min)}-${ms(v.max)}`,
          f(v.rssMed, 0),
          v.floor ? `${signed(v.msOverFloor)} (${FLOOR_NAMES[v.floor]})` : '',
          f(v.xRead, 2),
        ]),
      ),
      '',
    );
  }
  return lines.join('\n');
}

function targets(summary, sets, smallKey, smallN, bigKey, bigN, lint, lintFolder) {
  const T = [];
  const add = (what, value, unit, limit, cmp, note = '') => {
    const pass = value == null ? null : cmp === '<=' ? value <= limit : value >= limit;
    const margin = value == null ? null : cmp === '<=' ? limit - value : value - limit;
    T.push({ what, value, unit, limit, cmp, pass, margin, note });
  };
  const big = summary[bigKey] || {};
  const sm = summary[smallKey] || {};
  add(`W1 N=${bigN} node bin/stratum.js migrate / psql per-file floor`, big.W1?.cli?.xPertx, 'x', 0.95, '<=');
  add(`W1-small (${smallN}) node bin/stratum.js migrate`, sm.W1?.cli?.med ? smallN / sm.W1.cli.med : null, 'migrations/s', 2500, '>=');
  add(`W2 N=${bigN} node bin/stratum.js migrate over require floor`, big.W2?.cli?.msOverFloor, 'ms', 25, '<=');
  add(`W2 N=${bigN} npm run -s migrate over npm floor`, big.W2?.npm?.msOverFloor, 'ms', 25, '<=');
  add(`W2 N=${bigN} migrate() in-process median`, big.W2?.inproc?.med != null ? big.W2.inproc.med * 1000 : null, 'ms', 5, '<=');
  add(`W2 ${smallN} applied: migrate() in-process median`, sm.W2?.inproc?.med != null ? sm.W2.inproc.med * 1000 : null, 'ms', 25, '<=');
  add(`W3 ${smallN} applied: status() in-process median`, sm.W3?.inproc?.med != null ? sm.W3.inproc.med * 1000 : null, 'ms', 50, '<=');
  // require over node -e 0: every W2 and W3 round of every set, paired inside its round
  const diffs = [];
  for (const res of Object.values(sets)) {
    for (const w of ['W2', 'W3']) {
      const node0 = new Map((res[w].node0 || []).map((run) => [run.round, run.wall]));
      for (const run of res[w].require || []) {
        if (node0.has(run.round)) diffs.push((run.wall - node0.get(run.round)) * 1000);
      }
    }
  }
  add(`require('pg-stratum') over node -e 0 (${diffs.length} pairs)`, median(diffs), 'ms', 10, '<=');
  add(`peak RSS of node bin/stratum.js migrate applying W1-small (${smallN}), max of rounds`, sm.W1?.cli?.rssMax, 'MiB', 80, '<=');
  add(`lint() of one ${lint ? lint.mb.toFixed(0) : '-'} MB file, median`, lint?.median, 'MB/s', lintBench.TARGET_MB_PER_S, '>=');
  add(
    `lint() of ${lintFolder ? lintFolder.mb.toFixed(0) : '-'} MB in ${lintFolder ? lintFolder.files : '-'} files, median`,
    lintFolder?.median,
    'MB/s',
    lintBench.TARGET_MB_PER_S,
    '>=',
  );
  return T;
}

function renderTargets(T, smoke) {
  const rows = T.map((t) => [
    t.pass == null ? 'n/a' : t.pass ? 'PASS' : 'MISS',
    t.what,
    t.value == null ? '-' : `${f(t.value, t.unit === 'x' ? 3 : 1)} ${t.unit}`,
    `${t.cmp} ${t.limit} ${t.unit}`,
    t.margin == null ? '-' : `${t.margin >= 0 ? 'by' : 'short by'} ${f(Math.abs(t.margin), t.unit === 'x' ? 3 : 1)} ${t.unit}`,
  ]);
  return [
    `### Targets${smoke ? ' (smoke run: tiny sets, one round, not meaningful)' : ''}`,
    '',
    table(['', 'figure', 'value', 'target', 'margin'], rows),
    '',
  ].join('\n');
}

function renderChecksum(cs) {
  const lines = [
    `### Reading + checksumming: status() in-process against an empty database (${cs.rounds} rounds)`,
    '',
    table(
      ['files', 'median ms', 'min-max ms', 'us per file over 0 files'],
      cs.points.map((p) => [p.n, f(p.ms, 2), `${f(p.min, 2)}-${f(p.max, 2)}`, f(p.usPerFile, 1)]),
    ),
    '',
  ];
  if (cs.fit) {
    lines.push(
      `Linear fit: ${f(cs.fit.intercept, 2)} ms + ${f(cs.fit.slope * 1000, 2)} us x files (R^2 = ${f(cs.fit.r2, 4)}).`,
      '',
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- environment

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Which build of the addon ran: others rebuild it while the bench runs. */
function addonFingerprint() {
  const file = fs.readdirSync(ROOT).find((name) => name.endsWith('.node'));
  if (!file) return null;
  const full = path.join(ROOT, file);
  const stat = fs.statSync(full);
  const sha256 = require('node:crypto').createHash('sha256').update(fs.readFileSync(full)).digest('hex');
  return { file, bytes: stat.size, mtime: stat.mtime.toISOString(), sha256 };
}

async function machine() {
  const [{ version }] = (await admin.query('SELECT version()')).rows;
  const settings = (
    await admin.query(
      `SELECT name, setting FROM pg_settings WHERE name IN ('fsync','synchronous_commit','shared_buffers','wal_sync_method','ssl') ORDER BY name`,
    )
  ).rows;
  const dirty = sh('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']);
  return {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavg: os.loadavg(),
    postgres: version,
    postgresSettings: Object.fromEntries(settings.map((r) => [r.name, r.setting])),
    node: process.version,
    npm: sh('npm', ['-v']),
    psql: sh('psql', ['--version']),
    gitCommit: sh('git', ['-C', ROOT, 'rev-parse', 'HEAD']),
    gitDirty: dirty == null ? null : dirty.length > 0,
    peakRssTool: TIME ? `${TIME} -f %M` : null,
    addon: addonFingerprint(),
  };
}

// ---------------------------------------------------------------- peers

function runPeers(opts) {
  const bin = path.join(PEERS_ROOT, 'npm', 'node_modules', '.bin');
  if (!fs.existsSync(path.join(PEERS_DIR, 'run.sh'))) return { skipped: `no ${PEERS_DIR}/run.sh` };
  if (!fs.existsSync(path.join(bin, 'knex'))) {
    return { skipped: `peers not installed: run ${PEERS_DIR}/setup.sh first` };
  }
  const env = {
    ...childEnv('postgres'),
    OURS_CWD: ROOT,
    OURS_MIGRATE_CMD: 'node bin/stratum.js migrate',
    OURS_STATUS_CMD: 'node bin/stratum.js status',
    OURS_TRACK: 'migrations',
    ROUNDS_W1: String(opts.roundsW1),
    ROUNDS_W2: String(Math.max(1, 2 * opts.roundsW1 - 1)),
    BENCH_ROOT: PEERS_ROOT,
  };
  for (const key of ['PGDATABASE', 'DATABASE_URL', 'MIGRATIONS_DIR', 'NO_COLOR']) delete env[key];
  const command =
    `OURS_CWD=${ROOT} OURS_MIGRATE_CMD='node bin/stratum.js migrate' OURS_STATUS_CMD='node bin/stratum.js status' ` +
    `OURS_TRACK=migrations ROUNDS_W1=${env.ROUNDS_W1} ROUNDS_W2=${env.ROUNDS_W2} ${PEERS_DIR}/run.sh ${opts.ns.join(' ')}`;
  process.stdout.write(`\n== peers: ${command}\n`);
  const started = new Date().toISOString();
  const r = spawnSync(path.join(PEERS_DIR, 'run.sh'), opts.ns.map(String), { env, stdio: 'inherit' });
  const results = {};
  const mds = [];
  for (const n of opts.ns) {
    const json = path.join(PEERS_ROOT, 'results', `N${n}.json`);
    const md = path.join(PEERS_ROOT, 'results', `N${n}.md`);
    if (fs.existsSync(json)) results[n] = JSON.parse(fs.readFileSync(json, 'utf8')).summary;
    if (fs.existsSync(md)) mds.push(fs.readFileSync(md, 'utf8'));
  }
  const versions = path.join(PEERS_ROOT, 'results', 'versions.txt');
  return {
    command,
    started,
    exitCode: r.status,
    versions: fs.existsSync(versions) ? fs.readFileSync(versions, 'utf8') : null,
    summary: results,
    markdown: mds.join('\n'),
  };
}

// ---------------------------------------------------------------- main

async function main() {
  const opts = options();
  const t0 = Date.now();
  fs.mkdirSync(LOGS, { recursive: true });
  if (!TIME) process.stdout.write('note: /usr/bin/time is missing: no peak RSS figures (apt-get install time)\n');

  admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  const before = new Set((await admin.query(`SELECT datname FROM pg_database`)).rows.map((r) => r.datname));
  stratum = require(ROOT);

  const npmFloorDir = path.join(OUT, 'npm-floor');
  fs.mkdirSync(npmFloorDir, { recursive: true });
  fs.writeFileSync(
    path.join(npmFloorDir, 'package.json'),
    `${JSON.stringify({ name: 'npm-floor', private: true, scripts: { noop: 'node -e 0' } }, null, 2)}\n`,
  );

  const C = contenders(npmFloorDir);
  const failures = [];
  const results = { options: opts, machine: await machine(), sets: {}, summary: {}, addonAfter: {} };
  process.stdout.write(
    `bench: N=${opts.ns.join(',')}, W1-small ${opts.small}, rounds W1 ${opts.roundsW1} / W2,W3 ${opts.roundsW2} / small ${opts.roundsSmall}` +
      `${opts.smoke ? ' (smoke)' : ''}\n`,
  );

  // Warm the in-process path once (addon threads, first connection), not timed.
  await resetDb(`${DB_PREFIX}warm`);
  await stratum.status({ databaseUrl: dbUrl(`${DB_PREFIX}warm`), dir: path.join(writeSet(path.join(DATA, 'cs20'), 20, 'tables', { floors: false }), 'plain') });

  const md = [];
  const all = ['npm', 'cli', 'inproc', 'psql-1tx', 'psql-pertx', 'psql-pertx-async', 'psql-1msg', 'require', 'node0', 'npm0'];
  try {
    for (const n of opts.ns) {
      const root = writeSet(path.join(DATA, `N${n}`), n, 'tables');
      const set = { key: `N${n}`, kind: 'tables', n, root, dir: path.join(root, 'plain') };
      const res = await runSet(set, C, all, opts.roundsW1, opts.roundsW2, failures);
      results.sets[set.key] = res;
      results.summary[set.key] = summarize(res, C);
      results.addonAfter[set.key] = addonFingerprint()?.sha256;
      md.push(renderSet(set.key, `N=${n}`, results.summary[set.key], { w1: opts.roundsW1, w2: opts.roundsW2, n }));
      process.stdout.write(`\n${md[md.length - 1]}\n`);
    }
    {
      const n = opts.small;
      const root = writeSet(path.join(DATA, `small${n}`), n, 'small');
      const set = { key: `small${n}`, kind: 'small', n, root, dir: path.join(root, 'plain') };
      // W1-small: npm would add only its start-up to a run of seconds: left out to save time.
      const names = all.filter((c) => c !== 'npm');
      const res = await runSet(set, C, names, opts.roundsSmall, opts.roundsW2, failures);
      results.sets[set.key] = res;
      results.summary[set.key] = summarize(res, C);
      results.addonAfter[set.key] = addonFingerprint()?.sha256;
      md.push(renderSet(set.key, `W1-small ${n}`, results.summary[set.key], { w1: opts.roundsSmall, w2: opts.roundsW2, n }));
      process.stdout.write(`\n${md[md.length - 1]}\n`);
    }
    results.checksum = await checksumScaling(opts.checksumNs, opts.roundsW2, failures);
    results.addonAfter.checksum = addonFingerprint()?.sha256;
    md.push(renderChecksum(results.checksum));
    process.stdout.write(`\n${md[md.length - 1]}\n`);
    try {
      results.lint = await lintBench.lintThroughput(stratum, DATA, opts.lintMb, opts.lintRounds);
      md.push(lintBench.renderLint(results.lint));
      process.stdout.write(`\n${md[md.length - 1]}\n`);
      results.lintFolder = await lintBench.lintThroughput(stratum, DATA, opts.lintMb, opts.lintRounds, opts.lintFiles);
      results.addonAfter.lint = addonFingerprint()?.sha256;
      md.push(lintBench.renderLint(results.lintFolder));
      process.stdout.write(`\n${md[md.length - 1]}\n`);
    } catch (error) {
      failures.push({ set: 'lint', workload: 'lint', contender: 'inproc', round: 0, message: error.message });
      process.stderr.write(`!! lint: ${error.message}\n`);
    }
  } finally {
    for (const db of created) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
  }

  const bigN = Math.max(...opts.ns);
  results.targets = targets(results.summary, results.sets, `small${opts.small}`, opts.small, `N${bigN}`, bigN, results.lint, results.lintFolder);
  md.push(renderTargets(results.targets, opts.smoke));
  process.stdout.write(`\n${md[md.length - 1]}\n`);

  if (opts.peers && !failures.length) {
    results.peers = runPeers(opts);
    results.addonAfter.peers = addonFingerprint()?.sha256;
    if (results.peers.skipped) process.stdout.write(`\npeers skipped: ${results.peers.skipped}\n`);
    else {
      md.push(`### Peers (${results.peers.command}; started ${results.peers.started})\n\n${results.peers.markdown}`);
      fs.writeFileSync(path.join(OUT, 'PEERS.md'), `${md[md.length - 1]}\n\n\`\`\`\n${results.peers.versions || ''}\`\`\`\n`);
    }
    // run.sh leaves its bench_<tool> databases: drop the ones this run created
    const after = (await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'`)).rows;
    for (const { datname } of after) {
      if (!before.has(datname) && /^bench_[a-z0-9_]+$/.test(datname)) {
        await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
      }
    }
  }
  await admin.end();

  // Others rebuild the addon while this runs: name the parts that ran on another build.
  results.addonAtEnd = addonFingerprint();
  results.addonChangedIn = Object.entries(results.addonAfter)
    .filter(([, sha]) => sha !== results.machine.addon?.sha256)
    .map(([part]) => part);
  results.addonChanged = results.addonChangedIn.length > 0;
  if (results.addonChanged) {
    process.stderr.write(
      `bench: WARNING: the addon was rebuilt during the run; parts that may have run on another build: ` +
        `${results.addonChangedIn.join(', ')} (the first of these may mix two builds)\n`,
    );
  }
  results.failures = failures;
  results.seconds = (Date.now() - t0) / 1000;
  // A smoke run (CI) never overwrites the figures of the last full run.
  const base = opts.smoke ? 'results-smoke' : 'results';
  fs.writeFileSync(path.join(OUT, `${base}.json`), `${JSON.stringify(results, null, 1)}\n`);
  const head = [
    `# stratum bench ${results.machine.date}`,
    '',
    `${results.machine.kernel}, ${results.machine.cpus} cpus (${results.machine.cpuModel}), ${results.machine.memoryGiB} GiB; ` +
      `${results.machine.postgres.split(',')[0]}; node ${results.machine.node}; commit ${results.machine.gitCommit}` +
      `${results.machine.gitDirty ? ' (dirty)' : ''}; addon ${results.machine.addon?.file} ` +
      `sha256 ${results.machine.addon?.sha256.slice(0, 12)} built ${results.machine.addon?.mtime}` +
      `${results.addonChanged ? ` (WARNING: rebuilt during the run; affected: ${results.addonChangedIn.join(', ')})` : ''}`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(OUT, `${base}.md`), `${head}\n${md.join('\n')}\n`);
  process.stdout.write(
    `\nwrote ${path.relative(ROOT, path.join(OUT, base))}.json and .md in ${results.seconds.toFixed(0)} s\n`,
  );
  if (failures.length) {
    process.stderr.write(`bench: ${failures.length} run(s) failed (see above and ${path.relative(ROOT, LOGS)})\n`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  process.stderr.write(`bench: ${error && error.stack ? error.stack : error}\n`);
  process.exitCode = 1;
});
