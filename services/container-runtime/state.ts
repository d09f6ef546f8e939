/**
 * The runtime's records (sandboxes and containers) and their persistence in <root>/state.json.
 * The file is rewritten whole, atomically (temporary file, fsync, rename), so a crash leaves
 * either the old or the new state, never a torn one.
 */
import * as fs from 'fs';
import * as path from 'path';
import { MountSpec } from './container-env';

export type SandboxState = 'READY' | 'NOTREADY';
export type ContainerState = 'CREATED' | 'RUNNING' | 'EXITED';

export interface SandboxRecord {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  hostname: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Unix microseconds (as every time here). */
  createdAt: number;
  state: SandboxState;
  /** Empty once stopped (the IP is released). */
  ip: string;
  podDir: string;
}

export interface ContainerRecord {
  id: string;
  sandboxId: string;
  podUid: string;
  name: string;
  attempt: number;
  /** The image as the kubelet asked for it, and the resolved image id. */
  image: string;
  imageRef: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: ContainerState;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  logPath: string;
  /** How to run it, fixed at creation. */
  executable: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  mounts: MountSpec[];
  memoryLimitBytes: number;
  cpuLimitMillicores: number;
  /** Set at creation when the process cannot be started (the executable is missing): StartContainer fails with it. */
  startError?: string;
  /** The running process (0 when none): its pid, its process group (the same number: it leads the group) and its /proc start time, to tell it from a recycled pid. */
  pid: number;
  pgid: number;
  procStartTime: number;
  /** The last StopContainer timeout (seconds), reused when the sandbox is stopped. */
  lastStopTimeoutSeconds?: number;
}

interface StateFile {
  version: 1;
  sandboxes: SandboxRecord[];
  containers: ContainerRecord[];
}

/** Reads and writes <dir>/state.json. Synchronous; one live store per folder. */
export class StateStore {
  readonly file: string;

  constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'state.json');
  }

  /**
   * The saved records; empty when there is no file. A corrupt file is moved aside
   * (state.json.corrupt-<ms>) and reported through `onCorrupt`, and the runtime starts empty:
   * the kubelet then sees no sandboxes and recreates its pods.
   */
  load(onCorrupt: (err: Error, movedTo: string) => void): { sandboxes: SandboxRecord[]; containers: ContainerRecord[] } {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { sandboxes: [], containers: [] };
      throw err;
    }
    try {
      const state = JSON.parse(text) as StateFile;
      if (!Array.isArray(state.sandboxes) || !Array.isArray(state.containers)) throw new Error('sandboxes or containers is not a list');
      return { sandboxes: state.sandboxes, containers: state.containers };
    } catch (err) {
      const movedTo = `${this.file}.corrupt-${Date.now()}`;
      fs.renameSync(this.file, movedTo);
      onCorrupt(err as Error, movedTo);
      return { sandboxes: [], containers: [] };
    }
  }

  /** Replaces the file with these records. Throws an fs error when it cannot write. */
  save(sandboxes: Iterable<SandboxRecord>, containers: Iterable<ContainerRecord>): void {
    const state: StateFile = { version: 1, sandboxes: [...sandboxes], containers: [...containers] };
    const tmp = `${this.file}.tmp-${process.pid}`;
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, JSON.stringify(state));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
  }
}
