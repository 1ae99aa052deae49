import { PkiError } from './errors';

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};
const COMPONENT = /(\d*)(?:\.(\d*))?([a-zµμ]+)/y;
/** Go's time.Duration is an int64 of nanoseconds. */
const MAX_MS = 9_223_372_036_854.775;

/**
 * Go's time.ParseDuration (what nebula-cert's -duration takes): `8760h`, `30m`, `1h30m`,
 * `1.5h`, `-2m`, `0`. Returns milliseconds.
 */
export function parseGoDuration(text: string): number {
  const bad = () => new PkiError('invalid-input', `invalid duration ${JSON.stringify(text)}: expected e.g. 8760h, 30m, 1h30m`);
  if (typeof text !== 'string') throw bad();
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest[0] === '-' ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw bad();
  let total = 0;
  COMPONENT.lastIndex = 0;
  while (COMPONENT.lastIndex < rest.length) {
    const start = COMPONENT.lastIndex;
    const match = COMPONENT.exec(rest);
    if (!match || match.index !== start) throw bad();
    const [, whole, fraction, unit] = match;
    if (whole === '' && (fraction === undefined || fraction === '')) throw bad();
    const scale = UNIT_MS[unit];
    if (scale === undefined) throw new PkiError('invalid-input', `invalid duration ${JSON.stringify(text)}: unknown unit ${JSON.stringify(unit)}`);
    total += Number(`${whole || '0'}.${fraction ?? ''}0`) * scale;
  }
  if (total > MAX_MS) throw bad();
  return sign * total;
}
