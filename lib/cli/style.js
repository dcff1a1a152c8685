// Colour for one output stream, and how durations read.
'use strict';

/**
 * FORCE_COLOR decides when set (`0` or `false` turn colour off), as it does
 * for Node itself; otherwise NO_COLOR turns colour off, and a terminal turns
 * it on.
 */
function colourEnabled(stream, env = process.env) {
  if (env.FORCE_COLOR) return !['0', 'false'].includes(env.FORCE_COLOR);
  if (env.NO_COLOR) return false;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

function palette(stream, env) {
  const on = colourEnabled(stream, env);
  const paint = (code) => (text) => (on ? `\u001b[${code}m${text}\u001b[0m` : String(text));
  return { green: paint(32), yellow: paint(33), red: paint(31), dim: paint(2), bold: paint(1) };
}

/** `3.2 ms`, `412 ms`, `2.4 s`, `3 min 05 s`. */
function duration(ms) {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

module.exports = { colourEnabled, palette, duration, plural };
