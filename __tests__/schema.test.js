// The billing schema (migrations/001 and 002), checked against a real
// database after `stratum.migrate` on an empty one: tables and columns, keys
// and their indexes, CHECK constraints, the seeded defaults, re-running each
// file as plain SQL, `fresh`, and a small round trip through the app's tables.
const fs = require('node:fs');
const path = require('node:path');
const bcrypt = require('bcryptjs');
const stratum = require('..');
const { createDatabase, query, withClient } = require('./helpers/db');

const DIR = path.join(__dirname, '..', 'migrations');
const FILES = ['001_initial_schema.sql', '002_add_default_data.sql'];
const readMigration = (file) => fs.readFileSync(path.join(DIR, file), 'utf8');

const DEFAULT_ADMIN = { username: 'admin', password: 'admin123' };

// Every table of 001 with exactly its columns.
const TABLES = {
  customers: [
    'id', 'name', 'email', 'phone', 'address', 'balance', 'debt', 'is_active', 'status',
    'notes', 'created_at', 'updated_at',
  ],
  profiles: [
    'id', 'name', 'profile_type', 'cost_price', 'selling_price', 'duration_hours',
    'speed_limit', 'data_limit', 'is_active', 'mikrotik_name', 'created_at', 'updated_at',
  ],
  subscriptions: [
    'id', 'customer_id', 'profile_id', 'type', 'start_date', 'end_date', 'billing_cycle',
    'next_billing_date', 'auto_renew', 'status', 'price', 'notes', 'created_at', 'updated_at',
  ],
  vouchers: [
    'id', 'batch_id', 'code', 'password', 'profile_id', 'vendor_id', 'customer_id',
    'price_sell', 'price_cost', 'status', 'used_at', 'expires_at', 'duration_hours',
    'expired_hours', 'mikrotik_synced', 'created_at', 'updated_at',
  ],
  pppoe_users: [
    'id', 'username', 'password', 'customer_id', 'profile_id', 'status', 'expires_at',
    'mikrotik_name', 'created_at', 'updated_at',
  ],
  payments: [
    'id', 'customer_id', 'subscription_id', 'vendor_id', 'amount', 'method', 'status',
    'transaction_id', 'notes', 'payment_date', 'created_at', 'updated_at',
  ],
  settings: ['key', 'value', 'description', 'type', 'category', 'created_at', 'updated_at'],
  admin_users: [
    'id', 'username', 'password_hash', 'email', 'full_name', 'role', 'permissions',
    'is_active', 'last_login', 'must_change_password', 'created_at', 'updated_at',
  ],
  user_sessions: [
    'id', 'user_id', 'session_token', 'ip_address', 'user_agent', 'expires_at',
    'created_at', 'updated_at',
  ],
  vendors: [
    'id', 'name', 'contact_person', 'phone', 'email', 'address', 'is_active',
    'created_at', 'updated_at',
  ],
  notification_queue: [
    'id', 'channel', 'recipient', 'subject', 'content', 'priority', 'status', 'send_after',
    'sent_at', 'attempts', 'error_message', 'customer_id', 'subscription_id',
    'template_name', 'variables', 'message_type', 'created_at', 'updated_at',
  ],
  whatsapp_sessions: [
    'id', 'session_id', 'session_name', 'phone_number', 'status', 'qr_code', 'session_data',
    'last_activity', 'priority', 'is_active', 'is_default', 'webhook_url', 'metadata',
    'created_at', 'updated_at',
  ],
  whatsapp_messages: [
    'id', 'session_id', 'message_id', 'recipient', 'content', 'status', 'sent_at',
    'error_message', 'created_at', 'updated_at',
  ],
  whatsapp_templates: [
    'id', 'name', 'category', 'template_content', 'variables', 'is_active', 'is_default',
    'created_at', 'updated_at',
  ],
  user_activity_logs: [
    'id', 'user_type', 'user_id', 'action', 'target_type', 'target_id', 'details',
    'ip_address', 'user_agent', 'created_at',
  ],
  error_logs: [
    'id', 'level', 'message', 'stack_trace', 'details', 'user_id', 'ip_address',
    'user_agent', 'path', 'method', 'created_at',
  ],
};
const TABLE_NAMES = Object.keys(TABLES).sort();

const MONEY = [
  'customers.balance', 'customers.debt', 'profiles.cost_price', 'profiles.selling_price',
  'subscriptions.price', 'vouchers.price_sell', 'vouchers.price_cost', 'payments.amount',
];

