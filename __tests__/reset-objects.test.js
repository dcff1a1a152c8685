// `fresh` and `reset` over every kind of object a migration can create: one
// file makes one of each, `reset` must leave the schema holding nothing but
// extension members, `fresh` must work twice in a row, and a drop that fails
// must name its object and drop nothing.
const crypto = require('node:crypto');
const stratum = require('..');
const { ADMIN_URL, createDatabase, query, withClient } = require('./helpers/db');
const { migrationsDir } = require('./helpers/fixtures');

// One of each kind, with names that need quoting and routines whose
// identities are awkward (an aggregate over `*`, an ordered-set aggregate,
// OUT arguments, VARIADIC).
const EVERY_KIND = `
CREATE EXTENSION IF NOT EXISTS citext;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE SERVER IF NOT EXISTS reset_remote FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'nowhere');
CREATE FOREIGN TABLE IF NOT EXISTS remote_items (id INT) SERVER reset_remote;

CREATE TABLE IF NOT EXISTS accounts (id SERIAL PRIMARY KEY, name citext NOT NULL, balance NUMERIC NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS events (id BIGINT GENERATED ALWAYS AS IDENTITY, at DATE NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE IF NOT EXISTS events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE IF NOT EXISTS "we;ird" ("x""y" INT);
CREATE SEQUENCE IF NOT EXISTS invoice_no;
CREATE TABLE IF NOT EXISTS invoices (no BIGINT NOT NULL DEFAULT nextval('invoice_no'), account INT REFERENCES accounts (id));
CREATE OR REPLACE VIEW account_names AS SELECT name FROM accounts;
CREATE MATERIALIZED VIEW IF NOT EXISTS account_count AS SELECT count(*) AS n FROM accounts;

-- stratum:allow create-if-not-exists
CREATE TYPE mood AS ENUM ('ok', 'sad');
-- stratum:allow create-if-not-exists
CREATE TYPE pair AS (a INT, b TEXT);
-- stratum:allow create-if-not-exists
CREATE TYPE floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
-- stratum:allow create-if-not-exists
CREATE DOMAIN positive AS INT CHECK (VALUE > 0);

CREATE OR REPLACE FUNCTION add_one(i INT) RETURNS INT LANGUAGE sql IMMUTABLE AS $$ SELECT i + 1 $$;
CREATE OR REPLACE FUNCTION "we;ird"("a;b" mood, VARIADIC rest INT[]) RETURNS INT LANGUAGE sql AS $$ SELECT 1 $$;
CREATE OR REPLACE PROCEDURE touch(INOUT n INT, OUT m INT) LANGUAGE plpgsql AS $$ BEGIN n := n + 1; m := n; END $$;
CREATE OR REPLACE AGGREGATE tally(*) (sfunc = int8inc, stype = int8, initcond = '0');
CREATE OR REPLACE FUNCTION add_both(s INT, a INT, b INT) RETURNS INT LANGUAGE sql IMMUTABLE AS $$ SELECT s + a + b $$;
CREATE OR REPLACE AGGREGATE total(INT, INT) (sfunc = add_both, stype = INT, initcond = '0');
CREATE OR REPLACE AGGREGATE median_of(float8 ORDER BY float8) (sfunc = ordered_set_transition, stype = internal, finalfunc = percentile_cont_float8_final);

CREATE OR REPLACE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE OR REPLACE TRIGGER accounts_stamp BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION stamp();
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY accounts_all ON accounts USING (true);
CREATE OR REPLACE RULE invoices_kept AS ON DELETE TO invoices DO INSTEAD NOTHING;

CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TEXT SEARCH TEMPLATE plain_template (INIT = dsimple_init, LEXIZE = dsimple_lexize);
CREATE TEXT SEARCH DICTIONARY plain_dict (TEMPLATE = plain_template);
CREATE TEXT SEARCH PARSER plain_parser (START = prsd_start, GETTOKEN = prsd_nexttoken, END = prsd_end, LEXTYPES = prsd_lextype);
CREATE TEXT SEARCH CONFIGURATION plain_config (PARSER = plain_parser);
ALTER TEXT SEARCH CONFIGURATION plain_config ADD MAPPING FOR word WITH plain_dict;

CREATE OPERATOR === (LEFTARG = INT, RIGHTARG = INT, FUNCTION = int4eq, COMMUTATOR = ===, HASHES);
CREATE OPERATOR !! (RIGHTARG = INT, FUNCTION = int4abs);
CREATE OPERATOR FAMILY int_family USING hash;
CREATE OPERATOR CLASS int_hash_ops FOR TYPE INT USING hash FAMILY int_family AS OPERATOR 1 ===, FUNCTION 1 hashint4(INT);
CREATE OPERATOR CLASS int_btree_ops FOR TYPE INT USING btree AS
  OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 btint4cmp(INT, INT);

CREATE STATISTICS IF NOT EXISTS accounts_stats (dependencies) ON id, balance FROM accounts;
CREATE CONVERSION utf8_to_latin1_here FOR 'UTF8' TO 'LATIN1' FROM utf8_to_iso8859_1;
`;

