// Migrations as they run: one line per applied file, and on a terminal a
// live line (done / total, current file, elapsed) once a run passes a second.
'use strict';

const { duration } = require('./style');

const LIVE_AFTER_MS = 1000;
const REDRAW_EVERY_MS = 100;

/**
 * `live` redraws a status line in place; `total` (may be undefined) is the
 * number of migrations the run is expected to apply. The line is redrawn
 * with a carriage return and spaces rather than terminal escapes, so that
 * NO_COLOR output holds no escape codes at all.
 */
function createProgress({ out, c, live, total }) {
  const started = performance.now();
  const printed = new Set();
  let current;
  let drawnWidth = 0;
  let finished = false;

  const appliedLine = (name, durationMs) => `${c.green('applied')}  ${name} ${c.dim(`(${duration(durationMs)})`)}\n`;

  const erase = () => {
    if (drawnWidth > 0) out.write(`\r${' '.repeat(drawnWidth)}\r`);
    drawnWidth = 0;
  };
  const draw = () => {
    const elapsed = performance.now() - started;
    if (current === undefined || elapsed < LIVE_AFTER_MS) return;
    const counter = total === undefined ? `${printed.size} done` : `${printed.size}/${total}`;
    // A line wider than the terminal wraps, and \r would only return to its last row.
    const text = `${counter}  ${current}  ${duration(elapsed)}`.slice(0, (out.columns || 80) - 1);
    out.write(`\r${text.padEnd(drawnWidth)}`);
    drawnWidth = text.length;
  };
  const timer = live ? setInterval(draw, REDRAW_EVERY_MS) : undefined;

  const report = (name, durationMs) => {
    if (printed.has(name)) return;
    printed.add(name);
    erase();
    out.write(appliedLine(name, durationMs));
  };

  return {
    onProgress(event) {
      if (finished) return;
      if (event.event === 'start') {
        current = event.name;
      } else {
        current = undefined;
        report(event.name, event.durationMs);
      }
      if (live) draw();
    },
    /** Stops the live line; prints the applied migrations whose events had not arrived yet. */
    finish(applied = []) {
      finished = true;
      clearInterval(timer);
      erase();
      // Progress events are delivered without blocking the engine, so the last
      // ones can arrive after the result.
      for (const m of applied) report(m.name, m.durationMs);
    },
  };
}

module.exports = { createProgress };