// Each foreign key, its target and its deliberate ON DELETE.
const FOREIGN_KEYS = {
  'subscriptions.customer_id': 'customers(id) CASCADE',
  'subscriptions.profile_id': 'profiles(id) RESTRICT',
  'vouchers.profile_id': 'profiles(id) RESTRICT',
  'vouchers.vendor_id': 'vendors(id) SET NULL',
  'vouchers.customer_id': 'customers(id) SET NULL',
  'pppoe_users.customer_id': 'customers(id) SET NULL',
  'pppoe_users.profile_id': 'profiles(id) RESTRICT',
  'payments.customer_id': 'customers(id) SET NULL',
  'payments.subscription_id': 'subscriptions(id) SET NULL',
  'payments.vendor_id': 'vendors(id) SET NULL',
  'user_sessions.user_id': 'admin_users(id) CASCADE',
  'whatsapp_messages.session_id': 'whatsapp_sessions(session_id) SET NULL',
  'notification_queue.customer_id': 'customers(id) CASCADE',
  'notification_queue.subscription_id': 'subscriptions(id) CASCADE',
};

const SETTINGS = [
  'company_name', 'company_address', 'company_phone', 'company_email',
  'mikrotik_host', 'mikrotik_port', 'mikrotik_username', 'mikrotik_password',
  'wifi_name', 'hotspot_url', 'currency', 'currency_symbol', 'timezone', 'date_format',
  'theme_color', 'voucher_comment_marker', 'pppoe_comment_marker',
];

const TEMPLATES = [
  'expiry_warning', 'payment_confirmation', 'service_expired', 'service_renewed',
  'welcome_hotspot', 'welcome_pppoe',
];

/** The SQL of a file with comments, string literals and dollar-quoted bodies blanked. */
function codeOnly(sql) {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i);
    let end;
    if (rest.startsWith('--')) {
      end = sql.indexOf('\n', i);
      end = end === -1 ? sql.length : end;
    } else if (rest.startsWith('/*')) {
      end = sql.indexOf('*/', i + 2) + 2;
    } else if (sql[i] === "'") {
      end = i + 1;
      while (end < sql.length && !(sql[end] === "'" && sql[end + 1] !== "'")) {
        end += sql[end] === "'" ? 2 : 1;
      }
      end += 1;
    } else {
      const tag = /^\$[A-Za-z_]*\$/.exec(rest);
      if (tag) {
        end = sql.indexOf(tag[0], i + tag[0].length) + tag[0].length;
      }
    }
    if (end !== undefined) {
      out += ' ';
      i = end;
    } else {
      out += sql[i];
      i += 1;
    }
  }
  return out;
}

/** Everything a re-run could change: catalog objects with their oids, rows with their xmin, sequences. */
async function snapshot(client) {
  const run = async (sql, params) => (await client.query(sql, params)).rows;
  const relations = await run(
    `SELECT c.relname, c.relkind, c.oid::text FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1`,
  );
  const columns = await run(
    `SELECT table_name, column_name, data_type, numeric_precision, numeric_scale,
            is_nullable, column_default
     FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY($1)
     ORDER BY 1, 2`,
    [TABLE_NAMES],
  );
  const constraints = await run(
    `SELECT conrelid::regclass::text, conname, oid::text, pg_get_constraintdef(oid)
     FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`,
  );
  const indexes = await run(
    `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`,
  );
  const triggers = await run(
    `SELECT tgrelid::regclass::text, tgname, oid::text, pg_get_triggerdef(oid)
     FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2`,
  );
  const functions = await run(
    `SELECT p.oid::text, pg_get_functiondef(p.oid) FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1`,
  );
  const sequences = await run(
    `SELECT sequencename, last_value::text FROM pg_sequences
     WHERE schemaname = 'public' ORDER BY 1`,
  );
  const rows = {};
  for (const table of TABLE_NAMES) {
    const [row] = await run(
      `SELECT count(*)::int AS n,
              md5(coalesce(string_agg(t::text || '@' || t.xmin::text, '|' ORDER BY t::text), '')) AS digest
       FROM ${table} t`,
    );
    rows[table] = row;
  }
  return { relations, columns, constraints, indexes, triggers, functions, sequences, rows };
}

/** Sends a whole migration file as one query, as a user running it by hand would. */
const rerun = (client, file) => client.query(readMigration(file));

