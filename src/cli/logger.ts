/**
 * CLI logging: pino JSON lines on stderr (stdout stays free for messages), pretty-printed when
 * stderr is a terminal. `--log json` forces JSON (the demo parses its children's logs). The
 * environment's LIFELINE_LOG_LEVEL (trace, debug, info, warn, error, silent) overrides the
 * command's level: e.g. debug shows the library's handshake and resume lines and why an
 * `authenticate` hook refused (docs/spec/0016-logging.md). The logger is passed to the library
 * as its `logger` option.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'auto' | 'json' | 'pretty';

export function createLogger(name: string, format: LogFormat = 'auto', commandLevel = 'info'): Logger {
  const level = process.env.LIFELINE_LOG_LEVEL || commandLevel;
  const usePretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  if (usePretty) {
    return pino({ name, level }, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino({ name, level, base: { name } }, pino.destination({ dest: 2, sync: true }));
}
