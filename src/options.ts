/** Option helpers shared by server and client (validation fails fast and names the option). */
import { InvalidOptionError } from './errors.js';

export function positiveNumber(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(name, `must be a positive finite number, got ${String(value)}`);
  }
}

export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
