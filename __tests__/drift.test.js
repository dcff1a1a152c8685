// drift: the billing schema (the repo's migrations) plus a file with every
// object kind drift reads, migrated for real; hand edits made with psql-like
// statements; the differences asserted exactly; --write applied and checked
// again. The expected schema is built on the same server (the tests run as a
// superuser, and as a non-superuser role that may create databases).
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const stratum = require('..');
const { createDatabase, query, withClient, ADMIN_URL } = require('./helpers/db');
const { migrationsDir, writeFiles, CLI } = require('./helpers/fixtures');

const BILLING = path.join(__dirname, '..', 'migrations');

/** Every kind of object drift compares, spelled the way people write SQL (PostgreSQL rewrites it). */
const EVERY_KIND = `-- Migration 003: Every Kind
CREATE EXTENSION IF NOT EXISTS citext;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'ticket_state') THEN
        CREATE TYPE ticket_state AS ENUM ('open', 'closed');
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'money_amount') THEN
        CREATE DOMAIN money_amount AS NUMERIC(15,2) DEFAULT 0 CHECK (VALUE >= 0);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'geo_point') THEN
        CREATE TYPE geo_point AS (lat DOUBLE PRECISION, lon DOUBLE PRECISION);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'price_band') THEN
        CREATE TYPE price_band AS RANGE (subtype = numeric);
    END IF;
END
$$;

CREATE SEQUENCE IF NOT EXISTS ticket_numbers START 1000 INCREMENT 5;

CREATE TABLE IF NOT EXISTS tickets (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number      INTEGER NOT NULL DEFAULT nextval('ticket_numbers'),
    state       ticket_state NOT NULL DEFAULT 'open',
    customer_id INTEGER REFERENCES customers (id) ON DELETE CASCADE,
    email       citext,
    amount      money_amount,
    place       geo_point,
    band        price_band,
    tags        TEXT[] NOT NULL DEFAULT '{}',
    code        TEXT COLLATE "C",
    opened_at   TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    seen_at     TIMESTAMP DEFAULT now()::timestamp,
    during      TSTZRANGE,
    total       NUMERIC GENERATED ALWAYS AS (amount * 2) STORED,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT tickets_state_known CHECK (state IN ('open', 'closed')),
    CONSTRAINT tickets_no_overlap EXCLUDE USING gist (during WITH &&)
);
CREATE INDEX IF NOT EXISTS idx_tickets_customer_id ON tickets (customer_id);
CREATE INDEX IF NOT EXISTS idx_tickets_open ON tickets (opened_at) WHERE state = 'open';

CREATE TABLE IF NOT EXISTS ticket_events (
    ticket_id BIGINT NOT NULL,
    at        DATE NOT NULL,
    note      TEXT
) PARTITION BY RANGE (at);
CREATE TABLE IF NOT EXISTS ticket_events_2026 PARTITION OF ticket_events
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX IF NOT EXISTS idx_ticket_events_ticket ON ticket_events (ticket_id);

CREATE OR REPLACE VIEW open_tickets AS
    SELECT id, number, opened_at FROM tickets WHERE state = 'open';
CREATE MATERIALIZED VIEW IF NOT EXISTS ticket_counts AS
    SELECT state, count(*) AS n FROM tickets GROUP BY state;

CREATE OR REPLACE PROCEDURE close_ticket(ticket BIGINT) LANGUAGE sql
    AS $$ UPDATE tickets SET state = 'closed' WHERE id = ticket $$;

CREATE OR REPLACE TRIGGER tickets_touch BEFORE UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE tickets ENABLE ROW LEVEL SECURITY;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polname = 'tickets_open') THEN
        CREATE POLICY tickets_open ON tickets FOR SELECT USING (state = 'open');
    END IF;
END
$$;

COMMENT ON TABLE tickets IS 'Support tickets';
COMMENT ON COLUMN tickets.number IS 'Shown to the customer';
`;

const templates = new Set();
const databases = [];
const roles = [];

