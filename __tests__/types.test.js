// The published types, checked by the TypeScript compiler the way an app
// would use them: every function, the testing helper, CommonJS and ESM.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { linkedProject, ROOT } = require('./helpers/linked-project');

const USAGE = `
import {
  migrate, status, fresh, reset, lint, plan, diagram, newMigration, migrationsDir, dbStart, dbStatus, dbStop,
} from 'pg-stratum';
import type {
  Options, MigrateResult, StatusReport, PlanResult, PendingMigration, LintReport, LintDiagnostic,
  ProgressEvent, ResetResult, NewMigration, EmbeddedDatabase, TableLockRetry,
  FleetTarget, MigrateFleetResult, StatusFleetResult, PlanFleetResult, Migration,
} from 'pg-stratum';
import { createTestDatabase, prepareTemplate, dropTemplates } from 'pg-stratum/testing';
import type { TestDatabase, TestDatabaseOptions } from 'pg-stratum/testing';

export async function everyFunction(): Promise<unknown[]> {
  const seen: unknown[] = [];
  const testOptions: TestDatabaseOptions = { adminUrl: 'postgres://postgres@127.0.0.1/postgres', dir: 'migrations', prefix: 'app' };
  const template: string = await prepareTemplate(testOptions);
  const db: TestDatabase = await createTestDatabase(testOptions);
  const name: string = db.name;

  const options: Options = {
    databaseUrl: db.url,
    dir: 'migrations',
    schema: 'public',
    table: 'migrations',
    lockTimeoutMs: 60000,
    tableLockTimeoutMs: 5000,
    tableLockRetries: 3,
    waitMs: 0,
    lockMode: 'session',
    onProgress: (event: ProgressEvent) => {
      const kind: 'start' | 'end' | 'retry' = event.event;
      const tookMs: number | undefined = event.durationMs;
      const backoffMs: number | undefined = event.waitMs;
      seen.push(kind, event.version, event.name, tookMs, event.attempt, backoffMs, event.reason);
    },
  };
  const dir: string = migrationsDir({ dir: 'migrations' });
  const written: NewMigration = await newMigration('add_user_preferences', { dir });
  const planned: PlanResult = await plan(options);
  const first: PendingMigration | undefined = planned.pending[0];
  const modes: Array<'wrapped' | 'already-wrapped' | 'none'> = planned.pending.map((m) => m.transaction);
  const result: MigrateResult = await migrate(options);
  const versions: number[] = result.applied.map((m) => m.version);
  const retried: TableLockRetry[] = result.retries;
  const report: StatusReport = await status(options);
  const states: Array<'applied' | 'pending' | 'changed' | 'missing'> = report.migrations.map((m) => m.state);
  const mermaid: string = await diagram({ databaseUrl: db.url, schema: 'public' });
  const found: LintReport = await lint({ dir: 'migrations' });
  const severities: Array<'error' | 'warning'> = found.diagnostics.map((d: LintDiagnostic) => d.severity);
  const again: MigrateResult = await fresh({ ...options, force: true });
  const dropped: ResetResult = await reset({ databaseUrl: db.url, force: true });
  await db.drop();
  const gone: string[] = await dropTemplates({ prefix: 'app' });
  const embedded: EmbeddedDatabase = await dbStart();
  const stopped: boolean = await dbStop();
  seen.push(written.path, written.version, embedded.dataDir, (await dbStatus()).running, stopped, report.embedded);
  seen.push(template, name, first, modes, versions, retried, states, mermaid, severities, again, dropped.dropped, gone);

  // Over a fleet each command's entries carry its own fields, typed exactly.
  const fleet = { dir: 'migrations', targets: [db.url], concurrency: 4, canary: 1, onTarget: (t: FleetTarget) => seen.push(t.outcome) };
  const migrated: MigrateFleetResult = await migrate(fleet);
  const appliedThere: Migration[] | undefined = migrated.targets[0].applied;
  const standing: StatusFleetResult = await status({ targetsQuery: 'SELECT datname FROM pg_database' });
  const pendingCount: number | undefined = standing.targets[0].pending;
  const planned2: PlanFleetResult = await plan({ schemasQuery: 'SELECT nspname FROM pg_namespace', perServer: 2 });
  const toApply: PendingMigration[] | undefined = planned2.targets[0].pending;
  seen.push(migrated.ok, migrated.failed, migrated.skipped, appliedThere, pendingCount, toApply, standing.groups, planned2.diagnostics);

  // @ts-expect-error lockTimeoutMs is a number of milliseconds
  await migrate({ lockTimeoutMs: '5000' });
  // @ts-expect-error the option is databaseUrl
  await status({ databaseURL: 'postgres://x' });
  // @ts-expect-error lockMode is 'session' or 'transaction'
  await migrate({ lockMode: 'table' });
  // @ts-expect-error appliedAt is absent on a pending migration
  const appliedAt: string = report.migrations[0].appliedAt;
  // @ts-expect-error newMigration needs a name
  await newMigration();
  // @ts-expect-error a fleet's migrate entries list the applied migrations, not a count
  const appliedCount: number | undefined = migrated.targets[0].applied;
  // @ts-expect-error one database's migrate result is not a fleet's
  const notFleet: MigrateFleetResult = await migrate(options);
  seen.push(appliedCount, notFleet);
  // @ts-expect-error the prefix is a string
  await createTestDatabase({ prefix: 1 });
  return [...seen, appliedAt];
}
`;

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    noEmit: true,
    module: 'nodenext',
    moduleResolution: 'nodenext',
    target: 'es2022',
    lib: ['es2022'],
    types: [],
    skipLibCheck: false,
  },
  files: ['usage.cts', 'usage.mts'],
};

function tsc(project, ...args) {
  const result = spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project, '--noEmit', '--strict', ...args],
    { encoding: 'utf8' },
  );
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

test('an app using every function and the testing helper compiles with --strict, as CommonJS and as ESM', () => {
  const project = linkedProject({
    'usage.cts': USAGE,
    'usage.mts': USAGE,
    'tsconfig.json': JSON.stringify(TSCONFIG),
  });
  const { code, output } = tsc(project, '--listFiles');
  expect(output).not.toMatch(/error TS/);
  expect(code).toBe(0);
  // The types came through the package's "exports", from this repository.
  expect(output).toContain(path.join(ROOT, 'index.d.ts'));
  expect(output).toContain(path.join(ROOT, 'testing.d.ts'));
});

test('the compiler does reject a wrong use of the types', () => {
  const project = linkedProject({
    'usage.cts': "import { plan } from 'pg-stratum';\nexport const p: Promise<number> = plan();\n",
    'usage.mts': "import { createTestDatabase } from 'pg-stratum/testing';\nexport const url: number = (await createTestDatabase()).url;\n",
    'tsconfig.json': JSON.stringify(TSCONFIG),
  });
  const { code, output } = tsc(project);
  expect(code).not.toBe(0);
  expect(output).toMatch(/usage\.cts\(2,14\): error TS2322: Type 'Promise<PlanResult>' is not assignable/);
  expect(output).toMatch(/usage\.mts\(2,14\): error TS2322: Type 'string' is not assignable to type 'number'/);
});
