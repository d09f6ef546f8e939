/**
 * When a CronJob's schedule fires next, as robfig/cron v3 (which the CronJob controller uses)
 * computes it: SpecSchedule.Next for 5-field schedules and the @yearly/@annually/@monthly/
 * @weekly/@daily/@midnight/@hourly descriptors, ConstantDelaySchedule for `@every <duration>`
 * (cron.ParseStandard accepts it, so Kubernetes does too). Day-of-month and day-of-week are ORed
 * unless either field starts with `*` or `?`. Times are computed in an IANA time zone through
 * Intl, with Go's time.Date rules for wall-clock times that a DST change skips or repeats (so a
 * schedule in a skipped hour does not fire that day, one in a repeated hour fires twice).
 *
 * Syntax checking is the apiserver's validation (validation/cron.ts, cronScheduleError), reused
 * here: parseSchedule rejects what it rejects, with its messages, and only expands fields it
 * accepted. Pure functions, safe to call concurrently.
 */
import { cronScheduleError, timeZoneError } from '../../kube-apiserver/validation/cron';

/** A parsed schedule. */
export interface Schedule {
  /** The first activation strictly after `t` (ms since the epoch), or undefined when none within 5 years. */
  next(t: number): number | undefined;
}

interface Field {
  bits: Set<number>;
  /** The field started with `*` or `?` without a step > 1 (robfig's starBit). */
  star: boolean;
}

const BOUNDS = {
  minute: { min: 0, max: 59 },
  hour: { min: 0, max: 23 },
  dom: { min: 1, max: 31 },
  month: { min: 1, max: 12, names: { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 } as Record<string, number> },
  dow: { min: 0, max: 6, names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } as Record<string, number> },
};
type Bounds = { min: number; max: number; names?: Record<string, number> };

/** Expands one field already accepted by cronScheduleError (robfig's getField/getRange). */
function expandField(field: string, b: Bounds): Field {
  const bits = new Set<number>();
  let star = false;
  for (const expr of field.split(',').filter((e) => e.length > 0)) {
    const [range, stepText] = expr.split('/');
    const lowHigh = range.split('-');
    const num = (s: string) => b.names?.[s.toLowerCase()] ?? Number(s);
    let start: number;
    let end: number;
    let exprStar = false;
    if (lowHigh[0] === '*' || lowHigh[0] === '?') {
      start = b.min;
      end = b.max;
      exprStar = true;
    } else {
      start = num(lowHigh[0]);
      end = lowHigh.length === 2 ? num(lowHigh[1]) : start;
    }
    let step = 1;
    if (stepText !== undefined) {
      step = Number(stepText);
      // "N/step" means "N-max/step".
      if (lowHigh.length === 1) end = b.max;
      if (step > 1) exprStar = false;
    }
    for (let i = start; i <= end; i += step) bits.add(i);
    star ||= exprStar;
  }
  return { bits, star };
}

const all = (b: Bounds): Field => ({ bits: new Set(Array.from({ length: b.max - b.min + 1 }, (_, i) => b.min + i)), star: true });
const one = (v: number): Field => ({ bits: new Set([v]), star: false });

// ---------------------------------------------------------------- time in a zone

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** The wall clock of instant `t` in `zone` (Go's t.In(loc).Date()/Clock()/Weekday()). */
export function partsIn(t: number, zone: string): Parts {
  if (zone === 'UTC') {
    const d = new Date(t);
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), weekday: d.getUTCDay() };
  }
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
      era: 'short',
    });
    formatters.set(zone, f);
  }
  const p: Record<string, string> = {};
  for (const part of f.formatToParts(new Date(t))) p[part.type] = part.value;
  let year = Number(p.year);
  if (p.era === 'BC') year = 1 - year;
  return { year, month: Number(p.month), day: Number(p.day), hour: Number(p.hour) % 24, minute: Number(p.minute), second: Number(p.second), weekday: WEEKDAYS[p.weekday] ?? 0 };
}

/** The zone's UTC offset at instant `t`, in ms (east positive). */
export function offsetAt(t: number, zone: string): number {
  if (zone === 'UTC') return 0;
  const s = Math.floor(t / 1000) * 1000;
  const p = partsIn(s, zone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - s;
}

/**
 * The instant of a wall-clock time in `zone` (Go's time.Date): fields out of range are
 * normalized; the offset is the one in force at the local time read as UTC, corrected once if
 * that offset does not hold at the result — so a repeated time is its first occurrence, and a
 * time a DST change skipped lands an hour off (New York 02:30 on a spring-forward night is 01:30
 * EST, Berlin's is 03:30 CEST), exactly as Go resolves it.
 */
export function dateIn(year: number, month: number, day: number, hour: number, minute: number, second: number, zone: string): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  const local = d.getTime();
  if (zone === 'UTC') return local;
  const o1 = offsetAt(local, zone);
  const utc = local - o1;
  const o2 = offsetAt(utc, zone);
  return o2 === o1 ? utc : local - o2;
}

