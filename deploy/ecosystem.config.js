// The pm2 ecosystem of a kubemu cluster: one pm2 app per process of services/lib/topology.ts.
//
// Used by `npm start` (scripts/cluster.ts), and by hand as well:
//   PM2_HOME=.kubemu/pm2 npx pm2 start deploy/ecosystem.config.js
// Settings: KUBEMU_STATE_DIR (default <repo>/.kubemu), KUBEMU_PORT_BASE (default 20000),
// KUBEMU_PROFILE (default demo). Requires the build (dist/): run `bash scripts/setup.sh` first.
'use strict';

const path = require('path');

let topologyLib;
try {
  topologyLib = require(path.join(__dirname, '..', 'dist', 'services', 'lib', 'topology.js'));
} catch (err) {
  throw new Error(`kubemu: cannot load the build (${err.message}); run 'bash scripts/setup.sh' first`);
}

const topology = topologyLib.buildTopology(topologyLib.settingsFromEnv(process.env));
// Data folders and nats-server configuration files must exist before pm2 launches anything.
topologyLib.prepareStateDir(topology);

function app(spec) {
  const logs = topologyLib.logFiles(topology, spec.name);
  return {
    name: spec.name,
    script: spec.command,
    args: spec.args,
    // etcd and nats-server are executables; our services run on the node that runs pm2.
    interpreter: spec.runtime === 'binary' ? 'none' : process.execPath,
    node_args: spec.runtime === 'node' ? spec.nodeArgs : undefined,
    exec_mode: 'fork',
    instances: 1,
    cwd: topology.repoRoot,
    env: spec.env,
    filter_env: spec.filterEnvPrefixes.length > 0 ? spec.filterEnvPrefixes : undefined,
    out_file: logs.out,
    error_file: logs.err,
    // One file per stream without a -<pm_id> suffix; every component timestamps its own lines.
    merge_logs: true,
    // Always bring a killed process back, quickly at first (the demo is about watching the
    // cluster heal), then backing off up to pm2's 15 s cap while it keeps crashing.
    autorestart: true,
    exp_backoff_restart_delay: 200,
    min_uptime: 5000,
    max_restarts: 1000,
    // Stop with SIGTERM (pm2 7 takes the signal daemon-wide from PM2_KILL_SIGNAL, which
    // scripts/lib/pm2.ts sets), SIGKILL when still alive after this.
    kill_timeout: 10000,
    treekill: true,
    watch: false,
    autostart: true,
    vizion: false,
    pmx: false,
    automation: false,
  };
}

module.exports = {
  apps: topology.processes.map(app),
};
