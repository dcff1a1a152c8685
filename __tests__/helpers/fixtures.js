// Throw-away migration directories for tests.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** Writes `files` ({ '001_a.sql': 'SQL' }) to a new temp directory and returns its path. */
function migrationsDir(files = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-migrations-'));
  writeFiles(dir, files);
  return dir;
}

function writeFiles(dir, files) {
  for (const [name, sql] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), sql);
}

const CLI = path.join(__dirname, '..', '..', 'bin', 'stratum.js');

module.exports = { migrationsDir, writeFiles, CLI };
