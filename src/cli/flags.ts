// Numeric command-line flags: commander hands over strings; these say which flag is wrong.
import { InputError } from '../errors.js';

/** The number in `value` (undefined when the flag was not given), checked by `check`. */
export function numberFlag(name: string, value: string | undefined, check: (n: number) => boolean = Number.isFinite): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !check(n)) throw new InputError(`--${name} must be a number, got '${value}'`);
  return n;
}

export const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
