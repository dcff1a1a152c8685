// With STRATUM_TEST_WASM=1 the suite loads the WebAssembly build of the
// addon. Set here, inside each test file's sandbox, so that jest's own
// napi-rs dependencies keep their native builds.
if (process.env.STRATUM_TEST_WASM === '1') process.env.NAPI_RS_FORCE_WASI = 'error';
