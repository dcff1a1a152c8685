// The test run's own check of what it needs (helpers/global-setup.js): a
// missing program is named with the command that installs it, and an admin
// URL that is not a superuser's is refused before any suite starts.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { missingPrograms, probe } = require('./helpers/global-setup');
const { ADMIN_URL, urlFor, withClient } = require('./helpers/db');

let empty;
beforeAll(() => {
  empty = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-prereq-'));
});
afterAll(() => fs.rmSync(empty, { recursive: true, force: true }));

test('names each missing program on one line, with the command that installs it', () => {
  const missing = missingPrograms(empty);
  expect(missing.map((piece) => piece.name)).toEqual(['openssl', 'pgbouncer']);
  for (const piece of missing) {
    expect(piece.line).not.toContain('\n');
    expect(piece.line).toContain(`apt-get install ${piece.name}`);
  }
});

test('finds nothing missing where both programs are', () => {
  const bin = fs.mkdtempSync(path.join(empty, 'bin-'));
  for (const name of ['openssl', 'pgbouncer']) {
    fs.writeFileSync(path.join(bin, name), '#!/bin/sh\n', { mode: 0o755 });
  }
  expect(missingPrograms(bin)).toEqual([]);
});

test('a server that answers is accepted only for a superuser', async () => {
  expect(await probe(ADMIN_URL)).toEqual({ answering: true });
  const role = `stratum_prereq_${process.pid}`;
  await withClient(ADMIN_URL, (client) => client.query(`CREATE ROLE "${role}" LOGIN NOSUPERUSER`));
  try {
    const url = new URL(urlFor('postgres'));
    url.username = role;
    const verdict = await probe(url.toString());
    expect(verdict.answering).toBe(true);
    expect(verdict.problem).toMatch(/not a superuser/);
  } finally {
    await withClient(ADMIN_URL, (client) => client.query(`DROP ROLE "${role}"`));
  }
});

test('an address where nothing listens is left to the embedded server', async () => {
  const { freePort } = require('./helpers/net');
  expect(await probe(`postgres://postgres@127.0.0.1:${await freePort()}/postgres`)).toEqual({ answering: false });
});
