/**
 * Cron schedules as robfig/cron v3 computes them for the CronJob controller: next activation for
 * standard fields, ranges, steps, names, descriptors, @every, the day-of-month / day-of-week OR
 * rule, time zones and DST gaps and repeats; the missed-schedule arithmetic and job naming.
 */
import { CronJob } from '../../services/lib/generated/kubemu/batch/v1/batch';
import { formatRFC1123Z, jobNameFor, mostRecentScheduleTime, nextScheduleDelay } from '../../services/kube-controller-manager/cronjob/controller';
import { dateIn, formatRFC3339In, parseSchedule } from '../../services/kube-controller-manager/cronjob/schedule';

// 2026-11-23 is a Monday.
const MON = '2026-11-23T04:31:18Z';

describe('cron schedule - next activation', () => {
  const cases: { name: string; spec: string; zone?: string; from: string; next: string | undefined }[] = [
    { name: 'every minute', spec: '* * * * *', from: MON, next: '2026-11-23T04:32:00Z' },
    { name: 'every minute, exactly on a minute: strictly after', spec: '* * * * *', from: '2026-11-23T04:32:00Z', next: '2026-11-23T04:33:00Z' },
    { name: 'yearly by fields', spec: '0 0 1 1 *', from: MON, next: '2027-01-01T00:00:00Z' },
    { name: '@yearly', spec: '@yearly', from: MON, next: '2027-01-01T00:00:00Z' },
    { name: '@annually', spec: '@annually', from: MON, next: '2027-01-01T00:00:00Z' },
    { name: '@monthly', spec: '@monthly', from: MON, next: '2026-12-01T00:00:00Z' },
    { name: '@weekly (Sunday midnight)', spec: '@weekly', from: MON, next: '2026-11-29T00:00:00Z' },
    { name: '@daily', spec: '@daily', from: MON, next: '2026-11-24T00:00:00Z' },
    { name: '@midnight', spec: '@midnight', from: MON, next: '2026-11-24T00:00:00Z' },
    { name: '@hourly', spec: '@hourly', from: MON, next: '2026-11-23T05:00:00Z' },
    { name: '@every 1h30m from a fractional second', spec: '@every 1h30m', from: '2026-11-23T04:31:18.500Z', next: '2026-11-23T06:01:18Z' },
    { name: '@every below a second is a second', spec: '@every 10ms', from: '2026-11-23T04:31:18.500Z', next: '2026-11-23T04:31:19Z' },
    { name: 'step within a range', spec: '*/15 9-17 * * 1-5', from: '2026-11-27T17:40:00Z', next: '2026-11-27T17:45:00Z' },
    { name: 'range ends on Friday: next Monday', spec: '*/15 9-17 * * 1-5', from: '2026-11-27T17:50:00Z', next: '2026-11-30T09:00:00Z' },
    { name: 'N/step means N-max/step', spec: '50/5 * * * *', from: MON, next: '2026-11-23T04:50:00Z' },
    { name: 'list', spec: '5,20,40 * * * *', from: MON, next: '2026-11-23T04:40:00Z' },
    { name: 'month and weekday names', spec: '0 0 1 jan,JUL *', from: MON, next: '2027-01-01T00:00:00Z' },
    { name: 'weekday name', spec: '0 12 * * sat', from: MON, next: '2026-11-28T12:00:00Z' },
    { name: 'dom and dow both restricted: OR (13th or Friday)', spec: '0 9 13 * 5', from: MON, next: '2026-11-27T09:00:00Z' },
    { name: 'dom restricted, dow *: the 13th only', spec: '0 9 13 * *', from: MON, next: '2026-12-13T09:00:00Z' },
    { name: 'dom */1 keeps the star: AND (Fridays only)', spec: '0 9 */1 * 5', from: MON, next: '2026-11-27T09:00:00Z' },
    { name: 'dom 1-31 is no star: OR (every day)', spec: '0 9 1-31 * 5', from: MON, next: '2026-11-23T09:00:00Z' },
    { name: 'dom ? is a star', spec: '0 9 ? * 5', from: MON, next: '2026-11-27T09:00:00Z' },
    { name: 'leap day', spec: '0 0 29 2 *', from: MON, next: '2028-02-29T00:00:00Z' },
    { name: 'February 30th never comes', spec: '0 0 30 2 *', from: MON, next: undefined },
    { name: 'time zone with a half-hour offset', spec: '0 9 * * *', zone: 'Asia/Kolkata', from: MON, next: '2026-11-24T09:00:00+05:30' },
    { name: 'time zone west of UTC', spec: '0 9 * * *', zone: 'America/New_York', from: MON, next: '2026-11-23T09:00:00-05:00' },
    { name: 'DST gap (New York): 02:30 does not exist on 8 March, skipped that day', spec: '30 2 * * *', zone: 'America/New_York', from: '2026-03-07T12:00:00Z', next: '2026-03-09T02:30:00-04:00' },
    { name: 'DST gap (Berlin): 02:30 does not exist on 29 March', spec: '30 2 * * *', zone: 'Europe/Berlin', from: '2026-03-28T12:00:00Z', next: '2026-03-30T02:30:00+02:00' },
    { name: 'DST repeat (New York): 01:30 EDT then 01:30 EST', spec: '30 1 * * *', zone: 'America/New_York', from: '2026-11-01T05:31:00Z', next: '2026-11-01T01:30:00-05:00' },
    { name: 'daily after the change keeps local time', spec: '0 9 * * *', zone: 'Europe/Berlin', from: '2026-03-28T09:00:00Z', next: '2026-03-29T09:00:00+02:00' },
    { name: 'hourly across the spring gap', spec: '0 * * * *', zone: 'America/New_York', from: '2026-03-08T06:30:00Z', next: '2026-03-08T03:00:00-04:00' },
  ];
  test.each(cases)('$name: $spec', ({ spec, zone, from, next }) => {
    const t = parseSchedule(spec, zone).next(Date.parse(from));
    if (next === undefined) expect(t).toBeUndefined();
    else expect(t === undefined ? 'none' : formatRFC3339In(t, zone ?? 'UTC')).toBe(next);
  });

  test('a schedule the apiserver rejects is rejected with the parser message', () => {
    expect(() => parseSchedule('* * * *')).toThrow('expected exactly 5 fields, found 4: [* * * *]');
    expect(() => parseSchedule('61 * * * *')).toThrow('end of range (61) above maximum (59): 61');
    expect(() => parseSchedule('@fortnightly')).toThrow('unrecognized descriptor: @fortnightly');
    expect(() => parseSchedule('* * * * *', 'Mars/Olympus')).toThrow('unknown time zone Mars/Olympus');
  });
});

