// The stratum command: parses arguments, calls the addon, renders the result.
// Results go to stdout, errors to stderr; --json puts exactly one document on
// stdout, the result or { error }.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { USAGE, UsageError, parseArguments } = require('./args');
const { palette, duration } = require('./style');
const render = require('./render');
const { createProgress } = require('./progress');
const { runFleet } = require('./fleet');

function loadDotEnv() {
  const file = path.resolve('.env');
  // process.loadEnvFile never overrides a variable that is already set.
  if (fs.existsSync(file)) process.loadEnvFile(file);
}

/** How many migrations the run will apply, for the live line's "done / total". */
async function expectedTotal(stratum, command, options) {
  try {
    const report = await stratum.status(options);
    return command === 'fresh' ? report.migrations.filter((m) => m.state !== 'missing').length : report.pending;
  } catch {
    // The run itself reports whatever is wrong; the live line goes without a total.
    return undefined;
  }
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Says on stderr that a migration gave up on a table lock and will be sent again. */
function sayRetry(event, io) {
  io.err.write(
    `${io.errC.yellow('retry')}: ${event.name} gave up waiting for a table lock held by another session ` +
      `and was rolled back; sending it again in ${duration(event.waitMs)} (retry ${event.attempt})\n`,
  );
}

async function applyMigrations(stratum, request, io) {
  const { command, options, json, quiet } = request;
  const onRetry = (event) => sayRetry(event, io);
  if (quiet) return stratum[command](options);
  // Only the retries: no event per migration crosses into JS here.
  if (json) return stratum[command]({ ...options, onRetry });
  const live = Boolean(io.out.isTTY);
  const total = live ? await expectedTotal(stratum, command, options) : undefined;
  const progress = createProgress({ out: io.out, c: io.c, live, total });
  const onProgress = (event) => (event.event === 'retry' ? onRetry(event) : progress.onProgress(event));
  try {
    const result = await stratum[command]({ ...options, onProgress });
    await nextTurn();
    progress.finish(result.applied);
    return result;
  } catch (failure) {
    await nextTurn();
    progress.finish();
    throw failure;
  }
}

/** Says on stderr that the engine fell back to the embedded PostgreSQL, when it did. */
function noteEmbedded(result, io) {
  if (result && result.embedded) {
    io.err.write(`${io.errC.dim('note')}: no database configured: using the embedded PostgreSQL in ${result.embedded}\n`);
  }
}

/** Runs one command; resolves to the exit code. */
async function execute(request, io) {
  const { command, options, json, quiet } = request;
  const { out, c } = io;
  const stratum = require('../..');
  const started = performance.now();

  if (request.fleet) return runFleet(stratum, request, io);

  if (command === 'db') {
    const action = request.name;
    const result =
      action === 'start' ? await stratum.dbStart() : action === 'stop' ? { stopped: await stratum.dbStop() } : await stratum.dbStatus();
    if (json) out.write(`${JSON.stringify(result)}\n`);
    else if (action === 'url' || action === 'start') out.write(`${result.url}\n`);
    else if (action === 'stop') out.write(result.stopped ? 'stopped\n' : 'not running\n');
    else out.write(`${result.running ? 'running' : 'not running'}: ${result.dataDir}\n${result.url}\n`);
    return 0;
  }
  if (command === 'new') {
    const created = await stratum.newMigration(request.name, options);
    if (json) out.write(`${JSON.stringify(created)}\n`);
    else if (!quiet) out.write(`${created.path}\n`);
    return 0;
  }
  if (command === 'baseline') {
    const result = await stratum.baseline(Number(request.name), options);
    if (json) out.write(`${JSON.stringify(result)}\n`);
    else if (!quiet) out.write(render.baseline(result, c));
    return 0;
  }
  if (command === 'migrate' || command === 'fresh') {
    const result = await applyMigrations(stratum, request, io);
    if (json) {
      out.write(`${JSON.stringify(result)}\n`);
    } else if (!quiet) {
      noteEmbedded(result, io);
      for (const d of result.warnings) io.err.write(render.diagnostic(d, io.errC));
      io.err.write(render.baselineNote(result.warnings, io.errC));
      out.write(render.migrateSummary(result, performance.now() - started, c));
    }
    return 0;
  }
  if (command === 'diagram') {
    const mermaid = await stratum.diagram(options);
    const text = mermaid.endsWith('\n') ? mermaid : `${mermaid}\n`;
    if (request.out) fs.writeFileSync(request.out, text);
    if (json) out.write(`${JSON.stringify(request.out ? { diagram: text, file: request.out } : { diagram: text })}\n`);
    else if (!request.out) out.write(text);
    else if (!quiet) out.write(`Wrote ${request.out}\n`);
    return 0;
  }

  if (command === 'drift') {
    const result = await stratum.drift(options);
    if (json) out.write(`${JSON.stringify(result)}\n`);
    else out.write(render.drift(result, c));
    if (!json && options.write && !result.written) {
      io.err.write(`${io.errC.dim('note')}: nothing written: no statement would capture ${result.inSync ? 'an unchanged schema' : 'these differences'}\n`);
    }
    // As lint does: 1 when drift was found, so CI can gate on it.
    return result.inSync ? 0 : 1;
  }

  const result = await stratum[command](options);
  if (!json && !quiet) noteEmbedded(result, io);
  if (json) out.write(`${JSON.stringify(result)}\n`);
  else if (command === 'status') out.write(render.status(result, c));
  else if (command === 'plan') out.write(render.plan(result, c));
  else if (command === 'lint') out.write(request.github ? render.github(result) : render.lint(result, c));
  else if (!quiet) out.write(`Dropped ${result.dropped} objects.\n`);
  // A plan with lint errors is a run that would fail.
  return (command === 'lint' || command === 'plan') && result.errors > 0 ? 1 : 0;
}

async function main(argv) {
  const out = process.stdout;
  const err = process.stderr;
  let request;
  try {
    request = parseArguments(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err.write(`stratum: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (request.help) {
    out.write(USAGE);
    return 0;
  }
  if (request.version) {
    // Read here, not from the addon: the version must print even where no build loads.
    out.write(`${require('../../package.json').version}\n`);
    return 0;
  }
  loadDotEnv();
  const io = { out, err, c: palette(out), errC: palette(err) };
  try {
    return await execute(request, io);
  } catch (failure) {
    if (request.json) out.write(`${JSON.stringify({ error: render.errorDocument(failure) })}\n`);
    else err.write(render.error(failure, io.errC));
    // A run that could not lint at all still shows on the pull request.
    if (request.github) out.write(render.github({ diagnostics: [], errors: 1, warnings: 0 }, failure));
    // A name that cannot be a file name is a mistake on the command line.
    return request.command === 'new' && failure.code === 'E_FILENAME' ? 2 : 1;
  }
}

module.exports = { main };
