// The command line, checked and turned into addon options.
'use strict';

const { parseArgs } = require('node:util');

const USAGE = `Usage: stratum <command> [options]

Commands:
  migrate          apply every pending migration (--dry-run: only show the plan)
  plan             show what migrate would run, without changing anything
  status           show applied, pending, changed and missing migrations
  new <name>       write migrations/NNN_<name>.sql with the next number, print its path
  lint             check every migration file against the house rules (no database needed)
  baseline <n>     record files numbered up to n as applied without running them, on a database
                   built before any tracking
  diagram          print the schema as a Mermaid ER diagram (--out FILE to write it)
  drift            show how the database differs from what its applied migrations build
                   (exit 1 on drift); --write <name>: capture it as the next migration
  fresh            drop every table of the schema, then migrate from scratch
  reset            drop every table of the schema, the tracking table too
  db <action>      the embedded PostgreSQL of this folder (used when no database is configured):
                   start (and print its URL), stop, status, url

Options:
  --dir <path>         migrations directory (default: MIGRATIONS_DIR, package.json "stratum".dir, ./migrations)
  --url <url>          PostgreSQL URL (default: DATABASE_URL, then PGHOST, PGPORT, PGUSER, ...)
  --schema <name>      schema of the tracking table, and the one fresh, reset and diagram work on (default: public)
  --table <name>       name of the tracking table (default: migrations)
  --lock-timeout <ms>  how long to wait for another run's lock (default: 60000)
  --table-lock-timeout <ms>
                       how long a statement may wait for a table lock held by the app (default: 5000)
  --table-lock-retries <n>
                       how often a migration that gave up on a table lock is rolled back and sent again (default: 3)
  --lock-mode <mode>   session (default), or transaction behind PgBouncer's transaction pooling
  --wait <duration>    keep retrying a server that is not up yet, e.g. 30s, 500ms, 2m (default: 0)
  --force              let fresh and reset run with NODE_ENV=production
  --baseline <n>       files numbered up to n predate the lint rules: their findings are warnings at most
  --create-database    migrate: create the database first when it does not exist (never with NODE_ENV=production)
  --dry-run            migrate: print the plan instead of applying it
  --out <file>         diagram: write the diagram to a file instead of stdout
  --write <name>       drift: write migrations/NNN_<name>.sql with the DDL that captures the drift
  --scratch-url <url>  drift: server to replay the migrations on (default: the target's, if the
                       role may CREATEDB, else the embedded PostgreSQL)
  --json               print one JSON document on stdout
  --format <format>    text (default); json, the same as --json; github: lint findings as GitHub Actions annotations
  --since <git-ref>    lint: a migration file that exists at that commit and was modified, deleted or renumbered since is an error
  -q, --quiet          migrate, fresh, reset, new, diagram --out: print nothing but errors

Many databases (migrate, status, plan):
  --targets <file>     one connection URL per line (# comments; - reads stdin)
  --targets-query <sql>
                       run on the configured connection; each row a database name on that server, or a URL
  --schemas-query <sql>
                       run on the configured connection; each row a schema holding a tenant, with its
                       own tracking table (the migrations run with search_path set to it)
  --concurrency <n>    at most n connections open at once (default: 4)
  --per-server <n>     at most n of them on any one server (default: no cap but --concurrency)
  --canary <n>         the first n targets run alone; if one fails, no other is touched (default: 1)
  --continue-on-error  run every target whatever fails (default: a failure starts no new target)
  -h, --help           show this help
  -V, --version        print the version of stratum

Colour on a terminal, or with FORCE_COLOR=1; never with NO_COLOR (unless FORCE_COLOR is set).
`;

