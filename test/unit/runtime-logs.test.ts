import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import {
  ContainerLogWriter,
  LogEntry,
  MAX_ENTRY_BYTES,
  formatRFC3339Nano,
  nowNanos,
  parseLog,
  parseRFC3339Nano,
  readLogFile,
  renderEntries,
  selectEntries,
} from '../../services/container-runtime/logs';

const entry = (t: number, stream: 'stdout' | 'stderr', content: string, partial = false): LogEntry => ({ timeNs: BigInt(t), stream, partial, content: Buffer.from(content) });
const text = (entries: LogEntry[]) => renderEntries(entries, false, new Map()).map((l) => l.content.toString()).join('');

describe('CRI log format', () => {
  test('time - RFC 3339 with nanoseconds round-trips; nowNanos never goes back', () => {
    const ns = 1_795_000_000_123_456_789n;
    const s = formatRFC3339Nano(ns);
    expect(s).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.123456789Z$/);
    expect(parseRFC3339Nano(s)).toBe(ns);
    expect(parseRFC3339Nano('2026-01-01T00:00:00.5+01:00')).toBe(BigInt(Date.parse('2025-12-31T23:00:00Z')) * 1_000_000n + 500_000_000n);
    expect(parseRFC3339Nano('yesterday')).toBeUndefined();
    const a = nowNanos();
    expect(nowNanos()).toBeGreaterThanOrEqual(a);
    expect(Number(a / 1_000_000n)).toBeGreaterThan(Date.now() - 5000);
  });

  test('parseLog - reads F and P entries and skips malformed lines', () => {
    const data = Buffer.from(
      '2026-11-23T03:00:00.000000001Z stdout F hello world\n' +
        'garbage\n' +
        '2026-11-23T03:00:00.000000002Z stderr P part\n' +
        '2026-11-23T03:00:00.000000003Z stdout F \n' +
        '2026-11-23T03:00:00.000000004Z stdout X bad tag\n',
    );
    const entries = parseLog(data);
    expect(entries.map((e) => [e.stream, e.partial, e.content.toString()])).toEqual([
      ['stdout', false, 'hello world'],
      ['stderr', true, 'part'],
      ['stdout', false, ''],
    ]);
  });

  test('selectEntries - tail counts whole lines (P entries belong to the line their F ends); since filters by time', () => {
    const entries = [entry(1, 'stdout', 'a'), entry(2, 'stdout', 'b1', true), entry(3, 'stderr', 'err'), entry(4, 'stdout', 'b2'), entry(5, 'stdout', 'tail', true)];
    expect(text(selectEntries(entries, { tailLines: -1, sinceNs: 0n }))).toBe('a\nb1err\nb2\ntail');
    expect(text(selectEntries(entries, { tailLines: 1, sinceNs: 0n }))).toBe('tail');
    expect(text(selectEntries(entries, { tailLines: 2, sinceNs: 0n }))).toBe('b2\ntail');
    expect(text(selectEntries(entries, { tailLines: 3, sinceNs: 0n }))).toBe('b1err\nb2\ntail');
    expect(text(selectEntries(entries, { tailLines: 0, sinceNs: 0n }))).toBe('');
    expect(text(selectEntries(entries, { tailLines: -1, sinceNs: 4n }))).toBe('b2\ntail');
  });

  test('renderEntries - timestamps prefix only line starts, per stream', () => {
    const lines = renderEntries([entry(1, 'stdout', 'a', true), entry(2, 'stdout', 'b'), entry(3, 'stdout', 'c')], true, new Map());
    const ts = (n: number) => formatRFC3339Nano(BigInt(n));
    expect(lines.map((l) => l.content.toString())).toEqual([`${ts(1)} a`, 'b\n', `${ts(3)} c\n`]);
  });

  test('ContainerLogWriter - splits lines, marks long and unterminated ones partial, emits what it wrote, closes after both streams', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-logs-'));
    try {
      const file = path.join(dir, '0.log');
      const writer = new ContainerLogWriter(file);
      const out = new PassThrough();
      const err = new PassThrough();
      const emitted: LogEntry[] = [];
      writer.on('entries', (e: LogEntry[]) => emitted.push(...e));
      const closed = new Promise<void>((resolve) => writer.once('close', resolve));
      writer.follow('stdout', out);
      writer.follow('stderr', err);
      out.write('one\ntw');
      out.write('o\n' + 'x'.repeat(MAX_ENTRY_BYTES + 10) + '\nend');
      err.write('oops\n');
      out.end();
      err.end();
      await closed;
      const fromFile = parseLog(fs.readFileSync(file));
      expect(fromFile.map((e) => [e.stream, e.partial, e.content.length])).toEqual([
        ['stdout', false, 3],
        ['stdout', false, 3],
        ['stdout', true, MAX_ENTRY_BYTES],
        ['stdout', false, 10],
        ['stderr', false, 4],
        ['stdout', true, 3],
      ]);
      expect(emitted.map((e) => e.content.toString())).toEqual(fromFile.map((e) => e.content.toString()));
      expect(text(fromFile)).toBe('one\ntwo\n' + 'x'.repeat(MAX_ENTRY_BYTES + 10) + '\noops\nend');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('readLogFile - a tail read from the end of a large file equals the tail of the whole file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubemu-logs-'));
    try {
      const file = path.join(dir, '0.log');
      const ts = (i: number) => formatRFC3339Nano(1_795_000_000_000_000_000n + BigInt(i));
      const rows: string[] = [];
      for (let i = 0; i < 20000; i++) rows.push(`${ts(i)} ${i % 3 ? 'stdout' : 'stderr'} F line ${i}`);
      // A last line of 5 partial entries of 16 KiB: longer than the first block read.
      for (let k = 0; k < 5; k++) rows.push(`${ts(20000 + k)} stdout P ${String(k).repeat(MAX_ENTRY_BYTES)}`);
      rows.push(`${ts(20005)} stdout F end`);
      fs.writeFileSync(file, rows.join('\n') + '\n');
      const whole = parseLog(fs.readFileSync(file));
      for (const tailLines of [0, 1, 2, 3, 500, 19999, 20001, 30000]) {
        expect(text(readLogFile(file, { tailLines, sinceNs: 0n }))).toBe(text(selectEntries(whole, { tailLines, sinceNs: 0n })));
      }
      expect(text(readLogFile(file, { tailLines: 2, sinceNs: 0n }))).toBe('line 19999\n' + [0, 1, 2, 3, 4].map((k) => String(k).repeat(MAX_ENTRY_BYTES)).join('') + 'end\n');
      expect(readLogFile(file, { tailLines: -1, sinceNs: 0n })).toHaveLength(20006);
      expect(readLogFile(file, { tailLines: -1, sinceNs: 1_795_000_000_000_000_000n + 19998n })).toHaveLength(8);
      expect(readLogFile(path.join(dir, 'missing.log'), { tailLines: -1, sinceNs: 0n })).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