describe('billing schema (migrations 001 and 002)', () => {
  let db;
  let migrated;

  beforeAll(async () => {
    db = await createDatabase('stratum_schema');
    migrated = await stratum.migrate({ databaseUrl: db.url, dir: DIR });
  });

  afterAll(async () => {
    if (db) await db.drop();
  });

  describe('the files', () => {
    test.each(FILES)('%s has the header, no transaction control and only idempotent DDL', (file) => {
      const text = readMigration(file);
      const [version, title] = /^(\d+)_(\w+)\.sql$/.exec(file).slice(1);
      const heading = title.replace(/_/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());
      const lines = text.split('\n');
      expect(lines[0]).toBe(`-- Migration ${version}: ${heading}`);
      expect(lines[1]).toMatch(/^-- Description: \S/);

      const code = codeOnly(text);
      expect(code).not.toMatch(/\b(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION)\b/i);
      expect(code).not.toMatch(/\b(VACUUM|CONCURRENTLY)\b/i);
      expect(code).not.toMatch(/\bALTER\s+TABLE\b/i);
      expect(code).not.toMatch(/\bCREATE\s+TYPE\b/i);
      // The tracking table is the engine's.
      expect(code).not.toMatch(/\bmigrations\b/i);
      for (const create of code.match(/\bCREATE\s+(UNIQUE\s+)?(TABLE|INDEX)\b[^;(]*/gi) ?? []) {
        expect(create).toMatch(/IF NOT EXISTS/i);
      }
      for (const create of code.match(/\bCREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|TRIGGER)\b/gi) ?? []) {
        expect(create).toMatch(/OR\s+REPLACE/i);
      }
      const inserts = code.match(/\bINSERT\s+INTO\b/gi) ?? [];
      const conflicts = code.match(/\bON\s+CONFLICT\b/gi) ?? [];
      expect(conflicts).toHaveLength(inserts.length);
    });
  });

  describe('migrate on an empty database', () => {
    test('applies 001 then 002, and nothing on a second run', async () => {
      expect(migrated.applied.map((m) => m.version)).toEqual([1, 2]);
      expect(migrated.applied.map((m) => m.name)).toEqual(
        FILES.map((file) => file.replace(/\.sql$/, '')),
      );
      const again = await stratum.migrate({ databaseUrl: db.url, dir: DIR });
      expect(again.applied).toEqual([]);
    });

    test('creates all sixteen tables with exactly their columns', async () => {
      const rows = await query(
        db.url,
        `SELECT table_name, array_agg(column_name::text ORDER BY column_name) AS columns
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> 'migrations'
         GROUP BY table_name ORDER BY table_name`,
      );
      expect(rows.map((r) => r.table_name)).toEqual(TABLE_NAMES);
      for (const { table_name: table, columns } of rows) {
        expect({ table, columns }).toEqual({ table, columns: [...TABLES[table]].sort() });
      }
    });

    test('uses TIMESTAMPTZ for points in time, NUMERIC(15,2) for money, INET for sessions', async () => {
      const rows = await query(
        db.url,
        `SELECT table_name || '.' || column_name AS col, data_type, numeric_precision, numeric_scale
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY($1)`,
        [TABLE_NAMES],
      );
      const byName = Object.fromEntries(rows.map((r) => [r.col, r]));
      const times = rows.filter((r) => /(_at|_date|last_login|last_activity|send_after)$/.test(r.col));
      expect(times.length).toBeGreaterThan(40);
      for (const r of times) {
        expect({ col: r.col, type: r.data_type }).toEqual({
          col: r.col,
          type: 'timestamp with time zone',
        });
      }
      expect(rows.filter((r) => r.data_type.startsWith('timestamp without'))).toEqual([]);
      for (const col of MONEY) {
        expect([col, byName[col].data_type, byName[col].numeric_precision, byName[col].numeric_scale])
          .toEqual([col, 'numeric', 15, 2]);
      }
      expect(byName['user_sessions.ip_address'].data_type).toBe('inet');
      for (const col of [
        'admin_users.permissions', 'notification_queue.variables', 'whatsapp_sessions.session_data',
        'whatsapp_sessions.metadata', 'whatsapp_templates.variables', 'user_activity_logs.details',
        'error_logs.details',
      ]) {
        expect([col, byName[col].data_type]).toEqual([col, 'jsonb']);
      }
    });

    test('every table has a primary key: id, or key for settings', async () => {
      const rows = await query(
        db.url,
        `SELECT c.conrelid::regclass::text AS table_name, a.attname AS column_name
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
         WHERE c.contype = 'p' AND c.conrelid::regclass::text = ANY($1)`,
        [TABLE_NAMES],
      );
      expect(Object.fromEntries(rows.map((r) => [r.table_name, r.column_name]))).toEqual(
        Object.fromEntries(TABLE_NAMES.map((t) => [t, t === 'settings' ? 'key' : 'id'])),
      );
    });

    test('every foreign key has its deliberate ON DELETE', async () => {
      const rows = await query(
        db.url,
        `SELECT c.conrelid::regclass::text || '.' || a.attname AS col,
                c.confrelid::regclass::text || '(' || fa.attname || ') ' ||
                CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL'
                                   WHEN 'r' THEN 'RESTRICT' WHEN 'd' THEN 'SET DEFAULT'
                                   ELSE 'NO ACTION' END AS target
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
         WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
           AND c.conrelid::regclass::text = ANY($1)`,
        [TABLE_NAMES],
      );
      expect(Object.fromEntries(rows.map((r) => [r.col, r.target]))).toEqual(FOREIGN_KEYS);
    });

    test('every foreign key column has an index that leads with it', async () => {
      const unindexed = await query(
        db.url,
        `SELECT c.conrelid::regclass::text AS table_name, c.conname
         FROM pg_constraint c
         WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
           AND NOT EXISTS (
             SELECT 1 FROM pg_index i
             WHERE i.indrelid = c.conrelid AND i.indpred IS NULL
               AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] = c.conkey)`,
      );
      expect(unindexed).toEqual([]);
    });

    test('has no duplicate indexes, and the hot filters are indexed', async () => {
      const duplicates = await query(
        db.url,
        `SELECT indrelid::regclass::text AS table_name, array_agg(indexrelid::regclass::text) AS names
         FROM pg_index WHERE indrelid::regclass::text = ANY($1)
         GROUP BY indrelid, indkey::text, indclass::text,
                  coalesce(pg_get_expr(indexprs, indrelid), ''), coalesce(pg_get_expr(indpred, indrelid), '')
         HAVING count(*) > 1`,
        [TABLE_NAMES],
      );
      expect(duplicates).toEqual([]);

      const indexes = await query(
        db.url,
        `SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'`,
      );
      const leading = (table, column) =>
        indexes.some(
          (i) => i.tablename === table && new RegExp(`USING btree \\(${column}[,)]`).test(i.indexdef),
        );
      for (const [table, column] of [
        ['customers', 'phone'], ['customers', 'status'], ['subscriptions', 'status'],
        ['vouchers', 'status'], ['vouchers', 'expires_at'], ['vouchers', 'batch_id'],
        ['vouchers', 'code'], ['pppoe_users', 'status'], ['pppoe_users', 'expires_at'],
        ['pppoe_users', 'username'], ['payments', 'status'], ['user_sessions', 'expires_at'],
        ['user_sessions', 'session_token'], ['whatsapp_sessions', 'session_id'],
      ]) {
        expect([table, column, leading(table, column)]).toEqual([table, column, true]);
      }
      const pending = indexes.filter(
        (i) => i.tablename === 'notification_queue' && /\(send_after\)/.test(i.indexdef),
      );
      expect(pending).toHaveLength(1);
      expect(pending[0].indexdef).toMatch(/WHERE \(\(status\)::text = 'pending'::text\)/);
    });

    test('the updated_at trigger is on exactly the tables with updated_at', async () => {
      const withColumn = await query(
        db.url,
        `SELECT table_name FROM information_schema.columns
         WHERE table_schema = 'public' AND column_name = 'updated_at' ORDER BY 1`,
      );
      const withTrigger = await query(
        db.url,
        `SELECT tgrelid::regclass::text AS table_name FROM pg_trigger t
         JOIN pg_proc p ON p.oid = t.tgfoid
         WHERE NOT t.tgisinternal AND p.proname = 'set_updated_at' ORDER BY 1`,
      );
      expect(withTrigger.map((r) => r.table_name)).toEqual(withColumn.map((r) => r.table_name));
      expect(withColumn).toHaveLength(14);
    });
  });

  describe('CHECK, NOT NULL and UNIQUE constraints', () => {
    let customerId;
    let profileId;

    beforeAll(async () => {
      [{ id: customerId }] = await query(
        db.url,
        `INSERT INTO customers (name, email) VALUES ('Check Customer', 'check@example.com') RETURNING id`,
      );
      [{ id: profileId }] = await query(
        db.url,
        `INSERT INTO profiles (name, profile_type, cost_price, selling_price, duration_hours)
         VALUES ('check-profile', 'hotspot', 1000, 2000, 24) RETURNING id`,
      );
    });

    const sub = (values) =>
      `INSERT INTO subscriptions (customer_id, profile_id, type, start_date, end_date, price, status, billing_cycle)
       VALUES ($1, $2, ${values})`;
    const voucher = (code, status) =>
      `INSERT INTO vouchers (code, password, price_sell, price_cost, duration_hours, status)
       VALUES ('${code}', 'pw', 5000, 3000, 1, '${status}')`;

    const rejected = [
      ['a negative balance', `INSERT INTO customers (name, balance) VALUES ('x', -1)`, '23514'],
      ['a negative debt', `INSERT INTO customers (name, debt) VALUES ('x', -0.01)`, '23514'],
      ['an unknown customer status', `INSERT INTO customers (name, status) VALUES ('x', 'deleted')`, '23514'],
      ['a customer without a name', `INSERT INTO customers (phone) VALUES ('0812')`, '23502'],
      ['an email used by another customer, in other case', `INSERT INTO customers (name, email) VALUES ('x', 'CHECK@example.com')`, '23505'],
      ['an unknown profile type', `INSERT INTO profiles (name, profile_type, cost_price, selling_price, duration_hours) VALUES ('p1', 'vpn', 0, 0, 1)`, '23514'],
      ['a zero duration', `INSERT INTO profiles (name, profile_type, cost_price, selling_price, duration_hours) VALUES ('p2', 'pppoe', 0, 0, 0)`, '23514'],
      ['a duplicate profile name', `INSERT INTO profiles (name, profile_type, cost_price, selling_price, duration_hours) VALUES ('check-profile', 'pppoe', 0, 0, 1)`, '23505'],
      ['an end date before the start', sub(`'hotspot', '2025-02-01', '2025-01-31', 10000, 'active', 'monthly'`), '23514'],
      ['an unknown subscription status', sub(`'hotspot', '2025-01-01', '2025-02-01', 10000, 'paused', 'monthly'`), '23514'],
      ['an unknown subscription type', sub(`'dialup', '2025-01-01', '2025-02-01', 10000, 'active', 'monthly'`), '23514'],
      ['an unknown billing cycle', sub(`'pppoe', '2025-01-01', '2025-02-01', 10000, 'active', 'yearly'`), '23514'],
      ['a negative price', sub(`'pppoe', '2025-01-01', '2025-02-01', -1, 'active', 'monthly'`), '23514'],
      ['a subscription without a customer', `INSERT INTO subscriptions (type, end_date, price) VALUES ('pppoe', now(), 1)`, '23502'],
      ['a subscription of a missing customer', `INSERT INTO subscriptions (customer_id, type, end_date, price) VALUES (-1, 'pppoe', now(), 1)`, '23503'],
      ['a lower-case voucher code', voucher('abc123', 'unused'), '23514'],
      ['a voucher code with a dash', voucher('ABC-123', 'unused'), '23514'],
      ['an unknown voucher status', voucher('ABC123', 'sold'), '23514'],
      ['a zero payment', `INSERT INTO payments (customer_id, amount) VALUES ($1, 0)`, '23514'],
      ['an unknown payment status', `INSERT INTO payments (customer_id, amount, status) VALUES ($1, 10, 'refunded')`, '23514'],
      ['an unknown pppoe status', `INSERT INTO pppoe_users (username, password, status) VALUES ('u1', 'p', 'gone')`, '23514'],
      ['an unknown settings type', `INSERT INTO settings (key, value, type) VALUES ('k', 'v', 'array')`, '23514'],
      ['an unknown admin role', `INSERT INTO admin_users (username, password_hash, role) VALUES ('root', 'x', 'root')`, '23514'],
      ['a duplicate admin username', `INSERT INTO admin_users (username, password_hash) VALUES ('admin', 'x')`, '23505'],
      ['a session with a bad address', `INSERT INTO user_sessions (user_id, session_token, ip_address, expires_at) SELECT id, 't', 'not-an-ip', now() FROM admin_users LIMIT 1`, '22P02'],
      ['a priority above 10', `INSERT INTO notification_queue (recipient, content, priority) VALUES ('0812', 'hi', 11)`, '23514'],
      ['an unknown notification status', `INSERT INTO notification_queue (recipient, content, status) VALUES ('0812', 'hi', 'queued')`, '23514'],
      ['a notification with neither content nor template', `INSERT INTO notification_queue (recipient) VALUES ('0812')`, '23514'],
      ['an unknown WhatsApp session status', `INSERT INTO whatsapp_sessions (session_id, status) VALUES ('s1', 'online')`, '23514'],
      ['an unknown WhatsApp message status', `INSERT INTO whatsapp_messages (recipient, status) VALUES ('0812', 'seen')`, '23514'],
      ['a message of a missing session', `INSERT INTO whatsapp_messages (session_id, recipient) VALUES ('nope', '0812')`, '23503'],
      ['template variables that are not an array', `INSERT INTO whatsapp_templates (name, template_content, variables) VALUES ('t', 'x', '{}')`, '23514'],
      ['a duplicate template name in its category', `INSERT INTO whatsapp_templates (name, category, template_content) VALUES ('welcome_pppoe', 'welcome', 'x')`, '23505'],
    ];

    test.each(rejected)('rejects %s', async (_label, sql, code) => {
      const params = sql.includes('$2') ? [customerId, profileId] : sql.includes('$1') ? [customerId] : [];
      await expect(query(db.url, sql, params)).rejects.toMatchObject({ code });
    });

    test('accepts an end date equal to the start, and many customers without an email', async () => {
      await expect(
        query(db.url, sub(`'pppoe', '2025-01-01', '2025-01-01', 0, 'expired', 'one_time'`), [customerId, profileId]),
      ).resolves.toEqual([]);
      await expect(
        query(
          db.url,
          `INSERT INTO customers (name, email) VALUES ('no mail 1', NULL), ('no mail 2', NULL),
                                                      ('empty mail 1', ''), ('empty mail 2', '')`,
        ),
      ).resolves.toEqual([]);
    });
  });

  describe('rows the app writes', () => {
    test('the minimal rows insert with nothing else given, and take the documented defaults', async () => {
      await withClient(db.url, async (client) => {
        const one = async (sql, params) => (await client.query(sql, params)).rows[0];
        const customer = await one(`INSERT INTO customers (name) VALUES ('Minimal') RETURNING *`);
        expect(customer).toMatchObject({
          balance: '0.00', debt: '0.00', is_active: true, status: 'active', email: null,
        });
        expect(customer.created_at).toBeInstanceOf(Date);
        expect(customer.updated_at).toBeInstanceOf(Date);

        const profile = await one(
          `INSERT INTO profiles (name, profile_type, cost_price, selling_price, duration_hours)
           VALUES ('minimal', 'pppoe', 100000, 150000, 720) RETURNING *`,
        );
        expect(profile).toMatchObject({ is_active: true, selling_price: '150000.00' });

        const subscription = await one(
          `INSERT INTO subscriptions (customer_id, profile_id, type, start_date, end_date, price)
           VALUES ($1, $2, 'pppoe', now(), now() + interval '30 days', 150000) RETURNING *`,
          [customer.id, profile.id],
        );
        expect(subscription).toMatchObject({
          status: 'active', billing_cycle: 'monthly', auto_renew: false, next_billing_date: null,
        });

        const voucher = await one(
          `INSERT INTO vouchers (code, password, price_sell, price_cost, duration_hours)
           VALUES ('MIN1', 'min1', 5000, 3500, 24) RETURNING *`,
        );
        expect(voucher).toMatchObject({
          status: 'unused', mikrotik_synced: false, profile_id: null, vendor_id: null,
          customer_id: null, used_at: null,
        });

        const payment = await one(
          `INSERT INTO payments (customer_id, amount) VALUES ($1, 150000) RETURNING *`,
          [customer.id],
        );
        expect(payment).toMatchObject({ status: 'pending', amount: '150000.00' });
        expect(payment.payment_date).toBeInstanceOf(Date);
      });
    });

    test('a round trip: customer, profile, subscription, payment, voucher, notification', async () => {
      await withClient(db.url, async (client) => {
        const one = async (sql, params) => (await client.query(sql, params)).rows[0];
        const customer = await one(
          `INSERT INTO customers (name, email, phone, address)
           VALUES ('Budi Santoso', 'budi@example.com', '081234567890', 'Jl. Merdeka 1') RETURNING id`,
        );
        const profile = await one(
          `INSERT INTO profiles (name, profile_type, cost_price, selling_price, duration_hours,
                                 speed_limit, mikrotik_name)
           VALUES ('Home 10M', 'pppoe', 120000, 175000, 720, '10M/10M', 'home-10m') RETURNING id`,
        );
        const subscription = await one(
          `INSERT INTO subscriptions (customer_id, profile_id, type, start_date, end_date,
                                      billing_cycle, next_billing_date, auto_renew, price)
           VALUES ($1, $2, 'pppoe', now(), now() + interval '30 days', 'monthly',
                   now() + interval '30 days', true, 175000) RETURNING id`,
          [customer.id, profile.id],
        );
        const [{ id: vendorId }] = (await client.query(`SELECT id FROM vendors ORDER BY id LIMIT 1`)).rows;
        await client.query(
          `INSERT INTO payments (customer_id, subscription_id, amount, method, status, transaction_id)
           VALUES ($1, $2, 175000, 'transfer', 'paid', 'TRX-0001')`,
          [customer.id, subscription.id],
        );
        await client.query(
          `INSERT INTO pppoe_users (username, password, customer_id, profile_id, expires_at, mikrotik_name)
           VALUES ('budi', 'secret', $1, $2, now() + interval '30 days', 'budi')`,
          [customer.id, profile.id],
        );

        const readBack = await one(
          `SELECT c.name, p.name AS profile, s.status, s.price, pay.amount, pay.status AS paid,
                  pay.transaction_id, u.username
           FROM payments pay
           JOIN subscriptions s ON s.id = pay.subscription_id
           JOIN customers c ON c.id = s.customer_id
           JOIN profiles p ON p.id = s.profile_id
           JOIN pppoe_users u ON u.customer_id = c.id
           WHERE c.id = $1`,
          [customer.id],
        );
        expect(readBack).toEqual({
          name: 'Budi Santoso', profile: 'Home 10M', status: 'active', price: '175000.00',
          amount: '175000.00', paid: 'paid', transaction_id: 'TRX-0001', username: 'budi',
        });

        // A voucher sold by the default vendor, then used: updated_at moves.
        const voucher = await one(
          `INSERT INTO vouchers (batch_id, code, password, profile_id, vendor_id, price_sell,
                                 price_cost, duration_hours, expired_hours, updated_at)
           VALUES ('B-001', 'X7K2M9', 'X7K2M9', $1, $2, 5000, 3500, 24, 72,
                   now() - interval '1 day') RETURNING id, updated_at`,
          [profile.id, vendorId],
        );
        const used = await one(
          `UPDATE vouchers SET status = 'used', used_at = now(), customer_id = $2,
                               expires_at = now() + interval '24 hours'
           WHERE id = $1 RETURNING status, customer_id, updated_at`,
          [voucher.id, customer.id],
        );
        expect(used.status).toBe('used');
        expect(used.customer_id).toBe(customer.id);
        expect(used.updated_at.getTime()).toBeGreaterThan(voucher.updated_at.getTime());

        // A notification the queue code writes, found by the sender's poll.
        await client.query(
          `INSERT INTO notification_queue (channel, recipient, customer_id, subscription_id,
                                           template_name, variables, message_type, priority)
           VALUES ('whatsapp', '081234567890', $1, $2, 'payment_confirmation', $3, 'payment', 8)`,
          [customer.id, subscription.id, JSON.stringify({ customer_name: 'Budi Santoso', amount: '175.000' })],
        );
        const due = await one(
          `SELECT recipient, template_name, variables, status, attempts, priority
           FROM notification_queue
           WHERE status = 'pending' AND send_after <= now() AND customer_id = $1`,
          [customer.id],
        );
        expect(due).toEqual({
          recipient: '081234567890', template_name: 'payment_confirmation',
          variables: { customer_name: 'Budi Santoso', amount: '175.000' },
          status: 'pending', attempts: 0, priority: 8,
        });

        // ON DELETE as designed: a product in use stays; a deleted customer
        // takes subscriptions and pending notifications, leaves the money.
        await expect(client.query(`DELETE FROM profiles WHERE id = $1`, [profile.id]))
          .rejects.toMatchObject({ code: '23503' });
        await client.query(`DELETE FROM customers WHERE id = $1`, [customer.id]);
        const after = await one(
          `SELECT (SELECT count(*)::int FROM subscriptions WHERE id = $1) AS subscriptions,
                  (SELECT count(*)::int FROM notification_queue WHERE customer_id = $2) AS notifications,
                  (SELECT row(customer_id, subscription_id)::text FROM payments WHERE transaction_id = 'TRX-0001') AS payment,
                  (SELECT row(customer_id)::text FROM vouchers WHERE id = $3) AS voucher,
                  (SELECT row(customer_id)::text FROM pppoe_users WHERE username = 'budi') AS pppoe`,
          [subscription.id, customer.id, voucher.id],
        );
        expect(after).toEqual({
          subscriptions: 0, notifications: 0, payment: '(,)', voucher: '()', pppoe: '()',
        });
      });
    });

    test('the app can add vendors and templates after the seeded ones', async () => {
      const [vendor] = await query(
        db.url,
        `INSERT INTO vendors (name, phone) VALUES ('Warung Pak Joko', '0813') RETURNING id`,
      );
      expect(vendor.id).toBeGreaterThan(1);
      const [template] = await query(
        db.url,
        `INSERT INTO whatsapp_templates (name, template_content, variables)
         VALUES ('promo', 'Promo {name}', '["name"]') RETURNING id, category`,
      );
      expect(template.id).toBeGreaterThan(TEMPLATES.length);
      expect(template.category).toBe('general');
    });
  });

  describe('default data (002)', () => {
    test('seeds the first admin with a real bcrypt hash of the documented password', async () => {
      const [admin] = await query(db.url, `SELECT * FROM admin_users WHERE username = $1`, [
        DEFAULT_ADMIN.username,
      ]);
      expect(admin).toMatchObject({
        role: 'super_admin', is_active: true, must_change_password: true, permissions: {},
      });
      expect(admin.password_hash.startsWith('$2b$10$')).toBe(true);
      expect(admin.password_hash).toHaveLength(60);
      await expect(bcrypt.compare(DEFAULT_ADMIN.password, admin.password_hash)).resolves.toBe(true);
      await expect(bcrypt.compare('admin1234', admin.password_hash)).resolves.toBe(false);
      const [{ n }] = await query(db.url, `SELECT count(*)::int AS n FROM admin_users`);
      expect(n).toBe(1);
    });

    test('seeds every setting with a type and a category', async () => {
      const rows = await query(db.url, `SELECT key, value, type, category FROM settings ORDER BY key`);
      expect(rows.map((r) => r.key)).toEqual([...SETTINGS].sort());
      for (const row of rows) {
        expect(row.category).toMatch(/^[a-z]+$/);
      }
      const byKey = Object.fromEntries(rows.map((r) => [r.key, r]));
      expect(byKey.mikrotik_host.value).toBe('192.168.88.1');
      expect(byKey.mikrotik_port).toMatchObject({ value: '8728', type: 'number' });
      expect(byKey.mikrotik_password.value).toBe('');
      expect(byKey.currency.value).toBe('IDR');
      expect(byKey.currency_symbol.value).toBe('Rp');
      expect(byKey.timezone.value).toBe('Asia/Jakarta');
      expect(byKey.voucher_comment_marker.value).toBe('VOUCHER_SYSTEM');
      expect(byKey.pppoe_comment_marker.value).toBe('PPPOE_SYSTEM');
    });

    test('seeds a default vendor', async () => {
      const rows = await query(db.url, `SELECT id, name, is_active FROM vendors ORDER BY id LIMIT 1`);
      expect(rows).toEqual([{ id: 1, name: 'Default Vendor', is_active: true }]);
    });

    test('seeds the WhatsApp templates, each listing exactly its {variables}', async () => {
      const rows = await query(
        db.url,
        `SELECT name, template_content, variables, is_active, is_default
         FROM whatsapp_templates WHERE is_default ORDER BY name`,
      );
      expect(rows.map((r) => r.name)).toEqual(TEMPLATES);
      for (const row of rows) {
        const placeholders = [...new Set(row.template_content.match(/\{(\w+)\}/g))]
          .map((p) => p.slice(1, -1))
          .sort();
        expect({ name: row.name, variables: [...row.variables].sort() })
          .toEqual({ name: row.name, variables: placeholders });
        expect(row.is_active).toBe(true);
      }
    });
  });

  describe('running a file again as plain SQL', () => {
    test('001 a second time changes nothing and fails nothing', async () => {
      await withClient(db.url, async (client) => {
        const before = await snapshot(client);
        await rerun(client, '001_initial_schema.sql');
        expect(await snapshot(client)).toEqual(before);
      });
    });

    test('002 a second time keeps what users changed: the admin password above all', async () => {
      const newHash = bcrypt.hashSync('a-better-password', 10);
      await withClient(db.url, async (client) => {
        await client.query(
          `UPDATE admin_users SET password_hash = $1, must_change_password = false WHERE username = 'admin'`,
          [newHash],
        );
        await client.query(`UPDATE settings SET value = 'PT Net Jaya' WHERE key = 'company_name'`);
        await client.query(
          `UPDATE whatsapp_templates SET template_content = 'Halo {customer_name}' WHERE name = 'service_renewed'`,
        );
        await client.query(`UPDATE vendors SET name = 'Kantor Pusat' WHERE id = 1`);

        const before = await snapshot(client);
        await rerun(client, '002_add_default_data.sql');
        expect(await snapshot(client)).toEqual(before);

        const [admin] = (
          await client.query(`SELECT password_hash, must_change_password FROM admin_users WHERE username = 'admin'`)
        ).rows;
        expect(admin).toEqual({ password_hash: newHash, must_change_password: false });
        const { rows: [company] } = await client.query(`SELECT value FROM settings WHERE key = 'company_name'`);
        expect(company.value).toBe('PT Net Jaya');
      });
    });

    test('002 a second time never brings back a removed default admin', async () => {
      await withClient(db.url, async (client) => {
        await client.query(
          `INSERT INTO admin_users (username, password_hash, role) VALUES ('owner', $1, 'super_admin')`,
          [bcrypt.hashSync('owner-password', 10)],
        );
        await client.query(`DELETE FROM admin_users WHERE username = 'admin'`);
        await rerun(client, '002_add_default_data.sql');
        const { rows } = await client.query(`SELECT username FROM admin_users ORDER BY username`);
        expect(rows.map((r) => r.username)).toEqual(['owner']);
      });
    });
  });

  describe('fresh', () => {
    test('runs twice in a row and leaves exactly the defaults', async () => {
      for (let round = 1; round <= 2; round += 1) {
        const result = await stratum.fresh({ databaseUrl: db.url, dir: DIR });
        expect(result.applied.map((m) => m.version)).toEqual([1, 2]);
      }
      const counts = await query(
        db.url,
        `SELECT (SELECT count(*)::int FROM customers) AS customers,
                (SELECT count(*)::int FROM admin_users) AS admins,
                (SELECT count(*)::int FROM vendors) AS vendors,
                (SELECT count(*)::int FROM settings) AS settings,
                (SELECT count(*)::int FROM whatsapp_templates) AS templates`,
      );
      expect(counts).toEqual([
        { customers: 0, admins: 1, vendors: 1, settings: SETTINGS.length, templates: TEMPLATES.length },
      ]);
      const [admin] = await query(db.url, `SELECT password_hash FROM admin_users WHERE username = 'admin'`);
      expect(bcrypt.compareSync(DEFAULT_ADMIN.password, admin.password_hash)).toBe(true);
      const again = await stratum.migrate({ databaseUrl: db.url, dir: DIR });
      expect(again.applied).toEqual([]);
    });
  });
});
