// Planning reads checksums, and a file that the file system reports
// unchanged since it was last read is not opened again. The cache must
// never hide a change: any write moves a file's change time.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const stratum = require('..');
const { createDatabase } = require('./helpers/db');

let db;
let project;
beforeEach(async () => {
  db = await createDatabase();
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-cache-'));
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.mkdirSync(path.join(project, 'migrations'));
});
afterEach(async () => {
  await db.drop();
  fs.rmSync(project, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cacheFiles = () => {
  const folder = path.join(project, 'node_modules', '.cache', 'stratum');
  return fs.existsSync(folder) ? fs.readdirSync(folder) : [];
};

test('settled files are remembered, and a same-size edit with the old mtime is still caught', async () => {
  const file = path.join(project, 'migrations', '001_a.sql');
  fs.writeFileSync(file, 'CREATE TABLE IF NOT EXISTS a (id INT);\n');
  const options = { databaseUrl: db.url, cwd: project, dir: 'migrations' };
  // Only files whose last change is over two seconds old are remembered.
  await sleep(2200);
  expect((await stratum.migrate(options)).applied).toHaveLength(1);
  expect(cacheFiles()).toHaveLength(1);
  expect((await stratum.migrate(options)).alreadyApplied).toBe(1);
  expect((await stratum.status(options)).migrations[0].state).toBe('applied');

  // Same length, and the old modification time put back: only the change
  // time, which no tool can set, tells.
  // `touch -r` copies the timestamps to the nanosecond, as tools that
  // preserve them do.
  const reference = path.join(project, 'reference');
  execFileSync('touch', ['-r', file, reference]);
  const before = fs.statSync(file, { bigint: true });
  fs.writeFileSync(file, 'CREATE TABLE IF NOT EXISTS b (id INT);\n');
  execFileSync('touch', ['-r', reference, file]);
  const after = fs.statSync(file, { bigint: true });
  expect([after.size, after.mtimeNs, after.ino]).toEqual([before.size, before.mtimeNs, before.ino]);
  await expect(stratum.migrate(options)).rejects.toMatchObject({ code: 'E_CHANGED' });
  expect((await stratum.status(options)).migrations[0].state).toBe('changed');
});

test('a pending file is read in full and applied even when its checksum was remembered', async () => {
  fs.writeFileSync(path.join(project, 'migrations', '001_a.sql'), 'CREATE TABLE IF NOT EXISTS a (id INT);\n');
  const options = { databaseUrl: db.url, cwd: project, dir: 'migrations' };
  await sleep(2200);
  // status remembers the pending file's checksum without applying it.
  expect((await stratum.status(options)).pending).toBe(1);
  expect(cacheFiles()).toHaveLength(1);
  const result = await stratum.migrate(options);
  expect(result.applied.map((m) => m.name)).toEqual(['001_a']);
});

test('a damaged cache is ignored', async () => {
  fs.writeFileSync(path.join(project, 'migrations', '001_a.sql'), 'CREATE TABLE IF NOT EXISTS a (id INT);\n');
  const options = { databaseUrl: db.url, cwd: project, dir: 'migrations' };
  await sleep(2200);
  await stratum.migrate(options);
  const [name] = cacheFiles();
  const cache = path.join(project, 'node_modules', '.cache', 'stratum', name);
  const text = fs.readFileSync(cache, 'utf8');
  // A forged checksum for the right stamp would hide a change, so it must be
  // the file's own; a line that does not parse is simply skipped.
  fs.writeFileSync(cache, `${text.split('\n')[0]}\ngarbage\n001_a.sql\tnot-a-number\n`);
  expect((await stratum.migrate(options)).alreadyApplied).toBe(1);
});
