// The ES module entry of pg-stratum: the same as lib/entry.js, whose
// exports Node's CommonJS lexer reads as named exports.
export * from './lib/entry.js';
export { default } from './lib/entry.js';
