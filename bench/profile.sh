#!/usr/bin/env bash
# bench/profile.sh [N]   where the time of W1 (N migrations, default 500) and of W2 with
# 10,000 applied goes: query messages, commits, client CPU, syscalls. Figures, not timings to
# judge: run it on a quiet machine. Needs strace; perf is optional. Writes bench/out/profile/.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-500}
OUT=bench/out/profile
mkdir -p "$OUT"
PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER PGSSLMODE=disable
url() { echo "postgres://$PGUSER@$PGHOST:$PGPORT/$1?sslmode=disable"; }
reset() { psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" 2>/dev/null; }
sql() { psql -X -At -d "$1" -c "$2"; }
node bench/gen.js "$N" "bench/out/data/N$N" >/dev/null
node bench/gen.js --small 10000 bench/out/data/small10000 >/dev/null
SET=bench/out/data/N$N
trap 'for d in bench_p_cli bench_p_psql bench_p_msg bench_p_small; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)"; done' EXIT

echo "== messages to the server (PostgreSQL frontend messages, from strace of sendto), W1 N=$N"
reset bench_p_cli
strace -f -y -qq -s 10000000 -xx -e trace=sendto -o "$OUT/strace-cli-W1.txt" \
  node bin/stratum.js migrate --dir "$SET/plain" --url "$(url bench_p_cli)" >/dev/null
reset bench_p_psql
strace -f -y -qq -s 10000000 -xx -e trace=sendto -o "$OUT/strace-psql-pertx-W1.txt" \
  psql -X -q -d bench_p_psql -v ON_ERROR_STOP=1 -f "$SET/floor/per_file.sql"
reset bench_p_msg
strace -f -y -qq -s 10000000 -xx -e trace=sendto -o "$OUT/strace-psql-1msg-W1.txt" \
  psql -X -q -d bench_p_msg -v ON_ERROR_STOP=1 -f "$SET/floor/per_file_1msg.sql"
for who in cli psql-pertx psql-1msg; do
  node bench/pgmsgs.js "$OUT/strace-$who-W1.txt" | node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8")); const n = Number(process.argv[1]);
    const q = r.messages.Q || 0;
    console.log(`${process.argv[2].padEnd(11)} ${q} query messages = ${(q / n).toFixed(2)} per migration ` +
      `(${q - n} more than N), in ${r.writes} socket writes`);' "$N" "$who"
done
reset bench_p_cli
strace -f -qq -e trace=write -o "$OUT/strace-cli-W1-writes.txt" \
  node bin/stratum.js migrate --dir "$SET/plain" --url "$(url bench_p_cli)" >/dev/null
echo "CLI: $(grep -c ' write(1,' "$OUT/strace-cli-W1-writes.txt" || true) progress writes to stdout"

echo "== server time inside each migration (tracking duration_ms, measured by the server) vs wall"
reset bench_p_cli
/usr/bin/time -f "%e %U %S %M" -o "$OUT/time-cli-W1.txt" \
  node bin/stratum.js migrate --dir "$SET/plain" --url "$(url bench_p_cli)" >/dev/null
read -r wall user sys rss < <(tail -1 "$OUT/time-cli-W1.txt")
served=$(sql bench_p_cli "SELECT sum(duration_ms) FROM migrations")
commits=$(sleep 0.7; sql postgres "SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench_p_cli'")
echo "CLI W1 N=$N: wall ${wall}s, client CPU ${user}s user + ${sys}s sys, peak ${rss} KiB;" \
  "server time in the migrations (sum of duration_ms) ${served} ms; xact_commit $commits"

echo "== syscalls of the CLI applying W1 N=$N (strace -c -f)"
reset bench_p_cli
strace -c -f -o "$OUT/strace-c-cli-W1.txt" node bin/stratum.js migrate --dir "$SET/plain" --url "$(url bench_p_cli)" >/dev/null
head -14 "$OUT/strace-c-cli-W1.txt"

echo "== W2 with 10,000 applied: migrate() in-process, 20 calls"
reset bench_p_small
node bin/stratum.js migrate --dir bench/out/data/small10000/plain --url "$(url bench_p_small)" >/dev/null
cat >"$OUT/w2loop.js" <<'EOF'
const stratum = require(process.argv[2]);
const [fn, dir, databaseUrl, n] = process.argv.slice(3);
(async () => {
  const xs = [];
  for (let i = 0; i < Number(n); i++) {
    const t = process.hrtime.bigint();
    await stratum[fn]({ databaseUrl, dir });
    xs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  xs.sort((a, b) => a - b);
  console.log(`${fn}() x${n}: median ${xs[xs.length >> 1].toFixed(1)} ms, min ${xs[0].toFixed(1)} ms`);
})();
EOF
W2=(node "$OUT/w2loop.js" "$PWD" migrate bench/out/data/small10000/plain "$(url bench_p_small)" 20)
/usr/bin/time -f "process: %e s wall, %U s user, %S s sys (20 calls + node start)" "${W2[@]}"
echo "tracking-table read alone (psql, server + transfer of 10,000 rows):"
psql -X -d bench_p_small -c '\timing on' -c '\o /dev/null' \
  -c 'SELECT name, version, checksum, executed_at, duration_ms FROM migrations ORDER BY id' 2>&1 | grep Time
strace -c -f -o "$OUT/strace-c-w2-10000.txt" "${W2[@]}" >/dev/null
echo "syscalls for 20 calls (per call: divide by 20):"
grep -E 'openat|statx|read|close|getdents|total' "$OUT/strace-c-w2-10000.txt"
if command -v perf >/dev/null; then
  perf record -q -F 2000 -g -o "$OUT/perf-w2-10000.data" "${W2[@]}" >/dev/null 2>&1 || true
  echo "perf: CPU samples by DSO and by thread"
  perf report -i "$OUT/perf-w2-10000.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -5
  perf report -i "$OUT/perf-w2-10000.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep '%' | head -3
  perf report -i "$OUT/perf-w2-10000.data" --children --sort sym --stdio -g none 2>/dev/null \
    | grep -E '\] (__x64_sys_(openat|close|statx|getdents64)|ksys_read)$' | head -6
fi
