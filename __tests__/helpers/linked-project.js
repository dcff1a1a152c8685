// A throw-away project that depends on pg-stratum the way an app does:
// node_modules/pg-stratum is this repository, so imports go through "exports".
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');

/** Creates the project with `files` ({ 'a.ts': 'source' }) and returns its folder. */
function linkedProject(files = {}) {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-app-'));
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'pg-stratum'), 'dir');
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(project, name), text);
  return project;
}

module.exports = { linkedProject, ROOT };
