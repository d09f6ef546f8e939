/**
 * Container logs in the CRI log format that the kubelet and `kubectl logs` expect: one entry per
 * line, `<RFC3339Nano time> <stdout|stderr> <F|P> <content>\n`, where P marks a partial line (a
 * line longer than 16 KiB is split, and output that ends without a newline is written as P).
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import { Readable } from 'stream';

export type LogStream = 'stdout' | 'stderr';

/** One entry of a log file. `content` has no newline; a full (F) entry ends a line. */
export interface LogEntry {
  timeNs: bigint;
  stream: LogStream;
  partial: boolean;
  content: Buffer;
}

/** Longest entry, as containerd's maximum log line size. */
export const MAX_ENTRY_BYTES = 16 * 1024;

const wallAtStart = BigInt(Date.now()) * 1_000_000n;
const hrAtStart = process.hrtime.bigint();

/** Wall-clock Unix nanoseconds, never going backwards within this process. */
export function nowNanos(): bigint {
  return wallAtStart + (process.hrtime.bigint() - hrAtStart);
}

/** Wall-clock Unix microseconds (the API's time unit), never going backwards within this process. */
export function nowMicros(): number {
  return Number(nowNanos() / 1000n);
}

/** RFC 3339 with nanoseconds, UTC: 2026-11-23T03:45:01.123456789Z. Pure. */
export function formatRFC3339Nano(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(Number(ms)).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}

let lastSeconds = { text: '', ns: 0n };

/** Parses what formatRFC3339Nano writes (any fraction length, UTC 'Z' or an offset). Undefined when malformed. Pure. */
export function parseRFC3339Nano(s: string): bigint | undefined {
  // Fast path for what this runtime writes (UTC, 9 digits), with the whole-second part of the
  // previous line remembered: consecutive log lines nearly always share it.
  if (s.length === 30 && s.charCodeAt(19) === 46 && s.charCodeAt(29) === 90) {
    const secs = s.slice(0, 19);
    const frac = s.slice(20, 29);
    if (/^\d{9}$/.test(frac)) {
      if (secs !== lastSeconds.text) {
        const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(secs) ? Date.parse(secs + 'Z') : NaN;
        if (Number.isNaN(ms)) return undefined;
        lastSeconds = { text: secs, ns: BigInt(ms) * 1_000_000n };
      }
      return lastSeconds.ns + BigInt(frac);
    }
  }
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) return undefined;
  const secondsMs = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(secondsMs)) return undefined;
  return BigInt(secondsMs) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

function encodeEntry(e: LogEntry): Buffer {
  return Buffer.concat([Buffer.from(`${formatRFC3339Nano(e.timeNs)} ${e.stream} ${e.partial ? 'P' : 'F'} `), e.content, Buffer.from('\n')]);
}

/** Parses a log file's bytes; malformed lines are skipped. Pure. */
export function parseLog(data: Buffer): LogEntry[] {
  const out: LogEntry[] = [];
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length; // a torn last line (runtime killed mid-write): parse what is there
    const line = data.subarray(start, end);
    start = end + 1;
    const s1 = line.indexOf(0x20);
    const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
    if (s2 < 0 || line.length < s2 + 2) continue;
    const timeNs = parseRFC3339Nano(line.subarray(0, s1).toString('latin1'));
    const stream = line.subarray(s1 + 1, s2).toString('latin1');
    const tag = line[s2 + 1];
    if (timeNs === undefined || (stream !== 'stdout' && stream !== 'stderr') || (tag !== 0x46 && tag !== 0x50)) continue;
    out.push({ timeNs, stream, partial: tag === 0x50, content: Buffer.from(line.subarray(Math.min(line.length, s2 + 3))) });
  }
  return out;
}

/**
 * Writes one container instance's stdout and stderr into its log file as they arrive. Emits
 * 'entries' (LogEntry[], already on disk when emitted) and 'close' once both streams ended.
 * Writes are synchronous, so a reader that reads the file and subscribes in the same tick sees
 * every entry exactly once.
 */
export class ContainerLogWriter extends EventEmitter {
  private readonly fd: number;
  private open = 2;
  closed = false;

  /** Opens `file` for appending (creating it). Throws an fs error when it cannot. */
  constructor(readonly file: string) {
    super();
    this.fd = fs.openSync(file, 'a');
  }

