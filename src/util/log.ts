/**
 * The logger lifeline writes to (docs/spec/0016-logging.md): a minimal, pino-compatible
 * interface, so a pino logger is passed as it is while the library never imports pino at run
 * time (the browser bundle could not, and an application may prefer another logger). The
 * default is NO_LOG: nothing is written, and callers check `logEnabled` before building a line,
 * so a server without a logger builds no object, string or child logger for any connection.
 *
 * Pure (util/): no node:*, no Buffer — the browser client shares it.
 */

/** One level's method: pino's `(mergingObject, message)` form, the only one lifeline calls. */
export type LogFn = (obj: Record<string, unknown>, msg?: string) => void;

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** What lifeline needs of a logger; pino's `Logger` fits as it is. */
export interface Logger {
  child(bindings: Record<string, unknown>): Logger;
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** pino's: whether a line at `level` would be written. Without it every level counts as on. */
  isLevelEnabled?(level: string): boolean;
}

const nothing: LogFn = () => {};

/** The default: writes nothing, and says so to `logEnabled` (its own child is itself). */
export const NO_LOG: Logger = Object.freeze({
  child: () => NO_LOG,
  trace: nothing,
  debug: nothing,
  info: nothing,
  warn: nothing,
  error: nothing,
  isLevelEnabled: () => false,
});

/**
 * Whether a line at `level` would be written: asked at every line (not cached), so a logger
 * whose level the application changes at run time is followed at once. Cheap: one call.
 */
export function logEnabled(log: Logger, level: LogLevel): boolean {
  if (log === NO_LOG) return false;
  return log.isLevelEnabled === undefined || log.isLevelEnabled(level);
}

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

/** For option validation: the five level methods and child() are functions. */
export function isLogger(value: unknown): value is Logger {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.child === 'function' && LEVELS.every((level) => typeof v[level] === 'function');
}

/**
 * A duration as people read it in a log line: "850 ms", "1.2 s", "4 min 05 s", "2 h 03 min".
 * Log lines are read, not parsed: the exact number stays in the line's `*Ms` field when it
 * matters (rounded to whole ms).
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return 'unknown';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  const totalS = Math.round(ms / 1000);
  if (totalS < 3600) return `${Math.floor(totalS / 60)} min ${String(totalS % 60).padStart(2, '0')} s`;
  const totalMin = Math.round(totalS / 60);
  return `${Math.floor(totalMin / 60)} h ${String(totalMin % 60).padStart(2, '0')} min`;
}

/** `addr:port` (`[v6]:port`), or 'unknown' when the transport does not say. */
export function formatRemote(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  const host = address.includes(':') ? `[${address}]` : address;
  return port === undefined ? host : `${host}:${port}`;
}