// Every object of the schema as pg_describe_object names it, except the
// members of an extension and the parts internal to one (citext's array
// type). Triggers, policies and rules are listed through their relation.
const OBJECTS_OF = (schema) => `
  WITH ns AS (SELECT oid FROM pg_namespace WHERE nspname = '${schema}'),
  objects (classid, objid) AS (
    SELECT 'pg_class'::regclass, oid FROM pg_class WHERE relnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_proc'::regclass, oid FROM pg_proc WHERE pronamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_type'::regclass, oid FROM pg_type WHERE typnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_collation'::regclass, oid FROM pg_collation WHERE collnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_conversion'::regclass, oid FROM pg_conversion WHERE connamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_operator'::regclass, oid FROM pg_operator WHERE oprnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_opclass'::regclass, oid FROM pg_opclass WHERE opcnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_opfamily'::regclass, oid FROM pg_opfamily WHERE opfnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_statistic_ext'::regclass, oid FROM pg_statistic_ext WHERE stxnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_ts_config'::regclass, oid FROM pg_ts_config WHERE cfgnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_ts_dict'::regclass, oid FROM pg_ts_dict WHERE dictnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_ts_parser'::regclass, oid FROM pg_ts_parser WHERE prsnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_ts_template'::regclass, oid FROM pg_ts_template WHERE tmplnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_trigger'::regclass, t.oid FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
               WHERE c.relnamespace IN (SELECT oid FROM ns) AND NOT t.tgisinternal
    UNION ALL SELECT 'pg_policy'::regclass, p.oid FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
               WHERE c.relnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT 'pg_rewrite'::regclass, r.oid FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
               WHERE c.relnamespace IN (SELECT oid FROM ns) AND r.rulename <> '_RETURN'
  ),
  member AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e')
  SELECT pg_describe_object(o.classid, o.objid, 0) AS object,
         EXISTS (SELECT 1 FROM member m WHERE m.classid = o.classid AND m.objid = o.objid)
      OR EXISTS (SELECT 1 FROM pg_depend i JOIN member m ON m.classid = i.refclassid AND m.objid = i.refobjid
                  WHERE i.classid = o.classid AND i.objid = o.objid AND i.objsubid = 0 AND i.deptype = 'i') AS of_extension
    FROM objects o
   ORDER BY 1`;

async function objectsOf(url, schema = 'public') {
  const rows = await query(url, OBJECTS_OF(schema));
  return {
    own: rows.filter((r) => !r.of_extension).map((r) => r.object),
    extensions: rows.filter((r) => r.of_extension).map((r) => r.object),
  };
}

let db;
let role;
beforeEach(async () => {
  db = await createDatabase();
  role = undefined;
});
afterEach(async () => {
  await db.drop();
  if (role) await query(ADMIN_URL, `DROP ROLE IF EXISTS "${role}"`);
});

