/** durationMsFromEnv: the kubelet's KUBEMU_KUBELET_SYNC_FREQUENCY_MS and _HOUSEKEEPING_MS. */
import { durationMsFromEnv } from '../../services/lib/config';

test('durationMsFromEnv - unset or empty is undefined (the default applies); a positive whole number is taken', () => {
  expect(durationMsFromEnv({}, 'X_MS')).toBeUndefined();
  expect(durationMsFromEnv({ X_MS: '' }, 'X_MS')).toBeUndefined();
  expect(durationMsFromEnv({ X_MS: '600000' }, 'X_MS')).toBe(600000);
});

test('durationMsFromEnv - anything else fails naming the variable and the value', () => {
  for (const bad of ['0', '-5', '1.5', '10s', 'abc']) {
    expect(() => durationMsFromEnv({ X_MS: bad }, 'X_MS')).toThrow(`X_MS: must be a positive whole number of milliseconds, got "${bad}"`);
  }
});
