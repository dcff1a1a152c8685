#!/usr/bin/env node
// The stratum command: parses arguments, calls the addon, renders the result.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const USAGE = `Usage: stratum <command> [options]

Commands:
  migrate   apply every pending migration
  status    show applied, pending, changed and missing migrations
  fresh     drop every table of the schema, then migrate from scratch
  reset     drop every table of the schema, the tracking table too
  lint      check every migration file against the house rules (no database needed)

Options:
  --dir <path>         migrations directory (default: MIGRATIONS_DIR, package.json "stratum".dir, ./migrations)
  --url <url>          PostgreSQL URL (default: DATABASE_URL, then PGHOST, PGPORT, PGUSER, ...)
  --schema <name>      schema of the tracking table (default: public)
  --table <name>       name of the tracking table (default: migrations)
  --lock-timeout <ms>  how long to wait for another run's lock (default: 60000)
  --table-lock-timeout <ms>
                       how long a statement may wait for a table lock held by the app (default: 5000)
  --wait <duration>    keep retrying a server that is not up yet, e.g. 30s, 500ms, 2m (default: 0)
  --force              let fresh and reset run with NODE_ENV=production
  --json               print one JSON document on stdout
  -h, --help           show this help
`;

const OPTIONS = {
  dir: { type: 'string' },
  url: { type: 'string' },
  schema: { type: 'string' },
  table: { type: 'string' },
  'lock-timeout': { type: 'string' },
  wait: { type: 'string' },
  'table-lock-timeout': { type: 'string' },
  force: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const COMMANDS = new Set(['migrate', 'status', 'fresh', 'reset', 'lint']);

class UsageError extends Error {}

function parse(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error.message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length ? `unexpected argument: ${positionals[1]}` : 'no command given');
  }
  const command = positionals[0];
  if (!COMMANDS.has(command)) throw new UsageError(`unknown command: ${command}`);
  const lockTimeoutMs = milliseconds(values, 'lock-timeout');
  const tableLockTimeoutMs = milliseconds(values, 'table-lock-timeout');
  let waitMs;
  if (values.wait !== undefined) {
    waitMs = parseDuration(values.wait);
    if (waitMs === undefined) {
      throw new UsageError(`--wait takes a duration such as 30s, 500ms or 2m, not ${values.wait}`);
    }
  }
  const options = {
    databaseUrl: values.url,
    dir: values.dir,
    schema: values.schema,
    table: values.table,
    lockTimeoutMs,
    tableLockTimeoutMs,
    waitMs,
    force: values.force,
  };
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
  return { command, options, json: Boolean(values.json) };
}

function milliseconds(values, flag) {
  if (values[flag] === undefined) return undefined;
  const value = Number(values[flag]);
  if (!Number.isInteger(value) || value < 0) {
    throw new UsageError(`--${flag} takes a whole number of milliseconds, not ${values[flag]}`);
  }
  return value;
}

/** Milliseconds of `30s`, `500ms`, `2m` or a bare number of milliseconds. */
function parseDuration(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) return undefined;
  const scale = { ms: 1, s: 1000, m: 60000 }[match[2] || 'ms'];
  return Math.round(Number(match[1]) * scale);
}

function colours(stream) {
  const on = stream.isTTY && !process.env.NO_COLOR;
  const paint = (code) => (text) => (on ? `\u001b[${code}m${text}\u001b[0m` : String(text));
  return { green: paint(32), yellow: paint(33), red: paint(31), dim: paint(2), bold: paint(1) };
}

const ms = (value) => `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;

function renderMigrate(result, elapsed, out, c) {
  for (const name of result.adopted) {
    out.write(`${c.yellow('adopted')}  ${name}: recorded its checksum (applied by the earlier runner)\n`);
  }
  if (result.applied.length === 0) {
    out.write(`Nothing to migrate: ${result.alreadyApplied} already applied.\n`);
    return;
  }
  out.write(
    `${c.bold(`${result.applied.length} applied`)}, ${result.alreadyApplied} already applied, in ${ms(elapsed)}.\n`,
  );
}

function renderStatus(report, out, c) {
  const paint = { applied: c.green, pending: c.yellow, changed: c.red, missing: c.red };
  const rows = report.migrations.map((m) => [String(m.version), m.name, m.state, m.appliedAt || '']);
  const header = ['version', 'name', 'state', 'applied at'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells, paintState) =>
    cells
      .map((cell, i) => {
        const padded = i === 0 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
        return i === 2 && paintState ? paint[cell](padded) : padded;
      })
      .join('  ')
      .trimEnd();
  out.write(`${c.dim(line(header, false))}\n`);
  for (const row of rows) out.write(`${line(row, true)}\n`);
  const counts = { applied: 0, pending: 0, changed: 0, missing: 0 };
  for (const m of report.migrations) counts[m.state] += 1;
  const parts = Object.entries(counts)
    .filter(([state, n]) => n > 0 || state === 'applied' || state === 'pending')
    .map(([state, n]) => `${n} ${state}`);
  out.write(`${parts.join(', ')}\n`);
}

function errorDocument(error) {
  const document = { code: error.code || 'E_INTERNAL', message: error.message };
  for (const key of ['file', 'line', 'column', 'pgCode', 'detail', 'hint', 'diagnostics']) {
    if (error[key] !== undefined) document[key] = error[key];
  }
  return document;
}

/** A source line with a caret under `column`, the way compilers show it. */
function excerpt(line, column, source, c) {
  const gutter = ' '.repeat(String(line).length);
  return `${gutter} |\n${line} | ${source}\n${gutter} | ${' '.repeat(Math.max(0, column - 1))}${c.red('^')}\n`;
}

const fileCache = new Map();
function sourceLine(file, line) {
  if (!fileCache.has(file)) {
    let lines = [];
    try {
      lines = fs.readFileSync(file, 'utf8').replace(/^\ufeff/, '').split('\n');
    } catch {
      // The diagnostic still prints; only its excerpt is left out.
    }
    fileCache.set(file, lines);
  }
  const text = fileCache.get(file)[line - 1];
  return text === undefined ? undefined : text.replace(/\r$/, '');
}

function renderDiagnostic(d, stream, c) {
  const label = d.severity === 'error' ? c.red(`error[${d.rule}]`) : c.yellow(`warning[${d.rule}]`);
  stream.write(`${d.file}:${d.line}:${d.column}: ${label}: ${d.message}\n`);
  const source = sourceLine(d.file, d.line);
  if (source !== undefined) stream.write(excerpt(d.line, d.column, source, c));
  stream.write(`  = help: ${d.help}\n`);
}

function renderLint(report, out, c) {
  for (const d of report.diagnostics) renderDiagnostic(d, out, c);
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  out.write(`${plural(report.errors, 'error')}, ${plural(report.warnings, 'warning')}\n`);
}

function renderError(error, err, c) {
  if (error.code === 'E_LINT' && Array.isArray(error.diagnostics)) {
    for (const d of error.diagnostics) renderDiagnostic(d, err, c);
    const errors = error.diagnostics.filter((d) => d.severity === 'error').length;
    err.write(`${c.red('error[E_LINT]')}: ${errors} lint error${errors === 1 ? '' : 's'}; nothing was applied\n`);
    return;
  }
  err.write(`${c.red(`error[${error.code || 'E_INTERNAL'}]`)}: ${error.message}\n`);
  if (error.excerpt && error.line) {
    err.write(excerpt(error.line, error.column || 1, error.excerpt.split('\n')[0], c));
  }
  if (error.detail) err.write(`  = detail: ${error.detail.replace(/\n/g, '\n    ')}\n`);
  if (error.hint) err.write(`  = help: ${error.hint}\n`);
}

function loadDotEnv() {
  const file = path.resolve('.env');
  // process.loadEnvFile never overrides a variable that is already set.
  if (fs.existsSync(file)) process.loadEnvFile(file);
}

async function main(argv) {
  const out = process.stdout;
  const err = process.stderr;
  let request;
  try {
    request = parse(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err.write(`stratum: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (request.help) {
    out.write(USAGE);
    return 0;
  }
  loadDotEnv();
  const stratum = require('..');
  const { command, options, json } = request;
  const c = colours(out);
  if (!json && (command === 'migrate' || command === 'fresh')) {
    options.onProgress = (event) => {
      if (event.event === 'end') out.write(`${c.green('applied')}  ${event.name} ${c.dim(`(${ms(event.durationMs)})`)}\n`);
    };
  }
  const started = performance.now();
  try {
    const result = await stratum[command](options);
    const elapsed = performance.now() - started;
    if (json) {
      out.write(`${JSON.stringify(result)}\n`);
    } else if (command === 'lint') {
      renderLint(result, out, c);
    } else if (command === 'status') {
      renderStatus(result, out, c);
    } else if (command === 'reset') {
      out.write(`Dropped ${result.dropped} objects.\n`);
    } else {
      for (const d of result.warnings) renderDiagnostic(d, err, colours(err));
      renderMigrate(result, elapsed, out, c);
    }
    return command === 'lint' && result.errors > 0 ? 1 : 0;
  } catch (error) {
    if (json) out.write(`${JSON.stringify({ error: errorDocument(error) })}\n`);
    else renderError(error, err, colours(err));
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`stratum: internal error: ${error && error.stack ? error.stack : error}\n`);
    process.exitCode = 1;
  },
);
