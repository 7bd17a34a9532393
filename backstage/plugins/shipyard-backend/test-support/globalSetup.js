// jest globalSetup: starts a real Shipyard (test-support/shipyard_server.py, run with
// Shipyard's virtualenv) and hands its URL, tokens and secret to the tests through
// SHIPYARD_TEST_SERVER. SHIPYARD_PYTHON overrides the interpreter (default:
// <repo>/.venv/bin/python).
const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

module.exports = async function globalSetup() {
  const repo = path.resolve(__dirname, '../../../..');
  const python = process.env.SHIPYARD_PYTHON || path.join(repo, '.venv/bin/python');
  const child = spawn(python, [path.join(__dirname, 'shipyard_server.py')], {
    cwd: repo,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  globalThis.__SHIPYARD_SERVER__ = child;
  const line = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the test Shipyard did not start in 120 s')),
      120_000,
    );
    child.on('error', error => {
      clearTimeout(timer);
      reject(
        new Error(
          `cannot run ${python} (run scripts/setup.sh, or set SHIPYARD_PYTHON): ${error.message}`,
        ),
      );
    });
    child.on('exit', code => {
      clearTimeout(timer);
      reject(new Error(`the test Shipyard exited (${code}) before it was ready`));
    });
    readline.createInterface({ input: child.stdout }).once('line', first => {
      clearTimeout(timer);
      resolve(first);
    });
  });
  JSON.parse(line); // fail here, not in every test, if it is not the expected JSON
  process.env.SHIPYARD_TEST_SERVER = line;
};
