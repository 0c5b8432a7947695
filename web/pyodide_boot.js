// Shared by worker.js (the app) and compute.js (computation workers): start Pyodide and load packages from this
// origin only, with the integrity checks the build set up (the package list's SRI hash, each wheel's sha256).
"use strict";

importScripts("./pyodide/pyodide.js");

self.lsStartPyodide = async (base, config, options) => {
  if (config.lockIntegrity) {
    // The package list (with the sha256 of every wheel) must be the one this build wrote.
    const lock = await fetch(new URL(config.lockFile, base), {integrity: config.lockIntegrity});
    if (!lock.ok) throw new Error(`Could not load ${config.lockFile}: HTTP ${lock.status}`);
  }
  return loadPyodide(Object.assign({
    indexURL: base + "pyodide/",
    lockFileURL: base + config.lockFile,
    packageCacheDir: base + "pyodide/",
    stdout: (s) => console.log(s),
    stderr: (s) => console.warn(s),
  }, options || {}));
};

self.lsLoadPackages = async (pyodide, packages) => {
  const errors = [];
  await pyodide.loadPackage(packages, {
    checkIntegrity: true,
    messageCallback: () => {},
    errorCallback: (msg) => { errors.push(msg); console.error(msg); },
  });
  if (errors.length) throw new Error(`Could not load ${packages.join(", ")}: ${errors.join("; ")}`);
};
