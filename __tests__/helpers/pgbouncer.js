// A real PgBouncer in transaction pooling mode in front of the test server.
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { freePort } = require('./net');


async function waitForPort(port) {
  for (let i = 0; i < 100; i += 1) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`pgbouncer did not listen on ${port}`);
}

/** Starts PgBouncer (transaction pooling, few server connections); returns { port, stop() }. */
async function startPgBouncer({ poolSize = 3 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-pgbouncer-'));
  const port = await freePort();
  fs.writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      '* = host=127.0.0.1 port=5432',
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      'pool_mode = transaction',
      'max_client_conn = 200',
      `default_pool_size = ${poolSize}`,
      'unix_socket_dir =',
      `logfile = ${path.join(dir, 'log')}`,
      `pidfile = ${path.join(dir, 'pid')}`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'users.txt'), '"postgres" ""\n');
  const asRoot = process.getuid && process.getuid() === 0;
  if (asRoot) execFileSync('chown', ['-R', 'postgres', dir]);
  const command = ['pgbouncer', '-d', path.join(dir, 'pgbouncer.ini')];
  // PgBouncer refuses to run as root.
  execFileSync(asRoot ? 'runuser' : command[0], asRoot ? ['-u', 'postgres', '--', ...command] : command.slice(1));
  await waitForPort(port);
  return {
    port,
    stop() {
      try {
        const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
        process.kill(pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

module.exports = { startPgBouncer };
