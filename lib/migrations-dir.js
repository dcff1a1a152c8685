// Where the migration files are, resolved exactly as the addon resolves its
// `dir` option, for the parts written in JavaScript (`stratum new`, the
// testing helper) that need the folder before any addon call.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

/**
 * `dir`, else `MIGRATIONS_DIR`, else `"stratum": { "dir" }` of the nearest
 * package.json above `cwd` (relative to that file), else `cwd/migrations`.
 * An empty variable counts as unset, as it does for the addon.
 */
function resolveMigrationsDir({ dir, cwd = process.cwd(), env = process.env } = {}) {
  const given = dir || env.MIGRATIONS_DIR;
  if (given) return path.resolve(cwd, given);
  return dirFromPackageJson(cwd) || path.join(cwd, 'migrations');
}

function dirFromPackageJson(cwd) {
  for (let folder = path.resolve(cwd); ; folder = path.dirname(folder)) {
    const manifest = path.join(folder, 'package.json');
    let text;
    try {
      text = fs.readFileSync(manifest, 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      let json;
      try {
        json = JSON.parse(text);
      } catch (error) {
        throw Object.assign(new Error(`${manifest}: not valid JSON: ${error.message}`), { code: 'E_CONFIG' });
      }
      // Only the nearest package.json counts, with or without a "stratum" key.
      const configured = json && json.stratum && json.stratum.dir;
      return typeof configured === 'string' ? path.resolve(folder, configured) : undefined;
    }
    if (path.dirname(folder) === folder) return undefined;
  }
}

module.exports = { resolveMigrationsDir };