afterAll(async () => {
  for (const db of databases) await db.drop();
  await withClient(ADMIN_URL, async (client) => {
    for (const name of templates) await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    for (const role of roles) await client.query(`DROP ROLE IF EXISTS "${role}"`);
  });
});

/** The billing files plus EVERY_KIND, marked so that this run builds its own template. */
function billingDir() {
  const dir = migrationsDir();
  for (const file of fs.readdirSync(BILLING)) fs.copyFileSync(path.join(BILLING, file), path.join(dir, file));
  writeFiles(dir, { '003_every_kind.sql': `${EVERY_KIND}-- run ${crypto.randomBytes(6).toString('hex')}\n` });
  return dir;
}

async function migrated(dir, prefix = 'stratum_drift_t') {
  const db = await createDatabase(prefix);
  databases.push(db);
  await stratum.migrate({ databaseUrl: db.url, dir });
  return db;
}

async function drift(options) {
  const result = await stratum.drift(options);
  templates.add(result.template);
  return result;
}

function cli(args) {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  const document = JSON.parse(result.stdout);
  if (document.template) templates.add(document.template);
  return { status: result.status, document, stderr: result.stderr };
}

/** Stops the embedded server of `dir`, when a test started one there. */
function stopEmbedded(dir) {
  spawnSync(process.execPath, [CLI, 'db', 'stop'], { cwd: dir, encoding: 'utf8' });
}

const brief = (differences) => differences.map(({ kind, name, change }) => `${change} ${kind} ${name}`);

test('a freshly migrated database is in sync on every kind, and the second check reuses the template', async () => {
  const dir = billingDir();
  const db = await migrated(dir);
  const first = await drift({ databaseUrl: db.url, dir });
  expect(first).toMatchObject({ inSync: true, differences: [], builtTemplate: true });
  expect(first.template).toMatch(/^stratum_drift_[0-9a-f]{16}$/);
  const again = await drift({ databaseUrl: db.url, dir });
  expect(again).toMatchObject({ inSync: true, builtTemplate: false, template: first.template });
  // The template is a database on the server, named per set of files.
  const found = await query(ADMIN_URL, 'SELECT datname FROM pg_database WHERE datname = $1', [first.template]);
  expect(found).toHaveLength(1);
});

test('one hand edit of every kind is one difference each', async () => {
  const dir = billingDir();
  const db = await migrated(dir);
  await query(
    db.url,
    `CREATE EXTENSION hstore;
     ALTER DOMAIN money_amount SET DEFAULT 1;
     ALTER SEQUENCE ticket_numbers INCREMENT 10;
     CREATE FUNCTION ticket_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM tickets';
     ALTER TABLE tickets FORCE ROW LEVEL SECURITY;
     ALTER TABLE tickets ALTER COLUMN tags DROP NOT NULL;
     ALTER TABLE tickets DROP CONSTRAINT tickets_state_known;
     DROP INDEX idx_ticket_events_ticket;
     CREATE OR REPLACE VIEW open_tickets AS SELECT id, number, opened_at, state FROM tickets WHERE state = 'open';
     ALTER TABLE tickets DISABLE TRIGGER tickets_touch;
     DROP POLICY tickets_open ON tickets;
     COMMENT ON COLUMN tickets.number IS 'The ticket number';`,
  );
  const result = await drift({ databaseUrl: db.url, dir });
  expect(result.inSync).toBe(false);
  expect(brief(result.differences)).toEqual([
    'extra extension hstore',
    'changed type money_amount',
    'changed sequence ticket_numbers',
    'extra function ticket_count()',
    'changed view open_tickets',
    'missing index ticket_events.idx_ticket_events_ticket',
    'changed table tickets',
    'changed column tickets.tags',
    'missing constraint tickets.tickets_state_known',
    'changed trigger tickets.tickets_touch',
    'missing policy tickets.tickets_open',
    'changed comment column tickets.number',
  ]);
  const sequence = result.differences.find((d) => d.kind === 'sequence');
  expect(sequence.expected).toContain('INCREMENT BY 5');
  expect(sequence.actual).toContain('INCREMENT BY 10');
});

