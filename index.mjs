// The ES module entry of pg-stratum: the same addon as index.js, whose
// generated exports Node's CommonJS lexer reads as named exports.
export * from './index.js';
export { default } from './index.js';
