// The package's entry: the generated addon loader (native, or WebAssembly
// where no native binary matches), with an app's `client` (a connection, or
// a pool to check one out of) turned into the engine's `query` transport.
// In WebAssembly it also opens the `pg` connection the engine cannot open
// there, passes the working directory the sandbox does not see, and rebuilds
// errors whose fields came as JSON.
'use strict';

const binding = require('../index.js');
const { queryThrough, connect, isPool, checkOut } = require('./pg-transport');

const native = binding.__napiBindingTarget === 'native';
// The embedded PostgreSQL's binaries, found as Node finds packages from here:
// at the first call that may start it, not at require, which every boot pays.
let embeddedHandedOver = !native || typeof binding.__setEmbeddedPackage !== 'function';
function handOverEmbeddedPackage() {
  if (embeddedHandedOver) return;
  embeddedHandedOver = true;
  const dir = require('./embedded-package').embeddedPackageDir();
  if (dir) binding.__setEmbeddedPackage(dir);
}

/** `run`, after the embedded package was handed to the engine. */
const withEmbedded =
  (run) =>
  (...args) => {
    handOverEmbeddedPackage();
    return run(...args);
  };
const WASM_ERROR_MARKER = '\u0001stratum-error:';

/** An Error with `code` and the rest, from a WebAssembly rejection. */
function rebuilt(error) {
  const message = error && typeof error.message === 'string' ? error.message : '';
  const at = message.indexOf(WASM_ERROR_MARKER);
  if (at < 0) return error;
  const fields = JSON.parse(message.slice(at + WASM_ERROR_MARKER.length));
  const result = new Error(fields.message);
  for (const [key, value] of Object.entries(fields)) {
    if (key !== 'message' && value !== null && value !== undefined) result[key] = value;
  }
  return result;
}

function withDefaults(options) {
  if (native || (options !== undefined && (options === null || typeof options !== 'object'))) return options;
  return { cwd: process.cwd(), ...(options || {}) };
}

function settled(run) {
  if (native) return run;
  return async (...args) => {
    try {
      return await run(...args);
    } catch (error) {
      throw rebuilt(error);
    }
  };
}

/**
 * Runs `call` over one connection that `open()` gives at the engine's first
 * query, so a problem in the files is reported without touching the server,
 * and hands it to `close(client, error)` after the run whatever happened,
 * with the run's error if it failed.
 */
async function overOneConnection(call, options, open, close) {
  let opening;
  let failed;
  const through = async (sql) => {
    let client;
    try {
      client = await (opening ||= open());
    } catch (error) {
      failed = error;
      return { error: { message: error.message, lost: true } };
    }
    return queryThrough(client)(sql);
  };
  let runError;
  try {
    return await call({ ...options, query: through });
  } catch (error) {
    runError = failed || error;
    throw runError;
  } finally {
    const client = opening && (await opening.catch(() => undefined));
    if (client) await close(client, runError);
  }
}

/**
 * A client checked out of the app's pool for the whole run: a transaction
 * is one session, so BEGIN, the files and COMMIT must share a connection.
 * It goes back after the run, or, after a failure, is destroyed by the pool
 * (pg's `release(error)`): a failed run may leave its session in any state.
 */
function fromPool(pool) {
  let onError;
  return {
    open: async () => {
      const client = await checkOut(pool);
      // A checked-out client has no listener of the pool's: a connection
      // that drops mid-run would throw its 'error' event. The query in
      // flight reports the loss.
      onError = () => {};
      if (typeof client.on === 'function') client.on('error', onError);
      return client;
    },
    close: async (client, error) => {
      if (!error && typeof client.removeListener === 'function') client.removeListener('error', onError);
      client.release(error || undefined);
    },
  };
}

function overConnection(run) {
  const call = settled(run);
  return async function withConnection(options) {
    handOverEmbeddedPackage();
    const given = withDefaults(options);
    if (given && typeof given === 'object' && given.client) {
      const { client, ...rest } = given;
      if (!isPool(client)) return call({ ...rest, query: queryThrough(client) });
      const { open, close } = fromPool(client);
      return overOneConnection(call, rest, open, close);
    }
    const plain = given === undefined || given === null || typeof given !== 'object';
    // A fleet opens its own connections; the engine says where it cannot.
    const fleet = !plain && (given.targets || given.targetsQuery || given.schemasQuery);
    // Options of the wrong kind are for the engine to refuse with E_CONFIG.
    if (native || fleet || (given !== undefined && given !== null && typeof given !== 'object') || (!plain && given.query)) {
      return call(given);
    }
    const settings = given && typeof given === 'object' ? given : {};
    // Options of the wrong type are refused before a connection is opened.
    try {
      binding.migrationsDir(settings);
    } catch (error) {
      throw rebuilt(error);
    }
    return overOneConnection(
      call,
      settings,
      () => connect(settings),
      (client) => client.end().catch(() => {}),
    );
  };
}

function withOptions(run) {
  const call = settled(run);
  return native ? run : (...args) => call(...args.slice(0, -1), withDefaults(args[args.length - 1]));
}

module.exports.__napiBindingTarget = binding.__napiBindingTarget;
module.exports.migrate = overConnection(binding.migrate);
module.exports.status = overConnection(binding.status);
module.exports.fresh = overConnection(binding.fresh);
module.exports.reset = overConnection(binding.reset);
module.exports.plan = overConnection(binding.plan);
module.exports.diagram = overConnection(binding.diagram);
module.exports.drift = overConnection(binding.drift);
module.exports.lint = withOptions(binding.lint);
module.exports.baseline = (version, options) => overConnection((given) => binding.baseline(version, given))(options);
module.exports.newMigration = native
  ? binding.newMigration
  : (name, options) => settled(binding.newMigration)(name, withDefaults(options));
module.exports.migrationsDir = native
  ? binding.migrationsDir
  : (options) => {
      try {
        return binding.migrationsDir(withDefaults(options));
      } catch (error) {
        throw rebuilt(error);
      }
    };
module.exports.dbStart = withEmbedded(settled(binding.dbStart));
module.exports.dbStop = withEmbedded(settled(binding.dbStop));
module.exports.dbStatus = withEmbedded(settled(binding.dbStatus));