const OPTIONS = {
  dir: { type: 'string' },
  url: { type: 'string' },
  schema: { type: 'string' },
  table: { type: 'string' },
  'lock-timeout': { type: 'string' },
  'table-lock-timeout': { type: 'string' },
  'table-lock-retries': { type: 'string' },
  'lock-mode': { type: 'string' },
  wait: { type: 'string' },
  force: { type: 'boolean' },
  baseline: { type: 'string' },
  'create-database': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  out: { type: 'string' },
  write: { type: 'string' },
  'scratch-url': { type: 'string' },
  json: { type: 'boolean' },
  format: { type: 'string' },
  since: { type: 'string' },
  targets: { type: 'string' },
  'targets-query': { type: 'string' },
  'schemas-query': { type: 'string' },
  concurrency: { type: 'string' },
  'per-server': { type: 'string' },
  canary: { type: 'string' },
  'continue-on-error': { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
};

const COMMANDS = new Set(['migrate', 'plan', 'status', 'new', 'lint', 'diagram', 'fresh', 'reset', 'db', 'baseline', 'drift']);
const DB_ACTIONS = new Set(['start', 'stop', 'status', 'url']);

/** Flags that mean something to one command only; elsewhere they are a mistake worth reporting. */
const ONLY_FOR = {
  'dry-run': 'migrate',
  out: 'diagram',
  'create-database': 'migrate',
  since: 'lint',
  write: 'drift',
  'scratch-url': 'drift',
};
const FORMATS = new Set(['text', 'json', 'github']);
/** The flags of a run over many targets, and the commands that take them. */
const FLEET_FLAGS = ['targets', 'targets-query', 'schemas-query', 'concurrency', 'per-server', 'canary', 'continue-on-error'];
const FLEET_COMMANDS = new Set(['migrate', 'status', 'plan']);

class UsageError extends Error {}

/**
 * `{ help: true }`, `{ version: true }`, or `{ command, name?, options, json,
 * quiet, out? }` where `options` holds only the addon options that were given.
 */
function parseArguments(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error.message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (values.version) return { version: true };
  if (positionals.length === 0) throw new UsageError('no command given');
  const [requested, ...rest] = positionals;
  if (!COMMANDS.has(requested)) throw new UsageError(`unknown command: ${requested}`);
  const expected = requested === 'new' || requested === 'db' || requested === 'baseline' ? 1 : 0;
  if (rest.length > expected) throw new UsageError(`unexpected argument: ${rest[expected]}`);
  if (rest.length < expected) {
    const needs = {
      db: 'db needs an action: start, stop, status or url',
      new: 'new needs a name, e.g. stratum new add_user_preferences',
      baseline: 'baseline needs a version, e.g. stratum baseline 12',
    };
    throw new UsageError(needs[requested]);
  }
  if (requested === 'baseline' && !/^\d+$/.test(rest[0])) {
    throw new UsageError(`baseline takes a migration number, not ${rest[0]}`);
  }
  if (requested === 'db' && !DB_ACTIONS.has(rest[0])) {
    throw new UsageError(`unknown db action: ${rest[0]} (start, stop, status or url)`);
  }
  for (const [flag, command] of Object.entries(ONLY_FOR)) {
    if (values[flag] !== undefined && requested !== command) {
      throw new UsageError(`--${flag} only goes with ${command}`);
    }
  }
  const format = values.format === undefined ? 'text' : values.format;
  if (!FORMATS.has(format)) throw new UsageError(`--format takes text, json or github, not ${format}`);
  if (format === 'github' && requested !== 'lint') throw new UsageError('--format github only goes with lint');
  if (format === 'github' && values.json) throw new UsageError('--format github and --json do not go together');
  const command = requested === 'migrate' && values['dry-run'] ? 'plan' : requested;
  const fleet = fleetOptions(values, requested);
  const options = {
    databaseUrl: values.url,
    dir: values.dir,
    schema: values.schema,
    table: values.table,
    lockTimeoutMs: milliseconds(values, 'lock-timeout'),
    tableLockTimeoutMs: milliseconds(values, 'table-lock-timeout'),
    tableLockRetries: count(values, 'table-lock-retries'),
    lockMode: lockMode(values['lock-mode']),
    waitMs: duration(values, 'wait'),
    force: values.force,
    baseline: count(values, 'baseline'),
    createDatabase: values['create-database'],
    since: values.since,
  };
  if (requested === 'drift') {
    options.scratchUrl = values['scratch-url'];
    options.write = values.write;
  }
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
  return {
    command,
    name: rest[0],
    options,
    out: values.out,
    json: Boolean(values.json) || format === 'json',
    github: format === 'github',
    quiet: Boolean(values.quiet),
    fleet,
  };
}

/** The fleet's options, or undefined for a run on one database. */
function fleetOptions(values, command) {
  const given = FLEET_FLAGS.filter((flag) => values[flag] !== undefined);
  if (given.length === 0) return undefined;
  if (!FLEET_COMMANDS.has(command)) throw new UsageError(`--${given[0]} goes with migrate, status and plan only`);
  const sources = ['targets', 'targets-query', 'schemas-query'].filter((flag) => values[flag] !== undefined);
  if (sources.length === 0) throw new UsageError(`--${given[0]} needs --targets, --targets-query or --schemas-query`);
  if (sources.length > 1) throw new UsageError(`--${sources[0]} and --${sources[1]} do not go together`);
  const fleet = {
    targetsFile: values.targets,
    targetsQuery: values['targets-query'],
    schemasQuery: values['schemas-query'],
    concurrency: atLeastOne(values, 'concurrency'),
    perServer: atLeastOne(values, 'per-server'),
    canary: count(values, 'canary'),
    continueOnError: values['continue-on-error'],
  };
  for (const key of Object.keys(fleet)) if (fleet[key] === undefined) delete fleet[key];
  return fleet;
}

function atLeastOne(values, flag) {
  const value = count(values, flag);
  if (value === 0) throw new UsageError(`--${flag} takes a whole number of at least 1, not 0`);
  return value;
}

function milliseconds(values, flag) {
  if (values[flag] === undefined) return undefined;
  const value = Number(values[flag]);
  if (!Number.isInteger(value) || value < 0) {
    throw new UsageError(`--${flag} takes a whole number of milliseconds, not ${values[flag]}`);
  }
  return value;
}

function count(values, flag) {
  if (values[flag] === undefined) return undefined;
  const value = Number(values[flag]);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`--${flag} takes a whole number, not ${values[flag]}`);
  return value;
}

function lockMode(value) {
  if (value === undefined || value === 'session' || value === 'transaction') return value;
  throw new UsageError(`--lock-mode takes session or transaction, not ${value}`);
}

/** Milliseconds of `30s`, `500ms`, `2m` or a bare number of milliseconds. */
function duration(values, flag) {
  if (values[flag] === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(values[flag].trim());
  if (!match) throw new UsageError(`--${flag} takes a duration such as 30s, 500ms or 2m, not ${values[flag]}`);
  const scale = { ms: 1, s: 1000, m: 60000 }[match[2] || 'ms'];
  return Math.round(Number(match[1]) * scale);
}

module.exports = { USAGE, UsageError, parseArguments };
