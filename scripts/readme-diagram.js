#!/usr/bin/env node
// npm run diagram: migrates the billing schema into a throw-away database,
// renders its Mermaid ER diagram, and rewrites the README's block between
// the diagram markers, so the picture in the README is the schema's own.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Client } = require('pg');
const stratum = require('..');

const ROOT = path.join(__dirname, '..');
const README = path.join(ROOT, 'README.md');
const START = '<!-- diagram:start -->';
const END = '<!-- diagram:end -->';

function adminUrl() {
  return process.env.STRATUM_TEST_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
}

async function onAdmin(sql) {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The Mermaid text of the schema that migrations/ builds. */
async function renderSchemaDiagram() {
  const name = `stratum_diagram_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  await onAdmin(`CREATE DATABASE "${name}"`);
  try {
    const url = new URL(adminUrl());
    url.pathname = `/${name}`;
    const databaseUrl = url.toString();
    await stratum.migrate({ databaseUrl, dir: path.join(ROOT, 'migrations') });
    return await stratum.diagram({ databaseUrl });
  } finally {
    await onAdmin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
}

/** What sits between the markers: the diagram in a fenced mermaid block. */
const block = (mermaid) => `${START}\n\`\`\`mermaid\n${mermaid.trimEnd()}\n\`\`\`\n${END}`;

/** The README's current block, markers included, or undefined. */
function currentBlock(readme) {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END, start);
  return start === -1 || end === -1 ? undefined : readme.slice(start, end + END.length);
}

async function main() {
  const readme = fs.readFileSync(README, 'utf8');
  const old = currentBlock(readme);
  if (old === undefined) throw new Error(`README.md has no ${START} … ${END} markers`);
  const fresh = block(await renderSchemaDiagram());
  if (fresh === old) {
    process.stdout.write('README.md: the diagram is up to date\n');
    return;
  }
  fs.writeFileSync(README, readme.replace(old, () => fresh));
  process.stdout.write('README.md: diagram updated\n');
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`${error.stack || error}\n`);
    process.exitCode = 1;
  });
}

module.exports = { block, currentBlock };
