// The package imported as an ES module by an app that installed it.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir } = require('./helpers/fixtures');
const { linkedProject, ROOT } = require('./helpers/linked-project');

function runModule(project, source) {
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', source], { cwd: project, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('import { migrate } from "pg-stratum" migrates, with the same addon as require()', async () => {
  const db = await createDatabase();
  try {
    const dir = migrationsDir({ '001_notes.sql': 'CREATE TABLE IF NOT EXISTS notes (id INT);\n' });
    const result = runModule(
      linkedProject(),
      `
      import { migrate } from 'pg-stratum';
      import stratum from 'pg-stratum';
      import { createRequire } from 'node:module';
      const required = createRequire(process.cwd() + '/').resolve('pg-stratum');
      const result = await migrate({ databaseUrl: ${JSON.stringify(db.url)}, dir: ${JSON.stringify(dir)} });
      console.log(JSON.stringify({
        applied: result.applied.map((m) => m.name),
        sameAddon: stratum.migrate === migrate && (await import(required)).default.migrate === migrate,
        required,
      }));
      `,
    );
    expect(result.stderr).toBe('');
    const output = JSON.parse(result.stdout);
    expect(output).toEqual({ applied: ['001_notes'], sameAddon: true, required: path.join(ROOT, 'lib', 'entry.js') });
    expect(await query(db.url, 'SELECT name FROM migrations')).toEqual([{ name: '001_notes' }]);
  } finally {
    await db.drop();
  }
});

test('every function of index.d.ts is a named ESM export; pg-stratum/testing imports too', () => {
  const declared = [...fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8').matchAll(/^export declare function (\w+)/gm)].map(
    (match) => match[1],
  );
  expect(declared).toEqual(expect.arrayContaining(['migrate', 'status', 'fresh', 'reset', 'lint', 'plan', 'diagram']));
  const result = runModule(
    linkedProject(),
    `
    import * as stratum from 'pg-stratum';
    import { createTestDatabase, prepareTemplate, dropTemplates } from 'pg-stratum/testing';
    const names = ${JSON.stringify(declared)};
    console.log(JSON.stringify({
      missing: names.filter((name) => typeof stratum[name] !== 'function'),
      testing: [createTestDatabase, prepareTemplate, dropTemplates].map((f) => typeof f),
    }));
    `,
  );
  expect(result.stderr).toBe('');
  expect(JSON.parse(result.stdout)).toEqual({ missing: [], testing: ['function', 'function', 'function'] });
});
