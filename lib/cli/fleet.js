// `migrate`, `status` and `plan` over many targets: the targets file read,
// a live line while they run, then the failures and a summary by outcome.
'use strict';

const fs = require('node:fs');
const { duration, plural } = require('./style');

const TICK_MS = 100;

/** The URLs of a targets file (`-`: stdin): one per line; `#` comments and blank lines left out. */
function readTargets(file) {
  const text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** A redrawn "done / total, failed so far" line on a terminal; nothing elsewhere. */
function liveLine(out, c, total) {
  if (!out || !out.isTTY) return { onTarget() {}, finish() {} };
  const started = performance.now();
  let done = 0;
  let failed = 0;
  let width = 0;
  const draw = () => {
    const counter = total === undefined ? `${done} done` : `${done}/${total}`;
    const failures = failed > 0 ? `, ${c.red(`${failed} failed`)}` : '';
    const text = `targets ${counter}${failures}  ${duration(performance.now() - started)}`;
    out.write(`\r${text.padEnd(width)}`);
    width = text.length;
  };
  const timer = setInterval(draw, TICK_MS);
  return {
    onTarget(target) {
      if (target.outcome === 'skipped') return;
      done += 1;
      if (!target.ok) failed += 1;
    },
    finish() {
      clearInterval(timer);
      if (width > 0) out.write(`\r${' '.repeat(width)}\r`);
    },
  };
}

/** Runs the fleet command; resolves to the exit code. */
async function runFleet(stratum, request, io) {
  const { command, options, fleet, json, quiet } = request;
  const given = { ...options, ...fleet };
  if (fleet.targetsFile !== undefined) {
    delete given.targetsFile;
    given.targets = readTargets(fleet.targetsFile);
  }
  const live = liveLine(json || quiet ? undefined : io.err, io.errC, given.targets && given.targets.length);
  let result;
  try {
    result = await stratum[command]({ ...given, onTarget: (target) => live.onTarget(target) });
  } finally {
    // The last targets' events may arrive after the result.
    await new Promise((resolve) => setImmediate(resolve));
    live.finish();
  }
  if (json) io.out.write(`${JSON.stringify(result)}\n`);
  else if (quiet) io.err.write(failures(result, io.errC));
  else io.out.write(render(result, command, io.c));
  const lintErrors = command === 'plan' && result.diagnostics && result.diagnostics.some((d) => d.severity === 'error');
  return result.failed > 0 || lintErrors ? 1 : 0;
}

/** One line per failed target: target, code, file:line, message. */
function failures(result, c) {
  return result.targets
    .filter((t) => t.outcome === 'failed')
    .map((t) => {
      const e = t.error || {};
      const at = e.file ? ` ${e.file}${e.line ? `:${e.line}` : ''}` : '';
      const message = String(e.message || '').split('\n')[0];
      return `${c.red('failed')}  ${t.target}  ${e.code || 'E_INTERNAL'}${at}  ${message}\n`;
    })
    .join('');
}

function summary(result, c) {
  const parts = [c.green(`${result.ok} ok`)];
  if (result.failed > 0) parts.push(c.red(`${result.failed} failed`));
  if (result.skipped > 0) parts.push(c.yellow(`${result.skipped} skipped`));
  const lines = [`${plural(result.targets.length, 'target')}: ${parts.join(', ')}\n`];
  if (result.skipped > 0) {
    lines.push(
      `${c.dim('note')}: skipped targets were not touched: a failure stops new targets (the canary's, every one); ` +
        'fix it and run again, which touches only targets with something pending, or add --continue-on-error\n',
    );
  }
  return lines.join('');
}

/** `012_add_x` for a group's newest migration, or "nothing applied". */
const at = (group) => (group.newest ? `at ${group.newest.name}` : 'with nothing applied');

function migrateReport(result, c) {
  const migrated = result.targets.filter((t) => t.ok && t.applied.length > 0);
  const upToDate = result.targets.filter((t) => t.ok && t.applied.length === 0);
  const applied = migrated.reduce((sum, t) => sum + t.applied.length, 0);
  const lines = [];
  if (migrated.length > 0) {
    lines.push(`${c.bold(`${plural(applied, 'migration')} applied`)} on ${plural(migrated.length, 'target')}\n`);
  }
  if (upToDate.length > 0) lines.push(`${plural(upToDate.length, 'target')} had nothing to migrate\n`);
  return `${failures(result, c)}${lines.join('')}${summary(result, c)}`;
}

function statusReport(result, c) {
  const lines = result.groups.map((g) => {
    const state = g.pending === 0 ? c.green('up to date') : c.yellow(`${g.pending} pending`);
    return `${plural(g.targets.length, 'target')} ${at(g)}: ${state}\n`;
  });
  for (const t of result.targets) {
    for (const name of t.changed || []) lines.push(`${c.red('changed')}  ${t.target}: ${name}\n`);
    for (const name of t.missing || []) lines.push(`${c.red('missing')}  ${t.target}: ${name}\n`);
  }
  return `${lines.join('')}${failures(result, c)}${summary(result, c)}`;
}

function planReport(result, c) {
  const byName = new Map(result.targets.map((t) => [t.target, t]));
  const lines = result.groups.map((g) => {
    const first = byName.get(g.targets[0]);
    const files = (first && first.pending) || [];
    const what = files.length === 0 ? 'nothing to run' : `would run ${files.map((f) => f.name).join(', ')}`;
    return `${plural(g.targets.length, 'target')} ${at(g)}: ${what}\n`;
  });
  const render = require('./render');
  const found = (result.diagnostics || []).map((d) => render.diagnostic(d, c)).join('');
  return `${lines.join('')}${found}${failures(result, c)}${summary(result, c)}nothing was changed.\n`;
}

function render(result, command, c) {
  if (command === 'status') return statusReport(result, c);
  if (command === 'plan') return planReport(result, c);
  return migrateReport(result, c);
}

module.exports = { readTargets, runFleet, render };
