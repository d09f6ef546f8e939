/**
 * A small promise API over pm2's programmatic API, always with our own PM2_HOME (never the
 * user's ~/.pm2 or a global pm2).
 */
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';

/** The part of a pm2 app configuration we pass around (see deploy/ecosystem.config.js). */
export interface Pm2App {
  name: string;
  [key: string]: unknown;
}

/** One process as pm2 sees it. */
export interface Pm2Process {
  name: string;
  pid: number;
  /** online, launching, stopping, stopped, errored, ... */
  status: string;
  /** Milliseconds since pm2 last (re)started it, when online. */
  uptimeMs?: number;
  restarts: number;
}

interface Pm2Description {
  name?: string;
  pid?: number;
  pm2_env?: { status?: string; pm_uptime?: number; restart_time?: number };
}

type Callback<T = unknown> = (err: Error | null, result?: T) => void;

/** The methods of pm2's API class we use. */
interface Pm2Api {
  connect(cb: Callback): void;
  disconnect(cb?: Callback): void;
  start(config: { apps: Pm2App[] }, cb: Callback): void;
  stop(name: string, cb: Callback): void;
  list(cb: Callback<Pm2Description[]>): void;
  killDaemon(cb: Callback): void;
}

function isZombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) S ...", comm may contain spaces and parentheses.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/**
 * The pm2 daemon's pid when one runs for this PM2_HOME and answers on its socket, else
 * undefined. (pm2's connect() would start a daemon where none answers: ask this first.)
 * Never throws.
 */
export async function daemonPid(pm2Home: string): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(pm2Home, 'pm2.pid'), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    process.kill(pid, 0);
  } catch {
    return undefined;
  }
  // A SIGKILLed daemon stays a zombie until something reaps it.
  if (isZombie(pid)) return undefined;
  const answers = await new Promise<boolean>((resolve) => {
    const socket = net.connect(path.join(pm2Home, 'rpc.sock'));
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
  return answers ? pid : undefined;
}

function call<T>(fn: (cb: Callback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result as T))));
}

/** A connection to the pm2 daemon of one PM2_HOME. Not for concurrent use from several places. */
export class Pm2Client {
  private api: Pm2Api | undefined;

  constructor(readonly pm2Home: string) {}

  /**
   * Connects, starting the daemon when none runs (spawnDaemon) or failing when none runs and
   * spawnDaemon is false. pm2's own console messages are silenced.
   */
  async connect(spawnDaemon: boolean): Promise<void> {
    if (!spawnDaemon && (await daemonPid(this.pm2Home)) === undefined) throw new Error('the pm2 daemon is not running');
    fs.mkdirSync(this.pm2Home, { recursive: true });
    // Without this marker the pm2 CLI greets its first use of a PM2_HOME with a large banner.
    const touch = path.join(this.pm2Home, 'touch');
    if (!fs.existsSync(touch)) fs.writeFileSync(touch, String(Date.now()));
    // pm2 reads these when its modules load; set them first.
    process.env.PM2_HOME = this.pm2Home;
    process.env.PM2_SILENT = 'true';
    process.env.PM2_DISABLE_VERSION_CHECK = 'true';
    // pm2 7 stops apps with one daemon-wide signal (SIGINT unless told otherwise).
    process.env.PM2_KILL_SIGNAL = 'SIGTERM';
    // A process up for 10 s counts as healthy again: its next death is restarted after the
    // first delay (200 ms), not the delay its earlier crashes built up (up to 15 s). pm2's own
    // defaults (30 s up, checked every 30 s) kept a process killed twice within a minute down for
    // seconds, long enough for its node to be judged NotReady. The daemon reads both at its start.
    process.env.EXP_BACKOFF_RESET_TIMER = '10000';
    process.env.PM2_WORKER_INTERVAL = '5000';
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const pm2 = require('pm2') as { custom: new (opts: { pm2_home: string }) => Pm2Api };
    this.api = new pm2.custom({ pm2_home: this.pm2Home });
    const api = this.api;
    await call((cb) => api.connect(cb));
  }

  private get connected(): Pm2Api {
    if (!this.api) throw new Error('Pm2Client: not connected');
    return this.api;
  }

  async list(): Promise<Pm2Process[]> {
    const api = this.connected;
    const raw = await call<Pm2Description[]>((cb) => api.list(cb));
    const now = Date.now();
    return raw.map((d) => {
      const status = d.pm2_env?.status ?? 'unknown';
      return {
        name: d.name ?? '?',
        pid: d.pid ?? 0,
        status,
        uptimeMs: status === 'online' && d.pm2_env?.pm_uptime ? now - d.pm2_env.pm_uptime : undefined,
        restarts: d.pm2_env?.restart_time ?? 0,
      };
    });
  }

  /** Starts (or restarts, when pm2 already knows them) the given apps. */
  async start(apps: Pm2App[]): Promise<void> {
    if (apps.length === 0) return;
    const api = this.connected;
    // pm2 mutates the configuration it is given.
    const copy = JSON.parse(JSON.stringify(apps)) as Pm2App[];
    await call((cb) => api.start({ apps: copy }, cb));
  }

  /** Stops the named apps (SIGTERM, then SIGKILL after their kill_timeout); resolves when they are down. */
  async stop(names: string[]): Promise<void> {
    const api = this.connected;
    await Promise.all(names.map((name) => call((cb) => api.stop(name, cb))));
  }

  /** Stops every app and the daemon. The connection is unusable afterwards. */
  async killDaemon(): Promise<void> {
    const api = this.connected;
    await call((cb) => api.killDaemon(cb));
    this.api = undefined;
  }

  /** Lets this process exit; the daemon and its apps keep running. */
  async disconnect(): Promise<void> {
    const api = this.api;
    this.api = undefined;
    if (api) await call((cb) => api.disconnect(cb)).catch(() => undefined);
  }
}