test('the battery of hand edits, written as the next migration, applied, and in sync again', async () => {
  const dir = billingDir();
  const db = await migrated(dir);
  await query(
    db.url,
    `ALTER TABLE vouchers ADD COLUMN note TEXT;
     ALTER TABLE customers ALTER COLUMN status SET DEFAULT 'inactive';
     DROP INDEX idx_vouchers_batch_id;
     CREATE TABLE audit_log (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         at TIMESTAMPTZ NOT NULL DEFAULT now(),
         customer_id INTEGER REFERENCES customers (id) ON DELETE SET NULL,
         tags TEXT[] DEFAULT '{}'
     );
     CREATE INDEX audit_log_customer_id ON audit_log (customer_id);
     CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
         NEW.updated_at := clock_timestamp();
         RETURN NEW;
     END;
     $$;
     ALTER TABLE profiles ADD CONSTRAINT profiles_margin CHECK (selling_price >= cost_price);
     ALTER TYPE ticket_state ADD VALUE 'escalated';
     CREATE POLICY tickets_staff ON tickets FOR UPDATE USING (true);`,
  );

  const report = spawnSync(process.execPath, [CLI, 'drift', '--url', db.url, '--dir', dir], { encoding: 'utf8' });
  expect(report.status).toBe(1);
  expect(report.stdout).toContain('table vouchers\n  only in the database      column vouchers.note\n      text\n');
  expect(report.stdout).toContain('8 differences from what the applied migrations build.');
  const found = cli(['drift', '--json', '--url', db.url, '--dir', dir]);
  expect(found.status).toBe(1);
  expect(found.document.inSync).toBe(false);
  expect(found.document.differences).toEqual([
    {
      kind: 'type',
      name: 'ticket_state',
      change: 'changed',
      expected: "ENUM ('open', 'closed')",
      actual: "ENUM ('open', 'closed', 'escalated')",
    },
    expect.objectContaining({ kind: 'function', name: 'set_updated_at()', change: 'changed' }),
    { kind: 'table', name: 'audit_log', change: 'extra', table: 'audit_log', actual: 'TABLE' },
    {
      kind: 'column',
      name: 'customers.status',
      change: 'changed',
      table: 'customers',
      expected: "character varying(20) DEFAULT 'active'::character varying NOT NULL",
      actual: "character varying(20) DEFAULT 'inactive'::character varying NOT NULL",
    },
    {
      kind: 'constraint',
      name: 'profiles.profiles_margin',
      change: 'extra',
      table: 'profiles',
      actual: 'CHECK ((selling_price >= cost_price))',
    },
    {
      kind: 'policy',
      name: 'tickets.tickets_staff',
      change: 'extra',
      table: 'tickets',
      actual: 'AS PERMISSIVE FOR UPDATE TO PUBLIC USING (true)',
    },
    { kind: 'column', name: 'vouchers.note', change: 'extra', table: 'vouchers', actual: 'text' },
    {
      kind: 'index',
      name: 'vouchers.idx_vouchers_batch_id',
      change: 'missing',
      table: 'vouchers',
      expected: 'CREATE INDEX idx_vouchers_batch_id ON public.vouchers USING btree (batch_id)',
    },
  ]);
  const body = found.document.differences[1];
  expect(body.expected).toContain('NOW()');
  expect(body.actual).toContain('clock_timestamp()');

  const written = cli(['drift', '--json', '--url', db.url, '--dir', dir, '--write', 'capture_hotfix']);
  expect(written.status).toBe(1);
  expect(written.document.written).toMatchObject({
    version: 4,
    name: '004_capture_hotfix',
    path: path.join(dir, '004_capture_hotfix.sql'),
  });
  const file = path.join(dir, '004_capture_hotfix.sql');
  const sql = fs.readFileSync(file, 'utf8');
  expect(sql).toMatch(/^-- Migration 004: Capture Hotfix\n/);
  expect(sql).toContain('ALTER TABLE "public"."vouchers" ADD COLUMN IF NOT EXISTS "note" text;');
  expect(sql).toContain('CREATE TABLE IF NOT EXISTS "public"."audit_log" (');
  expect(sql).toContain('CREATE INDEX IF NOT EXISTS audit_log_customer_id ON public.audit_log');
  expect(sql).toContain(`ALTER TYPE "public"."ticket_state" ADD VALUE IF NOT EXISTS 'escalated' AFTER 'closed';`);
  // The dropped index is listed for a person to decide on, never dropped.
  expect(sql).toContain('--   index vouchers.idx_vouchers_batch_id: CREATE INDEX idx_vouchers_batch_id');
  expect(sql).not.toMatch(/^DROP INDEX/m);
  // The written file is clean under the house rules.
  const lint = await stratum.lint({ dir });
  expect(lint.errors).toBe(0);

  // Applied to the drifted database (where everything exists), and checked again.
  const applied = await stratum.migrate({ databaseUrl: db.url, dir });
  expect(applied.applied.map((m) => m.name)).toEqual(['004_capture_hotfix']);
  const after = await drift({ databaseUrl: db.url, dir });
  expect(brief(after.differences)).toEqual(['missing index vouchers.idx_vouchers_batch_id']);

  // The person decides the index goes: now the files describe production.
  writeFiles(dir, { '005_drop_batch_index.sql': 'DROP INDEX IF EXISTS idx_vouchers_batch_id;\n' });
  await stratum.migrate({ databaseUrl: db.url, dir });
  const settled = cli(['drift', '--json', '--url', db.url, '--dir', dir]);
  expect(settled).toMatchObject({ status: 0, document: { inSync: true, differences: [] } });
  // Each new set of files retired the template of the one before it (the
  // last one could still have been in use by the check just before).
  const left = await query(ADMIN_URL, 'SELECT 1 FROM pg_database WHERE datname = $1', [found.document.template]);
  expect(left).toEqual([]);
  // In sync, --write has nothing to capture and writes no file.
  const nothing = cli(['drift', '--json', '--url', db.url, '--dir', dir, '--write', 'nothing']);
  expect(nothing.status).toBe(0);
  expect(nothing.document.written).toBeUndefined();
  expect(fs.readdirSync(dir).filter((file) => file.startsWith('006'))).toEqual([]);

  // A database built from all the files has what production has.
  const fresh = await migrated(dir);
  expect(await drift({ databaseUrl: fresh.url, dir })).toMatchObject({ inSync: true });
  const columns = await query(
    fresh.url,
    "SELECT column_name FROM information_schema.columns WHERE table_name = 'vouchers' AND column_name = 'note'",
  );
  expect(columns).toHaveLength(1);
});

