/**
 * The cron schedule syntax CronJobs accept: robfig/cron's standard parser (5 fields, or a
 * descriptor such as @hourly or `@every 1h30m`), with its error messages, which Kubernetes
 * passes through verbatim. Also time zone names as Go's time.LoadLocation resolves them.
 *
 * Pure functions, safe to call concurrently.
 */

interface Bounds {
  min: number;
  max: number;
  names?: { [name: string]: number };
}

const MINUTES: Bounds = { min: 0, max: 59 };
const HOURS: Bounds = { min: 0, max: 23 };
const DOM: Bounds = { min: 1, max: 31 };
const MONTHS: Bounds = {
  min: 1,
  max: 12,
  names: { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 },
};
const DOW: Bounds = { min: 0, max: 6, names: { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } };

const DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

// Go's %s of a []string: [a b c].
function goFields(fields: string[]): string {
  return '[' + fields.join(' ') + ']';
}

// mustParseInt: strconv.Atoi plus a sign check, with their messages.
function parseUint(expr: string): number {
  if (!/^[+-]?[0-9]+$/.test(expr)) throw new Error(`failed to parse int from ${expr}: strconv.Atoi: parsing ${JSON.stringify(expr)}: invalid syntax`);
  const n = Number(expr);
  if (!Number.isSafeInteger(n) || Math.abs(n) > 2 ** 63 - 1) {
    throw new Error(`failed to parse int from ${expr}: strconv.Atoi: parsing ${JSON.stringify(expr)}: value out of range`);
  }
  if (n < 0) throw new Error(`negative number (${n}) not allowed: ${expr}`);
  return n;
}

function parseIntOrName(expr: string, names: Bounds['names']): number {
  const named = names?.[expr.toLowerCase()];
  return named !== undefined ? named : parseUint(expr);
}

function checkRange(expr: string, r: Bounds): void {
  const rangeAndStep = expr.split('/');
  const lowAndHigh = rangeAndStep[0].split('-');
  const single = lowAndHigh.length === 1;
  let start: number;
  let end: number;
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    start = r.min;
    end = r.max;
  } else {
    start = parseIntOrName(lowAndHigh[0], r.names);
    if (lowAndHigh.length === 1) end = start;
    else if (lowAndHigh.length === 2) end = parseIntOrName(lowAndHigh[1], r.names);
    else throw new Error(`too many hyphens: ${expr}`);
  }
  let step = 1;
  if (rangeAndStep.length === 2) {
    step = parseUint(rangeAndStep[1]);
    // "N/step" means "N-max/step".
    if (single) end = r.max;
  } else if (rangeAndStep.length > 2) {
    throw new Error(`too many slashes: ${expr}`);
  }
  if (start < r.min) throw new Error(`beginning of range (${start}) below minimum (${r.min}): ${expr}`);
  if (end > r.max) throw new Error(`end of range (${end}) above maximum (${r.max}): ${expr}`);
  if (start > end) throw new Error(`beginning of range (${start}) beyond end of range (${end}): ${expr}`);
  if (step === 0) throw new Error(`step of range should be a positive number: ${expr}`);
}

// Go's time.ParseDuration, enough to accept or reject a value.
function checkGoDuration(s: string): void {
  const re = /^[-+]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$/;
  if (s === '0' || re.test(s)) return;
  const unitless = /^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$/.test(s);
  throw new Error(unitless ? `time: missing unit in duration ${JSON.stringify(s)}` : `time: invalid duration ${JSON.stringify(s)}`);
}

/**
 * Checks a schedule as cron.ParseStandard does. Returns undefined when it parses, or the
 * parser's error message (e.g. `expected exactly 5 fields, found 4: [* * * *]`).
 */
export function cronScheduleError(spec: string): string | undefined {
  try {
    let s = spec;
    if (s.length === 0) return 'empty spec string';
    if (s.startsWith('TZ=') || s.startsWith('CRON_TZ=')) {
      const space = s.indexOf(' ');
      const eq = s.indexOf('=');
      const zone = space < 0 ? s.slice(eq + 1) : s.slice(eq + 1, space);
      const why = timeZoneError(zone);
      if (why) return `provided bad location ${zone}: ${why}`;
      s = space < 0 ? '' : s.slice(space).trim();
    }
    if (s.startsWith('@')) {
      if (DESCRIPTORS.has(s)) return undefined;
      if (s.startsWith('@every ')) {
        try {
          checkGoDuration(s.slice('@every '.length));
        } catch (err) {
          return `failed to parse duration ${s}: ${(err as Error).message}`;
        }
        return undefined;
      }
      return `unrecognized descriptor: ${s}`;
    }
    const fields = s.split(/\s+/).filter((f) => f.length > 0);
    if (fields.length !== 5) return `expected exactly 5 fields, found ${fields.length}: ${goFields(fields)}`;
    const bounds = [MINUTES, HOURS, DOM, MONTHS, DOW];
    fields.forEach((f, i) => {
      for (const expr of f.split(',').filter((e) => e.length > 0)) checkRange(expr, bounds[i]);
    });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Checks a time zone name as time.LoadLocation would (using the IANA database ICU ships with
 * Node). Returns undefined when known, else Go's error text (`unknown time zone Foo/Bar`).
 */
export function timeZoneError(zone: string): string | undefined {
  if (zone === '' || zone === 'UTC') return undefined;
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
    // ICU ignores case; Go reads tzdata files, whose names are case-sensitive.
    if (resolved !== zone && resolved.toLowerCase() === zone.toLowerCase()) return `unknown time zone ${zone}`;
    return undefined;
  } catch {
    return `unknown time zone ${zone}`;
  }
}
