// A real PgBouncer in transaction pooling mode in front of the test server.
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { freePort } = require('./net');

const INSTALL =
  'install it: `apt-get install pgbouncer` (Debian, Ubuntu), `dnf install pgbouncer`, `brew install pgbouncer`; ' +
  '`bash .ci/run` installs it when run as root';

/**
 * The pgbouncer executable on `searchPath` (the PATH, then the sbin folders
 * where distributions put it), or an Error that names what is missing and how
 * to install it: running a missing program as another user fails with a bare
 * "Permission denied".
 */
function findPgBouncer(searchPath = `${process.env.PATH || ''}${path.delimiter}/usr/local/sbin${path.delimiter}/usr/sbin`) {
  for (const dir of searchPath.split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, 'pgbouncer');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // Not in this folder.
    }
  }
  throw new Error(`the PgBouncer tests run a real PgBouncer, and pgbouncer is not installed: ${INSTALL}`);
}


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
async function startPgBouncer({ poolSize = 3, searchPath } = {}) {
  const binary = findPgBouncer(searchPath);
  const asRoot = process.getuid && process.getuid() === 0;
  if (asRoot && !/^postgres:/m.test(fs.readFileSync('/etc/passwd', 'utf8'))) {
    throw new Error(
      'PgBouncer refuses to run as root, so the tests run it as the `postgres` account, and there is none: ' +
        'install PostgreSQL from the system packages (which creates it), or `useradd --system postgres`',
    );
  }
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
  if (asRoot) execFileSync('chown', ['-R', 'postgres', dir]);
  const command = [binary, '-d', path.join(dir, 'pgbouncer.ini')];
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

module.exports = { startPgBouncer, findPgBouncer };