test('changed or missing applied files are refused as migrate refuses them; pending files are not expected', async () => {
  const dir = billingDir();
  const db = await migrated(dir);
  writeFiles(dir, { '004_pending.sql': 'CREATE TABLE IF NOT EXISTS later (id INT);\n' });
  expect(await drift({ databaseUrl: db.url, dir })).toMatchObject({ inSync: true });

  fs.appendFileSync(path.join(dir, '002_add_default_data.sql'), '\n-- edited\n');
  await expect(stratum.drift({ databaseUrl: db.url, dir })).rejects.toMatchObject({ code: 'E_CHANGED' });
  const refused = cli(['drift', '--json', '--url', db.url, '--dir', dir]);
  expect(refused.status).toBe(1);
  expect(refused.document.error).toMatchObject({ code: 'E_CHANGED' });

  fs.rmSync(path.join(dir, '002_add_default_data.sql'));
  await expect(stratum.drift({ databaseUrl: db.url, dir })).rejects.toMatchObject({ code: 'E_MISSING' });
});

test('a wrongly typed drift option rejects with E_CONFIG before connecting, never ignored', async () => {
  const dir = billingDir();
  const before = fs.readdirSync(dir);
  // A closed port: reaching the server would be E_CONNECT.
  const databaseUrl = 'postgres://postgres@127.0.0.1:1/x';
  for (const [options, field] of [
    [{ write: 5 }, 'write'],
    [{ scratchUrl: 5 }, 'scratchUrl'],
  ]) {
    const error = await stratum.drift({ databaseUrl, dir, ...options }).catch((e) => e);
    expect(error).toMatchObject({ code: 'E_CONFIG' });
    expect(error.message).toMatch(new RegExp(`invalid options: .*${field}`));
  }
  expect(fs.readdirSync(dir)).toEqual(before);
});

