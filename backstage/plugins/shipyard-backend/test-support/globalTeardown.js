// jest globalTeardown: stops the Shipyard globalSetup started (closing its stdin).
module.exports = async function globalTeardown() {
  const child = globalThis.__SHIPYARD_SERVER__;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise(resolve => child.once('exit', resolve));
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
};
