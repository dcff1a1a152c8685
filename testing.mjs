// The ES module entry of pg-stratum/testing.
export * from './testing.js';
export { default } from './testing.js';