  /** Follows `readable` as stream `name` until it ends. Call once for stdout and once for stderr. */
  follow(name: LogStream, readable: Readable): void {
    let pending: Buffer = Buffer.alloc(0);
    readable.on('data', (chunk: Buffer) => {
      const now = nowNanos();
      const entries: LogEntry[] = [];
      let data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      let nl: number;
      while ((nl = data.indexOf(0x0a)) >= 0) {
        let line = data.subarray(0, nl);
        while (line.length > MAX_ENTRY_BYTES) {
          entries.push({ timeNs: now, stream: name, partial: true, content: Buffer.from(line.subarray(0, MAX_ENTRY_BYTES)) });
          line = line.subarray(MAX_ENTRY_BYTES);
        }
        entries.push({ timeNs: now, stream: name, partial: false, content: Buffer.from(line) });
        data = data.subarray(nl + 1);
      }
      while (data.length >= MAX_ENTRY_BYTES) {
        entries.push({ timeNs: now, stream: name, partial: true, content: Buffer.from(data.subarray(0, MAX_ENTRY_BYTES)) });
        data = data.subarray(MAX_ENTRY_BYTES);
      }
      pending = Buffer.from(data);
      this.write(entries);
    });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      if (pending.length) this.write([{ timeNs: nowNanos(), stream: name, partial: true, content: pending }]);
      pending = Buffer.alloc(0);
      if (--this.open === 0) this.close();
    };
    readable.on('end', finish);
    readable.on('close', finish);
    readable.on('error', finish);
  }

  private write(entries: LogEntry[]): void {
    if (entries.length === 0 || this.closed) return;
    try {
      fs.writeSync(this.fd, Buffer.concat(entries.map(encodeEntry)));
    } catch {
      // A full disk or a removed folder loses log lines, never the container.
    }
    // Readers (log followers) must not break the pipe reader that calls this.
    for (const listener of this.listeners('entries') as ((e: LogEntry[]) => void)[]) {
      try {
        listener(entries);
      } catch {
        // the follower's own stream failed; it ends itself on 'cancelled'
      }
    }
  }

  /** Closes the file (idempotent); emits 'close'. Called by itself once both streams end. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
    this.emit('close');
  }
}

export interface LogQuery {
  /** Last N lines (a line is its P entries plus the F entry ending it); negative: all. */
  tailLines: number;
  /** Only entries at or after this Unix nanosecond time; 0n: all. */
  sinceNs: bigint;
}

/** The entries `query` selects, in order. Pure. */
export function selectEntries(entries: LogEntry[], query: LogQuery): LogEntry[] {
  let out = query.sinceNs > 0n ? entries.filter((e) => e.timeNs >= query.sinceNs) : entries;
  if (query.tailLines >= 0) {
    let lines = 0;
    let i = out.length;
    // Walking back: a P entry continues the line of the later entry of its stream already visited;
    // an F entry, or a P with nothing after it (output that ended without a newline), starts a line.
    const visited = new Set<LogStream>();
    while (i > 0) {
      const e = out[i - 1];
      if (!(e.partial && visited.has(e.stream))) {
        if (lines === query.tailLines) break;
        lines++;
      }
      visited.add(e.stream);
      i--;
    }
    out = out.slice(i);
  }
  return out;
}

/**
 * The entries of log file `file` that `query` selects; a missing file has none. With only a tail
 * asked for, the file is read backwards in growing blocks until the selection no longer reaches
 * the start of what was read, so `--tail=10` of a large log costs little. Synchronous (callers rely
 * on reading and subscribing in one tick); throws only on unexpected fs errors.
 */
export function readLogFile(file: string, query: LogQuery): LogEntry[] {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (query.tailLines < 0 || query.sinceNs > 0n) {
      const all = Buffer.alloc(size);
      const n = size > 0 ? fs.readSync(fd, all, 0, size, 0) : 0;
      return selectEntries(parseLog(all.subarray(0, n)), query);
    }
    let pos = size;
    let block = 64 * 1024;
    let data: Buffer = Buffer.alloc(0);
    while (pos > 0) {
      const n = Math.min(block, pos);
      pos -= n;
      const chunk = Buffer.alloc(n);
      fs.readSync(fd, chunk, 0, n, pos);
      data = Buffer.concat([chunk, data]);
      block *= 2;
      // Unless at the file's start, the first line read may be torn: leave it out.
      const from = pos > 0 ? data.indexOf(0x0a) + 1 : 0;
      if (pos > 0 && from === 0) continue;
      const entries = parseLog(data.subarray(from));
      const selected = selectEntries(entries, query);
      if (pos === 0 || selected.length < entries.length) return selected;
    }
    return selectEntries(parseLog(data), query);
  } finally {
    fs.closeSync(fd);
  }
}

/** A line as the gRPC API sends it. */
export interface RenderedLine {
  timeNs: bigint;
  stream: LogStream;
  content: Buffer;
}

/**
 * Renders entries for a client: a full entry gets its newline back; with `timestamps`, every
 * line start gets `<RFC3339Nano> ` before it. `lineStart` tracks per stream whether the next entry
 * begins a line (pass the same map across calls of one stream of output). Pure apart from that map.
 */
export function renderEntries(entries: LogEntry[], timestamps: boolean, lineStart: Map<LogStream, boolean>): RenderedLine[] {
  return entries.map((e) => {
    const starts = lineStart.get(e.stream) ?? true;
    lineStart.set(e.stream, !e.partial);
    const parts: Buffer[] = [];
    if (timestamps && starts) parts.push(Buffer.from(formatRFC3339Nano(e.timeNs) + ' '));
    parts.push(e.content);
    if (!e.partial) parts.push(Buffer.from('\n'));
    return { timeNs: e.timeNs, stream: e.stream, content: parts.length === 1 ? e.content : Buffer.concat(parts) };
  });
}
