// Stops the server global-setup.js started when none answered on the admin URL.
module.exports = async function globalTeardown() {
  const server = globalThis.stratumTestServer;
  if (!server) return;
  globalThis.stratumTestServer = undefined;
  server.stop();
};
