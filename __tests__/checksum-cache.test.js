// Planning reads checksums, and a file that the file system reports
// unchanged since it was last read is not opened again. The cache must
// never hide a change: any write moves a file's change time.
//
// The cache is made observable by forging it: a checksum written into the
// cache for a file whose stamp still holds is what planning sees, which only
// happens if the file was not read; a file that was read shows its own.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');

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

// Only files whose last change is over two seconds old are remembered (a
// write within the clock's tick could keep the stamp). What is waited for
// here is time itself: the file's change time has to grow that old.
const settle = () => new Promise((resolve) => setTimeout(resolve, 2200));

const sha256 = (text) => crypto.createHash('sha256').update(text).digest('hex');
const FORGED = 'f'.repeat(64);
const SQL = 'CREATE TABLE IF NOT EXISTS a (id INT);\n';

const cacheFolder = () => path.join(project, 'node_modules', '.cache', 'stratum');
const cacheFiles = () => (fs.existsSync(cacheFolder()) ? fs.readdirSync(cacheFolder()) : []);
const cachePath = () => {
  const files = cacheFiles();
  expect(files).toHaveLength(1);
  return path.join(cacheFolder(), files[0]);
};
/** The cache's lines after its header, by file name: [size, mtime, ctime, inode, checksum]. */
const cacheLines = () => {
  const [header, ...lines] = fs.readFileSync(cachePath(), 'utf8').split('\n').filter(Boolean);
  expect(header).toBe('stratum checksums 2');
  return Object.fromEntries(lines.map((line) => {
    const [name, ...fields] = line.split('\t');
    return [name, fields];
  }));
};
/** Writes `checksum` into the cached line of `name`, its stamp kept. */
const forgeChecksum = (name, checksum) => {
  const text = fs.readFileSync(cachePath(), 'utf8');
  const forged = text.replace(new RegExp(`^(${name.replace('.', '\\.')}\t(?:[^\t\n]*\t){4})[^\t\n]*$`, 'm'), `$1${checksum}`);
  expect(forged).not.toBe(text);
  fs.writeFileSync(cachePath(), forged);
};

test('a settled file is not read again: a forged checksum under its stamp is what planning sees', async () => {
  const file = path.join(project, 'migrations', '001_a.sql');
  fs.writeFileSync(file, SQL);
  const options = { databaseUrl: db.url, cwd: project, dir: 'migrations' };
  await settle();
  expect((await stratum.migrate(options)).applied).toHaveLength(1);
  const stat = fs.statSync(file, { bigint: true });
  expect(cacheLines()).toEqual({
    '001_a.sql': [String(stat.size), String(stat.mtimeNs), String(stat.ctimeNs), String(stat.ino), sha256(SQL)],
  });

  forgeChecksum('001_a.sql', FORGED);
  // The file is as it was applied; only the cache says otherwise.
  expect((await stratum.status(options)).migrations[0].state).toBe('changed');
  await expect(stratum.migrate(options)).rejects.toMatchObject({ code: 'E_CHANGED' });
  expect(cacheLines()['001_a.sql'][4]).toBe(FORGED);
});

test('a file written again with the same content is read again, found unchanged, and never re-run', async () => {
  const file = path.join(project, 'migrations', '001_a.sql');
  fs.writeFileSync(file, SQL);
  const options = { databaseUrl: db.url, cwd: project, dir: 'migrations' };
  await settle();
  await stratum.migrate(options);
  const [row] = await query(db.url, 'SELECT id, executed_at FROM migrations');
  const before = cacheLines()['001_a.sql'];
  forgeChecksum('001_a.sql', FORGED);

  // Any write moves the change time: the stamp no longer holds, so the
  // forged line is not trusted and the file's own checksum is read.
  fs.writeFileSync(file, SQL);
  expect((await stratum.status(options)).migrations[0]).toMatchObject({ state: 'applied', checksum: sha256(SQL) });
  const again = await stratum.migrate(options);
  expect(again).toMatchObject({ applied: [], alreadyApplied: 1 });
  expect(await query(db.url, 'SELECT id, executed_at FROM migrations')).toEqual([row]);
  // The forged line is gone (a file changed this recently is not even
  // remembered yet, unless the machine took two seconds to get here).
  expect(cacheLines()['001_a.sql']?.[4]).not.toBe(FORGED);

  // Once it has settled, its line holds the new stamp.
  await settle();
  expect((await stratum.status(options)).migrations[0].state).toBe('applied');
  const after = cacheLines()['001_a.sql'];
  const stat = fs.statSync(file, { bigint: true });
  expect(after).toEqual([String(stat.size), String(stat.mtimeNs), String(stat.ctimeNs), String(stat.ino), sha256(SQL)]);
  expect(after[2]).not.toBe(before[2]);
});

test('a same-size edit with the old mtime put back is still caught: the change time tells', async () => {
  const file = path.join(project, 'migrations', '001_a.sql');
  fs.writeFileSync(file, SQL);
  const options = { databaseUrl: db.url, cwd: project, dir: 'migrations' };
  await settle();
  expect((await stratum.migrate(options)).applied).toHaveLength(1);
  expect(cacheLines()['001_a.sql']).toBeDefined();
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
  fs.writeFileSync(path.join(project, 'migrations', '001_a.sql'), SQL);
  const options = { databaseUrl: db.url, cwd: project, dir: 'migrations' };
  await settle();
  // status remembers the pending file's checksum without applying it.
  expect((await stratum.status(options)).pending).toBe(1);
  forgeChecksum('001_a.sql', FORGED);
  expect((await stratum.status(options)).migrations[0]).toMatchObject({ state: 'pending', checksum: FORGED });

  // Applying reads the file itself: its SQL runs and its own checksum is recorded.
  const result = await stratum.migrate(options);
  expect(result.applied.map((m) => [m.name, m.checksum])).toEqual([['001_a', sha256(SQL)]]);
  expect(await query(db.url, 'SELECT name, checksum FROM migrations')).toEqual([{ name: '001_a', checksum: sha256(SQL) }]);
  expect(await query(db.url, "SELECT to_regclass('public.a')::text AS t")).toEqual([{ t: 'a' }]);
});

test('a damaged cache is ignored, and written again whole', async () => {
  fs.writeFileSync(path.join(project, 'migrations', '001_a.sql'), SQL);
  const options = { databaseUrl: db.url, cwd: project, dir: 'migrations' };
  await settle();
  await stratum.migrate(options);
  const cache = cachePath();
  const text = fs.readFileSync(cache, 'utf8');
  // A forged checksum for the right stamp would hide a change, so it must be
  // the file's own; a line that does not parse is simply skipped.
  fs.writeFileSync(cache, `${text.split('\n')[0]}\ngarbage\n001_a.sql\tnot-a-number\n`);
  expect((await stratum.migrate(options)).alreadyApplied).toBe(1);
  expect(fs.readFileSync(cache, 'utf8')).toBe(text);
});