describe('cron schedule - wall clock in a zone', () => {
  test("dateIn: a skipped time is resolved as Go's time.Date does, a repeated one is its first occurrence", () => {
    // Go: New York 02:30 on 8 March is 01:30 EST; Berlin 02:30 on 29 March is 03:30 CEST.
    expect(new Date(dateIn(2026, 3, 8, 2, 30, 0, 'America/New_York')).toISOString()).toBe('2026-03-08T06:30:00.000Z');
    expect(new Date(dateIn(2026, 3, 29, 2, 30, 0, 'Europe/Berlin')).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(new Date(dateIn(2026, 11, 1, 1, 30, 0, 'America/New_York')).toISOString()).toBe('2026-11-01T05:30:00.000Z');
    expect(new Date(dateIn(2026, 13, 1, 0, 0, 0, 'UTC')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });
  test('RFC 3339 in a zone, RFC 1123Z in UTC, job names in minutes', () => {
    const t = Date.parse('2026-11-23T05:00:00Z');
    expect(formatRFC3339In(t, 'UTC')).toBe('2026-11-23T05:00:00Z');
    expect(formatRFC3339In(t, 'Europe/Berlin')).toBe('2026-11-23T06:00:00+01:00');
    expect(formatRFC3339In(t, 'America/St_Johns')).toBe('2026-11-23T01:30:00-03:30');
    expect(formatRFC1123Z(t)).toBe('Mon, 23 Nov 2026 05:00:00 +0000');
    expect(jobNameFor('hello', t)).toBe(`hello-${t / 60000}`);
    expect(jobNameFor('hello', t + 59_999)).toBe(`hello-${t / 60000}`);
  });
});

describe('cron schedule - missed schedules', () => {
  const cj = (over: Partial<{ created: string; last: string; deadline: number; schedule: string }>): CronJob => ({
    metadata: { name: 'c', namespace: 'default', creationTimestamp: over.created ?? '2026-11-23T04:00:30Z' },
    spec: { schedule: over.schedule ?? '*/5 * * * *', startingDeadlineSeconds: over.deadline },
    status: { lastScheduleTime: over.last },
  });
  const sched = parseSchedule('*/5 * * * *');
  const at = (s: string) => Date.parse(s);

  test('nothing due before the first schedule time', () => {
    expect(mostRecentScheduleTime(cj({}), at('2026-11-23T04:04:59Z'), sched, true)).toEqual({ earliest: at('2026-11-23T04:00:30Z'), missed: 0 });
  });
  test('one due', () => {
    expect(mostRecentScheduleTime(cj({}), at('2026-11-23T04:06:00Z'), sched, true)).toMatchObject({ mostRecent: at('2026-11-23T04:05:00Z'), missed: 1 });
  });
  test('several missed: the most recent is started, the count approximated', () => {
    const r = mostRecentScheduleTime(cj({ last: '2026-11-23T04:05:00Z' }), at('2026-11-23T04:31:00Z'), sched, true);
    expect(r.mostRecent).toBe(at('2026-11-23T04:30:00Z'));
    expect(r.missed).toBe(5);
  });
  test('over 100 missed (the TooManyMissedTimes warning threshold)', () => {
    const r = mostRecentScheduleTime(cj({ last: '2026-11-22T04:00:00Z' }), at('2026-11-23T04:31:00Z'), sched, true);
    expect(r.missed).toBeGreaterThan(100);
    expect(r.mostRecent).toBe(at('2026-11-23T04:30:00Z'));
  });
  test('startingDeadlineSeconds moves the earliest time up', () => {
    const r = mostRecentScheduleTime(cj({ last: '2026-11-22T04:00:00Z', deadline: 200 }), at('2026-11-23T04:31:00Z'), sched, true);
    expect(r.earliest).toBe(at('2026-11-23T04:27:40Z'));
    expect(r).toMatchObject({ mostRecent: at('2026-11-23T04:30:00Z'), missed: 1 });
  });
  test('requeue: at the next schedule time plus 100 ms', () => {
    expect(nextScheduleDelay(cj({ last: '2026-11-23T04:30:00Z' }), at('2026-11-23T04:31:00Z'), sched)).toBe(4 * 60_000 + 100);
  });
});