test('reset drops one of every kind and keeps only the extensions; fresh runs twice in a row', async () => {
  const dir = migrationsDir({ '001_every_kind.sql': EVERY_KIND });
  await stratum.migrate({ databaseUrl: db.url, dir });

  const before = await objectsOf(db.url);
  // The file really made each kind, so the reset below has each to drop.
  for (const made of [
    'table events_2024', 'foreign table remote_items', 'view account_names',
    'materialized view account_count', 'sequence invoice_no', 'type mood', 'type pair',
    'type floatrange', 'type floatmultirange', 'type positive', 'function "we;ird"(mood,integer[])',
    'function touch(integer)', 'function tally()', 'function median_of(double precision,double precision)',
    'trigger accounts_stamp on table accounts', 'policy accounts_all on table accounts',
    'rule invoices_kept on table invoices', 'collation nocase', 'text search configuration plain_config',
    'text search dictionary plain_dict', 'text search parser plain_parser',
    'text search template plain_template', 'operator ===(integer,integer)', 'operator !!(NONE,integer)',
    'operator class int_hash_ops for access method hash', 'operator family int_family for access method hash',
    'statistics object accounts_stats', 'conversion utf8_to_latin1_here', 'table "we;ird"',
  ]) {
    expect(before.own).toContain(made);
  }
  expect(before.extensions).toContain('type citext');
  expect(before.extensions).toContain('function postgres_fdw_handler()');

  const reset = await stratum.reset({ databaseUrl: db.url });
  const after = await objectsOf(db.url);
  expect(after.own).toEqual([]);
  expect(after.extensions).toEqual(before.extensions);
  // One statement per object that is dropped on its own: not the partition,
  // the owned sequences, the range's constructors or the multirange.
  expect(reset.dropped).toBeGreaterThanOrEqual(30);
  expect(reset.dropped).toBeLessThan(before.own.length);

  for (let round = 0; round < 2; round += 1) {
    const fresh = await stratum.fresh({ databaseUrl: db.url, dir });
    expect(fresh.applied.map((m) => m.name)).toEqual(['001_every_kind']);
    expect(await objectsOf(db.url)).toEqual(before);
  }
});

test('a drop that fails names its object, and nothing is dropped', async () => {
  // A deploy role that owns the schema's objects but one.
  role = `stratum_reset_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await query(ADMIN_URL, `CREATE ROLE "${role}" LOGIN`);
  await query(db.url, `GRANT CREATE ON DATABASE "${db.name}" TO "${role}"; GRANT CREATE ON SCHEMA public TO "${role}"`);
  const url = new URL(db.url);
  url.username = role;
  const asRole = url.toString();

  const dir = migrationsDir({
    '001_accounts.sql': [
      'CREATE TABLE IF NOT EXISTS accounts (id SERIAL PRIMARY KEY, name TEXT);',
      'CREATE OR REPLACE VIEW account_names AS SELECT name FROM accounts;',
      'CREATE OR REPLACE FUNCTION add_one(i INT) RETURNS INT LANGUAGE sql AS $$ SELECT i + 1 $$;',
      '',
    ].join('\n'),
  });
  await stratum.migrate({ databaseUrl: asRole, dir });
  await query(db.url, "CREATE TYPE public.mood AS ENUM ('ok', 'sad')");
  const before = await objectsOf(db.url);

  const attempts = [
    () => stratum.reset({ databaseUrl: asRole }),
    () => stratum.fresh({ databaseUrl: asRole, dir }),
    // Through an app's own connection: the JavaScript transport counts the
    // statements that completed as the native one does.
    () => withClient(asRole, (client) => stratum.reset({ client })),
  ];
  for (const attempt of attempts) {
    const error = await attempt().catch((e) => e);
    expect(error).toMatchObject({ code: 'E_SQL', pgCode: '42501' });
    expect(error.message).toContain(
      'cannot drop type public.mood (while dropping the objects of schema public): must be owner of type mood',
    );
    expect(error.message).not.toContain('tracking table');
    // The tables, view and function went before the type in the same
    // transaction: all are back.
    expect(await objectsOf(db.url)).toEqual(before);
    expect(await query(db.url, 'SELECT name FROM migrations')).toEqual([{ name: '001_accounts' }]);
  }
});
