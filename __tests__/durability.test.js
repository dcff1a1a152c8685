// Honest durability and bounded table-lock waits: the commits a failed run
// made are flushed before it reports, every kind of file gives up on a table
// lock after tableLockTimeoutMs, and a migration that gave up is retried.
const { spawnSync } = require('node:child_process');
const { Client } = require('pg');
const stratum = require('..');
const { createDatabase, query } = require('./helpers/db');
const { migrationsDir, CLI } = require('./helpers/fixtures');
const { startCluster } = require('./helpers/cluster');
const { waitFor, until } = require('./helpers/wait');

describe('a failed run on a server that flushes WAL lazily', () => {
  let cluster;
  beforeAll(async () => {
    // The WAL writer flushes asynchronous commits only every 10 s here, and
    // nothing else writes WAL, so only stratum's own flush makes them durable.
    cluster = await startCluster({
      settings: ['wal_level = minimal', 'max_wal_senders = 0', 'autovacuum = off', 'wal_writer_delay = 10000ms', 'checkpoint_timeout = 1h'],
    });
    await cluster.psql('CREATE EXTENSION pageinspect');
  });
  afterAll(() => cluster && cluster.stop());

  test('makes the migrations it committed durable before it reports the failure', async () => {
    const url = cluster.url();
    const dir = migrationsDir({
      '001_a.sql': 'CREATE TABLE IF NOT EXISTS a (id INT);\n',
      '002_b.sql': 'CREATE TABLE IF NOT EXISTS b (id INT);\n',
      '003_broken.sql': 'CREATE TABLE IF NOT EXISTS c (id INT);\nSELECT 1 / 0;\n',
    });
    const failure = await stratum.migrate({ databaseUrl: url, dir }).catch((error) => error);
    expect(failure.pgCode).toBe('22012');
    expect(failure.applied.map((m) => m.name)).toEqual(['001_a', '002_b']);
    // The tracking table's page was last written by this run; its LSN must be flushed.
    const [row] = await query(
      url,
      "SELECT pg_current_wal_flush_lsn() >= lsn AS durable, lsn::text FROM page_header(get_raw_page('public.migrations', 0))",
    );
    expect(row).toEqual({ durable: true, lsn: expect.any(String) });
  });
});

