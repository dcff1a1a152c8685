'use strict';
// Workload generator for bench/run.js. The SQL is byte for byte what
// ../shared/bench/peers/gen.py body(i) writes for the peer tools; only the file
// names differ (ours: NNNN_create_t_NNNN.sql, padded to at least four digits).
//
//   node bench/gen.js N OUT          -> OUT/plain/*.sql, OUT/floor/{all,per_file}.sql
//   node bench/gen.js --small N OUT  -> the W1-small set (one tiny statement per migration)

const fs = require('node:fs');
const path = require('node:path');

const pad = (i, width) => String(i).padStart(width, '0');

/** Migration i of the table workload (same text as gen.py body(i)). */
function tableBody(i) {
  const t = `t_${pad(i, 4)}`;
  const prev = i > 1 ? `t_${pad(i - 1, 4)}` : t; // the first table references itself
  let s =
    `CREATE TABLE IF NOT EXISTS ${t} (\n` +
    `    id         SERIAL PRIMARY KEY,\n` +
    `    parent_id  INTEGER REFERENCES ${prev} (id),\n` +
    `    name       TEXT NOT NULL,\n` +
    `    amount     NUMERIC(12,2) NOT NULL DEFAULT 0,\n` +
    `    attrs      JSONB NOT NULL DEFAULT '{}'::jsonb,\n` +
    `    created_at TIMESTAMPTZ NOT NULL DEFAULT now()\n` +
    `);\n` +
    `CREATE INDEX IF NOT EXISTS ${t}_name_idx ON ${t} (name);\n`;
  if (i % 10 === 0) {
    const rows = [1, 2, 3]
      .map((k) => `    (${k}, 'row-${i}-${k}', ${k}.50, '{"k": ${k}, "m": ${i}}'::jsonb)`)
      .join(',\n');
    s +=
      `INSERT INTO ${t} (id, name, amount, attrs) VALUES\n${rows}\n` +
      `ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, amount = EXCLUDED.amount, ` +
      `attrs = EXCLUDED.attrs;\n`;
  }
  return s;
}

/** Migration i of W1-small: 1 creates the table, every other one inserts one row. */
function smallBody(i) {
  if (i === 1) return 'CREATE TABLE IF NOT EXISTS small (id SERIAL PRIMARY KEY, k INTEGER NOT NULL UNIQUE);\n';
  return `INSERT INTO small (k) VALUES (${i}) ON CONFLICT DO NOTHING;\n`;
}

/**
 * Writes OUT/plain/<v>_<name>.sql for i = 1..n, and the psql floors:
 * OUT/floor/all.sql (every file, for `psql -1 -f`) and OUT/floor/per_file.sql
 * (per file: BEGIN; \i file; INSERT INTO floor_migrations ...; COMMIT;) and
 * OUT/floor/per_file_async.sql (the same with SET LOCAL synchronous_commit = off in every
 * transaction but the last, whose flush makes the earlier commits durable too) and
 * OUT/floor/per_file_1msg.sql (that again, but each migration sent as ONE query message,
 * its statements joined with psql's \; as the engine sends them; works for these
 * generated bodies, whose statements all end with ";\n").
 * Skips the work when OUT/.complete says the same set is already there.
 */
function writeSet(out, n, kind = 'tables', { floors = true } = {}) {
  const stamp = path.join(out, '.complete');
  const want = JSON.stringify({ n, kind, floors, v: 3 });
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return out;
  fs.rmSync(out, { recursive: true, force: true });
  const plain = path.join(out, 'plain');
  fs.mkdirSync(plain, { recursive: true });
  const width = Math.max(4, String(n).length);
  const all = [];
  const perFile = [
    '\\set ON_ERROR_STOP 1\n',
    'CREATE TABLE IF NOT EXISTS floor_migrations (version bigint PRIMARY KEY, name text NOT NULL, ' +
      'applied_at timestamptz NOT NULL DEFAULT now());\n',
  ];
  const perFileAsync = [...perFile];
  const perFile1msg = [...perFile];
  for (let i = 1; i <= n; i++) {
    let name;
    let body;
    if (kind === 'small') {
      name = i === 1 ? 'create_small' : `insert_small_${pad(i, width)}`;
      body = smallBody(i);
    } else {
      name = `create_t_${pad(i, 4)}`;
      body = tableBody(i);
    }
    const v = pad(i, width);
    const file = path.join(plain, `${v}_${name}.sql`);
    fs.writeFileSync(file, body);
    if (floors) {
      all.push(`-- ${v}_${name}.sql\n${body}`);
      const tx = `\\i ${file}\nINSERT INTO floor_migrations (version, name) VALUES (${i}, '${name}');\nCOMMIT;\n`;
      perFile.push(`BEGIN;\n${tx}`);
      perFileAsync.push(i < n ? `BEGIN;\nSET LOCAL synchronous_commit = off;\n${tx}` : `BEGIN;\n${tx}`);
      const joined = body.trimEnd().replace(/;$/, '').split(';\n').join(' \\;\n');
      perFile1msg.push(
        `BEGIN \\;${i < n ? ' SET LOCAL synchronous_commit = off \\;' : ''}\n${joined} \\;\n` +
          `INSERT INTO floor_migrations (version, name) VALUES (${i}, '${name}') \\;\nCOMMIT;\n`,
      );
    }
  }
  if (floors) {
    fs.mkdirSync(path.join(out, 'floor'), { recursive: true });
    fs.writeFileSync(path.join(out, 'floor', 'all.sql'), all.join(''));
    fs.writeFileSync(path.join(out, 'floor', 'per_file.sql'), perFile.join(''));
    fs.writeFileSync(path.join(out, 'floor', 'per_file_async.sql'), perFileAsync.join(''));
    fs.writeFileSync(path.join(out, 'floor', 'per_file_1msg.sql'), perFile1msg.join(''));
  }
  fs.writeFileSync(stamp, want);
  return out;
}

module.exports = { tableBody, smallBody, writeSet };

if (require.main === module) {
  const args = process.argv.slice(2);
  const small = args[0] === '--small';
  if (small) args.shift();
  const [n, out] = [Number(args[0]), args[1]];
  if (!Number.isInteger(n) || n < 1 || !out) {
    process.stderr.write('usage: node bench/gen.js [--small] N OUT\n');
    process.exit(2);
  }
  writeSet(path.resolve(out), n, small ? 'small' : 'tables');
  process.stdout.write(`generated ${n} ${small ? 'small ' : ''}migrations under ${out}\n`);
}
