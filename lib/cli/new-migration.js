// `stratum new <name>`: the next numbered migration file, with its header.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const NAME = /^[a-z0-9_]+$/;
const MIN_WIDTH = 3;

class NameError extends Error {}

/** `add_user_preferences` for `Add user-preferences`: how the name could be written. */
function suggestName(text) {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}

function checkName(name) {
  if (NAME.test(name)) return;
  const suggestion = suggestName(name);
  throw new NameError(
    `${JSON.stringify(name)} cannot be a migration name: use lower-case letters, digits and underscores` +
      (suggestion ? `, e.g. ${suggestion}` : ''),
  );
}

/**
 * The next version after the highest one in `dir`, zero-padded to the width
 * of that file's number, so `0042_x.sql` is followed by `0043_…`.
 */
function nextVersion(dir) {
  let highest = { version: 0n, width: MIN_WIDTH };
  for (const file of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const match = /^(\d+)_.*\.sql$/i.exec(file);
    if (!match) continue;
    // BigInt: a version may be as large as the engine's 64-bit integer.
    const version = BigInt(match[1]);
    if (version >= highest.version) highest = { version, width: Math.max(MIN_WIDTH, match[1].length) };
  }
  return String(highest.version + 1n).padStart(highest.width, '0');
}

/** `Add User Preferences` for `add_user_preferences`. */
function title(name) {
  return name
    .split('_')
    .filter(Boolean)
    .map((word) => word[0].toUpperCase() + word.slice(1))
    .join(' ');
}

/** Writes the file and returns its path; never overwrites one. */
function createMigrationFile(dir, name) {
  checkName(name);
  const version = nextVersion(dir);
  const file = path.join(dir, `${version}_${name}.sql`);
  fs.mkdirSync(dir, { recursive: true });
  const header = `-- Migration ${version}: ${title(name)}\n-- Description: \n\n`;
  try {
    fs.writeFileSync(file, header, { flag: 'wx' });
  } catch (error) {
    const reason = error.code === 'EEXIST' ? 'already exists; nothing was written' : error.message;
    throw Object.assign(new Error(`${file}: ${reason}`), { code: 'E_IO', file });
  }
  return file;
}

module.exports = { createMigrationFile, NameError };
