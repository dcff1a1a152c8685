// Results and errors as people read them.
'use strict';

const fs = require('node:fs');
const { duration, plural } = require('./style');

function migrateSummary(result, elapsedMs, c) {
  const lines = result.adopted.map(
    (name) => `${c.yellow('adopted')}  ${name}: recorded its checksum (applied by the earlier runner)\n`,
  );
  if (result.applied.length === 0) {
    lines.push(`Nothing to migrate: ${result.alreadyApplied} already applied.\n`);
  } else {
    lines.push(
      `${c.bold(`${result.applied.length} applied`)}, ${result.alreadyApplied} already applied, in ${duration(elapsedMs)}.\n`,
    );
  }
  return lines.join('');
}

function baseline(result, c) {
  const lines = result.recorded.map((m) => `${c.green('recorded')}  ${m.name}\n`);
  lines.push(`${c.bold(`${result.recorded.length} recorded as applied`)}, none of them run.\n`);
  return lines.join('');
}

/** Fixed-width columns; `align` is 'left' or 'right' per column, `paint` colours a cell after padding. */
function table(header, rows, { align, paint = () => (text) => text, c }) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells, painted) =>
    cells
      .map((cell, i) => {
        const padded = align[i] === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
        return painted ? paint(i, cell)(padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [c.dim(line(header, false)), ...rows.map((row) => line(row, true))].map((l) => `${l}\n`).join('');
}

function status(report, c) {
  const colour = { applied: c.green, pending: c.yellow, changed: c.red, missing: c.red };
  const rows = report.migrations.map((m) => [String(m.version), m.name, m.state, m.appliedAt || '']);
  const text = table(['version', 'name', 'state', 'applied at'], rows, {
    align: ['right', 'left', 'left', 'left'],
    paint: (i, cell) => (i === 2 ? colour[cell] : (t) => t),
    c,
  });
  const counts = { applied: 0, pending: 0, changed: 0, missing: 0 };
  for (const m of report.migrations) counts[m.state] += 1;
  const parts = Object.entries(counts)
    .filter(([state, n]) => n > 0 || state === 'applied' || state === 'pending')
    .map(([state, n]) => `${n} ${state}`);
  return `${text}${parts.join(', ')}\n`;
}

const TRANSACTION = {
  wrapped: 'one transaction',
  'already-wrapped': "the file's own BEGIN … COMMIT",
  none: 'no transaction (stratum:no-transaction)',
};

function plan(result, c) {
  if (result.pending.length === 0) return `Nothing to migrate: ${result.alreadyApplied} already applied.\n`;
  const rows = result.pending.map((m) => [String(m.version), m.file, String(m.statements), TRANSACTION[m.transaction]]);
  const parts = [
    table(['version', 'file', 'statements', 'runs in'], rows, { align: ['right', 'left', 'right', 'left'], c }),
    `${plural(result.pending.length, 'migration')} to apply, ${result.alreadyApplied} already applied; nothing was changed.\n`,
  ];
  if (result.diagnostics.length > 0) parts.push(lint(result, c));
  if (result.errors > 0) parts.push(`${c.red('migrate would refuse to run')}: fix the lint errors first.\n`);
  return parts.join('');
}

function lint(report, c) {
  const found = report.diagnostics.map((d) => diagnostic(d, c)).join('');
  return `${found}${baselineNote(report.diagnostics, c)}${plural(report.errors, 'error')}, ${plural(report.warnings, 'warning')}\n`;
}

/**
 * Lint findings as GitHub Actions workflow commands, which a pull request
 * shows on the lines they name; then the counts, as a plain line.
 */
function github(report, failure) {
  const data = (text) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const property = (text) => data(String(text)).replace(/:/g, '%3A').replace(/,/g, '%2C');
  const lines = report.diagnostics.map((d) => {
    const where = `file=${property(d.file)},line=${d.line},col=${d.column},title=${property(`stratum ${d.rule}`)}`;
    return `::${d.severity === 'error' ? 'error' : 'warning'} ${where}::${data(`${d.message}\nhelp: ${d.help}`)}\n`;
  });
  if (failure) {
    return `::error title=${property(`stratum ${failure.code || 'E_INTERNAL'}`)}::${data(failure.message)}\n`;
  }
  return `${lines.join('')}${plural(report.errors, 'error')}, ${plural(report.warnings, 'warning')}\n`;
}

/** Said once: findings of files at or below the baseline are only warnings. */
function baselineNote(diagnostics, c) {
  const count = diagnostics.filter((d) => d.baselined).length;
  if (count === 0) return '';
  return `${c.dim('note')}: ${plural(count, 'finding')} in files at or below the baseline, written before the rules: reported as warnings; files above it are held to every rule\n`;
}

/** A source line with a caret under `column`, the way compilers show it. */
function excerpt(line, column, source, c) {
  const gutter = ' '.repeat(String(line).length);
  return `${gutter} |\n${line} | ${source}\n${gutter} | ${' '.repeat(Math.max(0, column - 1))}${c.red('^')}\n`;
}

const fileLines = new Map();
function sourceLine(file, line) {
  if (!fileLines.has(file)) {
    let lines = [];
    try {
      lines = fs.readFileSync(file, 'utf8').replace(/^\ufeff/, '').split('\n');
    } catch {
      // The diagnostic still prints; only its excerpt is left out.
    }
    fileLines.set(file, lines);
  }
  const text = fileLines.get(file)[line - 1];
  return text === undefined ? undefined : text.replace(/\r$/, '');
}

function diagnostic(d, c) {
  const label = d.severity === 'error' ? c.red(`error[${d.rule}]`) : c.yellow(`warning[${d.rule}]`);
  const source = sourceLine(d.file, d.line);
  return [
    `${d.file}:${d.line}:${d.column}: ${label}: ${d.message}\n`,
    source === undefined ? '' : excerpt(d.line, d.column, source, c),
    `  = help: ${d.help}\n`,
  ].join('');
}

function error(failure, c) {
  if (failure.code === 'E_LINT' && Array.isArray(failure.diagnostics)) {
    const errors = failure.diagnostics.filter((d) => d.severity === 'error').length;
    return `${failure.diagnostics.map((d) => diagnostic(d, c)).join('')}${c.red('error[E_LINT]')}: ${plural(errors, 'lint error')}; nothing was applied\n`;
  }
  const parts = [`${c.red(`error[${failure.code || 'E_INTERNAL'}]`)}: ${failure.message}\n`];
  if (failure.excerpt && failure.line) {
    parts.push(excerpt(failure.line, failure.column || 1, failure.excerpt.split('\n')[0], c));
  }
  if (failure.detail) parts.push(`  = detail: ${failure.detail.replace(/\n/g, '\n    ')}\n`);
  if (failure.hint) parts.push(`  = help: ${failure.hint}\n`);
  return parts.join('');
}

const CHANGE = { extra: 'only in the database', missing: 'missing from the database', changed: 'changed' };

/** The differences of `drift`, grouped by table; schema-wide objects under their own heading. */
function drift(result, c) {
  const groups = new Map();
  for (const d of result.differences) {
    const group = d.table ? `table ${d.table}` : 'schema';
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(d);
  }
  const colour = { extra: c.yellow, missing: c.red, changed: c.yellow };
  const lines = [];
  for (const [group, differences] of groups) {
    lines.push(`${c.bold(group)}\n`);
    for (const d of differences) {
      lines.push(`  ${colour[d.change](CHANGE[d.change].padEnd(25))} ${d.kind} ${d.name}\n`);
      if (d.change === 'changed') {
        lines.push(`      ${c.dim('migrations:')} ${oneLine(d.expected)}\n      ${c.dim('database:  ')} ${oneLine(d.actual)}\n`);
      } else if (d.kind !== 'table' || d.change === 'missing') {
        lines.push(`      ${c.dim(oneLine(d.actual || d.expected))}\n`);
      }
    }
  }
  if (result.inSync) lines.push('In sync: the database is what its applied migrations build.\n');
  else lines.push(`${c.bold(plural(result.differences.length, 'difference'))} from what the applied migrations build.\n`);
  if (result.written) lines.push(`Wrote ${result.written.path}: review it, then migrate.\n`);
  else if (result.differences.some((d) => d.change !== 'missing')) {
    lines.push('Capture them as the next migration with: stratum drift --write <name>\n');
  }
  if (result.differences.some((d) => d.change === 'missing')) {
    lines.push('What is missing from the database is never dropped for you: restore it there, or drop it in a migration.\n');
  }
  return lines.join('');
}

/** A definition on one line, shortened for a terminal. */
function oneLine(text) {
  const flat = String(text || '').replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}

/** The `{ "error": … }` document of `--json`. */
function errorDocument(failure) {
  const document = { code: failure.code || 'E_INTERNAL', message: failure.message };
  for (const key of ['file', 'line', 'column', 'pgCode', 'detail', 'hint', 'diagnostics', 'applied']) {
    if (failure[key] !== undefined) document[key] = failure[key];
  }
  return document;
}

module.exports = { baseline, github, migrateSummary, status, plan, lint, drift, diagnostic, baselineNote, error, errorDocument };
