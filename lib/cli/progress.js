// Migrations as they run: one line per applied file, and on a terminal a
// live line (done / total, current file, elapsed) once a run passes a second.
'use strict';

const { duration } = require('./style');

const LIVE_AFTER_MS = 1000;
const TICK_MS = 100;
// Applied lines are written a few KiB at a time, and at least every tick, so
// they still stream during a run. Measured on 10,000 tiny migrations: a write
// per line cost ~1.3 MiB more peak RSS, and writing only on the tick ~2 MiB
// (the buffer outlives young-generation GCs, and V8 then grows that space).
const CHUNK_CHARS = 4096;

/**
 * `live` redraws a status line in place; `total` (may be undefined) is the
 * number of migrations the run is expected to apply. The line is redrawn
 * with a carriage return and spaces rather than terminal escapes, so that
 * NO_COLOR output holds no escape codes at all.
 */
function createProgress({ out, c, live, total }) {
  const started = performance.now();
  const label = `${c.green('applied')}  `;
  let lines = '';
  let done = 0;
  // The last migration given a line; the rest of the result's `applied` follows
  // it. (A Set of the names printed cost ~3 MiB of peak RSS on 10,000 migrations.)
  let last;
  let current;
  let drawnWidth = 0;
  let finished = false;

  const erase = () => {
    if (drawnWidth > 0) out.write(`\r${' '.repeat(drawnWidth)}\r`);
    drawnWidth = 0;
  };
  const draw = () => {
    const elapsed = performance.now() - started;
    if (current === undefined || elapsed < LIVE_AFTER_MS) return;
    const counter = total === undefined ? `${done} done` : `${done}/${total}`;
    // A line wider than the terminal wraps, and \r would only return to its last row.
    const text = `${counter}  ${current}  ${duration(elapsed)}`.slice(0, (out.columns || 80) - 1);
    out.write(`\r${text.padEnd(drawnWidth)}`);
    drawnWidth = text.length;
  };
  const flush = () => {
    if (lines !== '') {
      erase();
      out.write(lines);
      lines = '';
    }
    if (live && !finished) draw();
  };
  const timer = setInterval(flush, TICK_MS);

  const report = (name, durationMs) => {
    done += 1;
    last = name;
    lines += `${label}${name} ${c.dim(`(${duration(durationMs)})`)}\n`;
    if (lines.length >= CHUNK_CHARS) flush();
  };

  return {
    onProgress(event) {
      if (finished) return;
      if (event.event === 'start') {
        // Only the live line shows the migration under way.
        if (live) current = event.name;
        return;
      }
      current = undefined;
      report(event.name, event.durationMs);
    },
    /** Stops the live line; prints the applied migrations whose events had not arrived yet. */
    finish(applied = []) {
      finished = true;
      clearInterval(timer);
      // Progress events are delivered without blocking the engine, so the last
      // ones can arrive after the result; they come in the order of `applied`.
      const from = applied.findLastIndex((m) => m.name === last) + 1;
      for (let i = from; i < applied.length; i++) report(applied[i].name, applied[i].durationMs);
      flush();
      erase();
    },
  };
}

module.exports = { createProgress };
