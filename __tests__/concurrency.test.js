// Ten app instances booting at once all call migrate(): one applies each
// migration, the others wait and find nothing to do, none fails.
const path = require('node:path');
const { spawn } = require('node:child_process');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir } = require('./helpers/fixtures');

const ADDON = path.join(__dirname, '..');

function boot(url, dir) {
  const script = `require(${JSON.stringify(ADDON)})
    .migrate({ databaseUrl: ${JSON.stringify(url)}, dir: ${JSON.stringify(dir)} })
    .then((r) => { process.stdout.write(JSON.stringify(r)); })
    .catch((e) => { process.stderr.write(e.code + ' ' + e.message); process.exitCode = 1; });`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', script]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('ten processes at once: each migration applied exactly once, all exit 0', async () => {
  const db = await createDatabase();
  try {
    const files = {};
    for (let i = 1; i <= 12; i += 1) {
      // Each migration counts its own runs, so a second run would show.
      files[`${String(i).padStart(3, '0')}_step.sql`] =
        `CREATE TABLE IF NOT EXISTS runs (version INT);\nINSERT INTO runs VALUES (${i});\nSELECT pg_sleep(0.02);\n`;
    }
    const dir = migrationsDir(files);
    const results = await Promise.all(Array.from({ length: 10 }, () => boot(db.url, dir)));
    for (const result of results) {
      expect(result).toMatchObject({ code: 0, stderr: '' });
    }
    const applied = results.map((r) => JSON.parse(r.stdout).applied.length);
    expect(applied.reduce((a, b) => a + b, 0)).toBe(12);
    const runs = await query(db.url, 'SELECT version, count(*)::int AS n FROM runs GROUP BY version ORDER BY version');
    expect(runs).toEqual(Array.from({ length: 12 }, (_, i) => ({ version: i + 1, n: 1 })));
    const tracking = await query(db.url, 'SELECT version::int AS v FROM migrations ORDER BY id');
    expect(tracking.map((r) => r.v)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  } finally {
    await db.drop();
  }
});