/** RFC 3339 in `zone` as Go formats it: "2026-11-23T06:00:00+01:00", or "Z" for UTC. */
export function formatRFC3339In(t: number, zone: string): string {
  const p = partsIn(t, zone);
  const off = Math.round(offsetAt(t, zone) / 60000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const tz = off === 0 ? 'Z' : `${off < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}${tz}`;
}

// ---------------------------------------------------------------- schedules

class SpecSchedule implements Schedule {
  constructor(
    private readonly minute: Field,
    private readonly hour: Field,
    private readonly dom: Field,
    private readonly month: Field,
    private readonly dow: Field,
    private readonly zone: string,
  ) {}

  private dayMatches(p: Parts): boolean {
    const domMatch = this.dom.bits.has(p.day);
    const dowMatch = this.dow.bits.has(p.weekday);
    if (this.dom.star || this.dow.star) return domMatch && dowMatch;
    return domMatch || dowMatch;
  }

  next(from: number): number | undefined {
    const z = this.zone;
    // The earliest possible time: the next whole second.
    let t = Math.floor(from / 1000) * 1000 + 1000;
    let added = false;
    const yearLimit = partsIn(t, z).year + 5;
    for (;;) {
      // WRAP
      let p = partsIn(t, z);
      if (p.year > yearLimit) return undefined;
      let wrap = false;
      while (!this.month.bits.has(p.month)) {
        if (!added) {
          added = true;
          t = dateIn(p.year, p.month, 1, 0, 0, 0, z);
          p = partsIn(t, z);
        }
        t = dateIn(p.year, p.month + 1, p.day, p.hour, p.minute, p.second, z);
        p = partsIn(t, z);
        if (p.month === 1) {
          wrap = true;
          break;
        }
      }
      if (wrap) continue;
      while (!this.dayMatches(p)) {
        if (!added) {
          added = true;
          t = dateIn(p.year, p.month, p.day, 0, 0, 0, z);
          p = partsIn(t, z);
        }
        t = dateIn(p.year, p.month, p.day + 1, p.hour, p.minute, p.second, z);
        p = partsIn(t, z);
        // A DST change may have moved midnight: back to 0 o'clock.
        if (p.hour !== 0) {
          t += (p.hour > 12 ? 24 - p.hour : -p.hour) * 3600_000;
          p = partsIn(t, z);
        }
        if (p.day === 1) {
          wrap = true;
          break;
        }
      }
      if (wrap) continue;
      while (!this.hour.bits.has(p.hour)) {
        if (!added) {
          added = true;
          t = dateIn(p.year, p.month, p.day, p.hour, 0, 0, z);
        }
        t += 3600_000;
        p = partsIn(t, z);
        if (p.hour === 0) {
          wrap = true;
          break;
        }
      }
      if (wrap) continue;
      while (!this.minute.bits.has(p.minute)) {
        if (!added) {
          added = true;
          t -= ((t % 60_000) + 60_000) % 60_000;
        }
        t += 60_000;
        p = partsIn(t, z);
        if (p.minute === 0) {
          wrap = true;
          break;
        }
      }
      if (wrap) continue;
      // Standard schedules fire at second 0.
      while (p.second !== 0) {
        if (!added) {
          added = true;
          t -= ((t % 1000) + 1000) % 1000;
        }
        t += 1000;
        p = partsIn(t, z);
        if (p.second === 0) {
          wrap = true;
          break;
        }
      }
      if (wrap) continue;
      return t;
    }
  }
}

/** `@every d`: d rounded down to whole seconds (at least 1 s) after the last whole second. */
class ConstantDelaySchedule implements Schedule {
  constructor(private readonly delayMs: number) {}

  next(t: number): number {
    return t + this.delayMs - (((t % 1000) + 1000) % 1000);
  }
}

/** Go's time.ParseDuration for values cronScheduleError accepted, in ms. */
function goDurationMs(s: string): number {
  if (s === '0') return 0;
  const sign = s.startsWith('-') ? -1 : 1;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3600_000 };
  let total = 0;
  for (const m of s.replace(/^[-+]/, '').matchAll(/([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]];
  return sign * total;
}

/** An error for a schedule the parser rejects; message as cron.ParseStandard's. */
export class ScheduleParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleParseError';
  }
}

/**
 * Parses a schedule as cron.ParseStandard with the CronJob's time zone (Kubernetes prefixes
 * `TZ=<timeZone> `; no zone means the controller's, which kubemu takes as UTC). A TZ= or CRON_TZ=
 * prefix inside the schedule is honoured as robfig does (validation rejects it for new CronJobs).
 * Throws ScheduleParseError with the parser's message.
 */
export function parseSchedule(spec: string, timeZone?: string): Schedule {
  const why = cronScheduleError(spec);
  if (why) throw new ScheduleParseError(why);
  let zone = timeZone || 'UTC';
  if (timeZone) {
    const tzWhy = timeZoneError(timeZone);
    if (tzWhy) throw new ScheduleParseError(`provided bad location ${timeZone}: ${tzWhy}`);
  }
  let s = spec;
  if (s.startsWith('TZ=') || s.startsWith('CRON_TZ=')) {
    const space = s.indexOf(' ');
    zone = s.slice(s.indexOf('=') + 1, space < 0 ? undefined : space) || 'UTC';
    s = space < 0 ? '' : s.slice(space).trim();
  }
  if (s.startsWith('@every ')) return new ConstantDelaySchedule(Math.max(1000, Math.floor(goDurationMs(s.slice(7)) / 1000) * 1000));
  const b = BOUNDS;
  switch (s) {
    case '@yearly':
    case '@annually':
      return new SpecSchedule(one(0), one(0), one(1), one(1), all(b.dow), zone);
    case '@monthly':
      return new SpecSchedule(one(0), one(0), one(1), all(b.month), all(b.dow), zone);
    case '@weekly':
      return new SpecSchedule(one(0), one(0), all(b.dom), all(b.month), one(0), zone);
    case '@daily':
    case '@midnight':
      return new SpecSchedule(one(0), one(0), all(b.dom), all(b.month), all(b.dow), zone);
    case '@hourly':
      return new SpecSchedule(one(0), all(b.hour), all(b.dom), all(b.month), all(b.dow), zone);
  }
  const f = s.split(/\s+/).filter((x) => x.length > 0);
  return new SpecSchedule(expandField(f[0], b.minute), expandField(f[1], b.hour), expandField(f[2], b.dom), expandField(f[3], b.month), expandField(f[4], b.dow), zone);
}