describe('table locks held by the app', () => {
  let db;
  let holder;
  beforeEach(async () => {
    db = await createDatabase();
    await query(db.url, 'CREATE TABLE customers (id INT PRIMARY KEY)');
    holder = new Client({ connectionString: db.url, application_name: 'app' });
    await holder.connect();
    await holder.query('BEGIN');
    // Live traffic: a transaction that read the table and is still open.
    await holder.query('SELECT count(*) FROM customers');
  });
  afterEach(async () => {
    await holder.end().catch(() => {});
    await db.drop();
  });

  /** Waits until a stratum session waits for a lock on `customers`. */
  const stratumWaiting = () =>
    waitFor(
      db.url,
      `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE NOT l.granted AND l.relation = 'customers'::regclass AND a.application_name = 'stratum'`,
      (rows) => rows[0].n > 0,
    );

  const ALTER = 'ALTER TABLE customers ADD COLUMN IF NOT EXISTS phone TEXT;\n';

  test.each([
    ['in its own BEGIN … COMMIT', `BEGIN;\n${ALTER}COMMIT;\n`],
    ['without a transaction', `-- stratum:no-transaction\n${ALTER}`],
  ])('a file %s gives up after tableLockTimeoutMs too', async (_, sql) => {
    const dir = migrationsDir({ '001_phone.sql': sql });
    const started = Date.now();
    const failure = await stratum
      .migrate({ databaseUrl: db.url, dir, tableLockTimeoutMs: 200, tableLockRetries: 0 })
      .catch((error) => error);
    expect(failure.pgCode).toBe('55P03');
    expect(failure.detail).toMatch(/pid \d+ \(postgres, idle in transaction\) holds AccessShareLock on customers/);
    expect(Date.now() - started).toBeLessThan(20000);
    expect(await query(db.url, "SELECT count(*)::int AS n FROM migrations WHERE name = '001_phone'")).toEqual([{ n: 0 }]);
  });

  test("a file without a transaction puts the app connection's own lock_timeout back", async () => {
    await holder.query('COMMIT');
    const app = new Client({ connectionString: db.url });
    await app.connect();
    try {
      await app.query("SET lock_timeout = '7s'");
      const dir = migrationsDir({ '001_phone.sql': `-- stratum:no-transaction\n${ALTER}` });
      await stratum.migrate({ client: app, dir, tableLockTimeoutMs: 200 });
      expect((await app.query('SHOW lock_timeout')).rows).toEqual([{ lock_timeout: '7s' }]);
    } finally {
      await app.end();
    }
  });

  test('a migration that gave up on a table lock is rolled back and sent again, and succeeds', async () => {
    const dir = migrationsDir({
      '001_first.sql': 'CREATE TABLE IF NOT EXISTS plans (id INT);\n',
      '002_phone.sql': `INSERT INTO plans VALUES (1) ON CONFLICT DO NOTHING;\n${ALTER}`,
    });
    const events = [];
    let released;
    const onProgress = (event) => {
      events.push(event);
      // The app's transaction ends while stratum backs off after its first try.
      if (event.event === 'retry' && !released) released = holder.query('COMMIT');
    };
    const onlyRetries = [];
    const result = await stratum.migrate({
      databaseUrl: db.url,
      dir,
      tableLockTimeoutMs: 150,
      tableLockRetries: 3,
      onProgress,
      onRetry: (event) => onlyRetries.push(event),
    });
    await released;
    expect(result.applied.map((m) => m.name)).toEqual(['001_first', '002_phone']);
    expect(result.retries.length).toBeGreaterThanOrEqual(1);
    expect(result.retries[0]).toEqual({
      version: 2,
      name: '002_phone',
      attempt: 1,
      waitMs: expect.any(Number),
      reason: expect.stringContaining('lock timeout'),
    });
    expect(result.retries[0].waitMs).toBeGreaterThanOrEqual(250);
    expect(events.filter((e) => e.event === 'retry')[0]).toMatchObject({ name: '002_phone', attempt: 1 });
    // onRetry hears the retries and nothing else.
    await until(() => onlyRetries.length === result.retries.length, { what: 'the retry events' });
    expect(onlyRetries.map((e) => [e.event, e.name, e.attempt])).toEqual(result.retries.map((r) => ['retry', r.name, r.attempt]));
    // Rolled back and sent again: the file's INSERT ran once, not twice.
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM plans')).toEqual([{ n: 1 }]);
    expect(await query(db.url, "SELECT count(*)::int AS n FROM information_schema.columns WHERE column_name = 'phone'")).toEqual([
      { n: 1 },
    ]);
  });

  test('after the last retry the error names the holder and the migrations applied before it', async () => {
    const dir = migrationsDir({
      '001_first.sql': 'CREATE TABLE IF NOT EXISTS plans (id INT);\n',
      '002_phone.sql': ALTER,
    });
    const running = stratum.migrate({ databaseUrl: db.url, dir, tableLockTimeoutMs: 100, tableLockRetries: 2 }).catch((e) => e);
    await stratumWaiting();
    const failure = await running;
    expect(failure.code).toBe('E_SQL');
    expect(failure.pgCode).toBe('55P03');
    expect(failure.file).toMatch(/002_phone\.sql$/);
    expect(failure.detail).toContain('holds AccessShareLock on customers');
    expect(failure.hint).toContain('tableLockTimeoutMs');
    expect(failure.applied.map((m) => m.name)).toEqual(['001_first']);
  });

  test.each([[[]], [['--json']]])('the command line says each retry on stderr (%j)', (flags) => {
    const dir = migrationsDir({ '001_phone.sql': ALTER });
    const run = spawnSync(
      process.execPath,
      [CLI, 'migrate', '--url', db.url, '--dir', dir, '--table-lock-timeout', '100', '--table-lock-retries', '1', ...flags],
      { encoding: 'utf8' },
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/retry: 001_phone gave up waiting for a table lock held by another session and was rolled back; sending it again in \d+ ms \(retry 1\)/);
    expect(run.stderr.match(/^retry:/gm)).toHaveLength(1);
  });
});
