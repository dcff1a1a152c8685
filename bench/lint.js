'use strict';
// Lint throughput (issue 15): `lint({ dir })` over one large migration file of
// ordinary DDL, in MB/s. The SQL is byte for byte what
// `cargo run --release -p stratum-core --example lint_throughput` generates.
//
//   node bench/lint.js [MB] [ROUNDS] [FILES]   -> prints the median rate (default 16 MB in one
//                                                file, 5 rounds); FILES > 1 splits the same SQL
//                                                into that many files, as a project's folder is
//
// bench/run.js runs it as one of its parts; alone it needs no database.

const fs = require('node:fs');
const path = require('node:path');

/** Target of issue 15, end to end through the addon. */
const TARGET_MB_PER_S = 8;

/** Group i of the generated file: tables, an index, columns, seed rows, a
 * function, a DO block, and a few statements the rules report. */
function lintGroup(i) {
  return (
    `-- Table ${i}: accounts and their history\n` +
    `CREATE TABLE IF NOT EXISTS accounts_${i} (\n` +
    `    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n` +
    `    email text NOT NULL CHECK (email LIKE '%@%'),\n` +
    `    name text NOT NULL DEFAULT '',\n` +
    `    balance numeric(12, 2) NOT NULL DEFAULT 0,\n` +
    `    created_at timestamptz NOT NULL DEFAULT now()\n` +
    `);\n` +
    `CREATE UNIQUE INDEX IF NOT EXISTS accounts_${i}_email ON accounts_${i} (lower(email));\n` +
    `ALTER TABLE accounts_${i} ADD COLUMN IF NOT EXISTS note text;\n` +
    `/* seed rows; the ';' in here must not split */\n` +
    `INSERT INTO accounts_${i} (email, name) VALUES\n` +
    `    ('a${i}@example.com', E'O\\'Brien; Jr.'),\n` +
    `    ('b${i}@example.com', 'it''s; fine')\n` +
    `ON CONFLICT DO NOTHING;\n` +
    `CREATE OR REPLACE FUNCTION touch_${i}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n` +
    `BEGIN\n` +
    `    NEW.created_at := now(); -- VACUUM; COMMIT;\n` +
    `    RETURN NEW;\n` +
    `END;\n` +
    `$fn$;\n` +
    `DO $$ BEGIN\n` +
    `    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'state_${i}') THEN\n` +
    `        CREATE TYPE state_${i} AS ENUM ('open', 'closed');\n` +
    `    END IF;\n` +
    `END $$;\n` +
    `UPDATE accounts_${i} SET name = upper(name) WHERE name <> '' AND balance > 0;\n` +
    `ALTER TABLE orders ADD COLUMN IF NOT EXISTS account_${i} bigint NOT NULL;\n` +
    `DROP INDEX old_index_${i};\n\n`
  );
}

/** About `mb` megabytes (10^6 bytes) of migration SQL, whole groups. */
function lintSql(mb) {
  const target = mb * 1_000_000;
  const groups = [];
  let length = 0;
  for (let i = 0; length < target; i++) {
    const group = lintGroup(i);
    groups.push(group);
    length += group.length; // ASCII: characters are bytes
  }
  return groups.join('');
}

/** A migrations folder holding about `mb` MB of the generated SQL in
 * `files` files (whole groups each, the same count give or take one). */
function writeLintDir(root, mb, files = 1) {
  const dir = path.join(root, files === 1 ? `lint${mb}` : `lint${mb}x${files}`);
  const sql = lintSql(mb);
  if (files === 1) {
    const file = path.join(dir, '0001_lint_throughput.sql');
    fs.mkdirSync(dir, { recursive: true });
    if (!fs.existsSync(file) || fs.statSync(file).size !== sql.length) fs.writeFileSync(file, sql);
    return { dir, bytes: sql.length };
  }
  const groups = sql.split(/(?<=\n\n)/);
  const width = String(files).length + 1;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (let k = 0; k < files; k++) {
    const part = groups.slice(Math.floor((groups.length * k) / files), Math.floor((groups.length * (k + 1)) / files));
    fs.writeFileSync(path.join(dir, `${String(k + 1).padStart(width, '0')}_lint_part_${k + 1}.sql`), part.join(''));
  }
  return { dir, bytes: sql.length };
}

/** `lint({ dir })` over the folder, `rounds` times after one untimed call:
 * MB/s of each round and their median. */
async function lintThroughput(stratum, root, mb, rounds, files = 1) {
  const { dir, bytes } = writeLintDir(root, mb, files);
  const first = await stratum.lint({ dir });
  if (!first.diagnostics.length) throw new Error('lint found nothing in the generated file');
  const rates = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    await stratum.lint({ dir });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(bytes / 1e6 / seconds);
  }
  const sorted = [...rates].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
  return { mb: bytes / 1e6, files, rounds, findings: first.diagnostics.length, rates, median, min: sorted[0], max: sorted[sorted.length - 1] };
}

function renderLint(result) {
  const f = (v) => v.toFixed(1);
  return [
    `### Lint: lint({ dir }) of ${f(result.mb)} MB in ${result.files === 1 ? 'one file' : `${result.files} files`} (${result.rounds} rounds, after one untimed call)`,
    '',
    `median ${f(result.median)} MB/s (min-max ${f(result.min)}-${f(result.max)}), ${result.findings} findings`,
    '',
  ].join('\n');
}

module.exports = { TARGET_MB_PER_S, lintGroup, lintSql, lintThroughput, renderLint };

if (require.main === module) {
  const mb = Number(process.argv[2] || 16);
  const rounds = Number(process.argv[3] || 5);
  const files = Number(process.argv[4] || 1);
  if (![mb, rounds, files].every((n) => Number.isInteger(n) && n >= 1)) {
    process.stderr.write('usage: node bench/lint.js [MB] [ROUNDS] [FILES]\n');
    process.exit(2);
  }
  const stratum = require(path.resolve(__dirname, '..'));
  lintThroughput(stratum, path.join(__dirname, 'out', 'data'), mb, rounds, files).then(
    (result) => {
      process.stdout.write(`${renderLint(result)}\n`);
      const pass = result.median >= TARGET_MB_PER_S;
      process.stdout.write(`${pass ? 'PASS' : 'MISS'} lint >= ${TARGET_MB_PER_S} MB/s\n`);
    },
    (error) => {
      process.stderr.write(`bench lint: ${error && error.stack ? error.stack : error}\n`);
      process.exitCode = 1;
    },
  );
}