test('a non-superuser that may create databases builds the template on its own server; one that may not uses scratchUrl', async () => {
  const suffix = `${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const owner = `stratum_drift_owner_${suffix}`;
  const reader = `stratum_drift_reader_${suffix}`;
  roles.push(owner, reader);
  await query(
    ADMIN_URL,
    `CREATE ROLE "${owner}" LOGIN NOSUPERUSER CREATEDB; CREATE ROLE "${reader}" LOGIN NOSUPERUSER NOCREATEDB`,
  );
  const db = await createDatabase('stratum_drift_role');
  databases.push(db);
  await query(db.url, `ALTER DATABASE "${db.name}" OWNER TO "${owner}"; ALTER SCHEMA public OWNER TO "${owner}"`);
  const as = (role) => {
    const url = new URL(db.url);
    url.username = role;
    return url.toString();
  };
  const dir = billingDir();
  await stratum.migrate({ databaseUrl: as(owner), dir });
  const own = await drift({ databaseUrl: as(owner), dir });
  expect(own).toMatchObject({ inSync: true, builtTemplate: true });
  const [template] = await query(
    ADMIN_URL,
    'SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1',
    [own.template],
  );
  expect(template.owner).toBe(owner);

  await query(db.url, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO "${reader}"`);
  await query(as(owner), `ALTER TABLE vouchers ADD COLUMN note TEXT`);
  const other = await drift({ databaseUrl: as(reader), dir, scratchUrl: ADMIN_URL });
  expect(brief(other.differences)).toEqual(['extra column vouchers.note']);
});

test('with nowhere else to build, the embedded server is used, and another major version is refused with the reason', async () => {
  const suffix = `${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const reader = `stratum_drift_nocreate_${suffix}`;
  roles.push(reader);
  await query(ADMIN_URL, `CREATE ROLE "${reader}" LOGIN NOSUPERUSER NOCREATEDB`);
  const dir = billingDir();
  const db = await migrated(dir);
  await query(db.url, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO "${reader}"`);
  const url = new URL(db.url);
  url.username = reader;
  // The embedded server lives in the project folder; it runs as an
  // unprivileged user when the tests run as root.
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-drift-embedded-'));
  fs.chmodSync(project, 0o755);
  fs.symlinkSync(path.join(__dirname, '..', 'node_modules'), path.join(project, 'node_modules'));
  try {
    const [{ major }] = await query(db.url, "SELECT current_setting('server_version_num')::int / 10000 AS major");
    const outcome = await stratum.drift({ databaseUrl: url.toString(), dir, cwd: project }).then(
      (result) => {
        templates.add(result.template);
        return result;
      },
      (error) => error,
    );
    const embedded = fs.readFileSync(path.join(project, '.stratum', 'pgdata', 'PG_VERSION'), 'utf8').trim();
    if (Number(embedded) === major) {
      expect(outcome).toMatchObject({ inSync: true, builtTemplate: true });
    } else {
      expect(outcome).toMatchObject({ code: 'E_CONFIG' });
      expect(outcome.message).toContain(`runs PostgreSQL ${embedded} and the database PostgreSQL ${major}`);
      expect(outcome.message).toContain('--scratch-url');
    }
  } finally {
    stopEmbedded(project);
    fs.rmSync(project, { recursive: true, force: true });
  }
}, 120000);
