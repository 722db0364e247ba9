/**
 * CLI logging: pino JSON lines on stderr (stdout stays free for messages), pretty-printed when
 * stderr is a terminal. `--log json` forces JSON (the demo parses its children's logs).
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'auto' | 'json' | 'pretty';

export function createLogger(name: string, format: LogFormat = 'auto', level = 'info'): Logger {
  const usePretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  if (usePretty) {
    return pino({ name, level }, pretty({ destination: 2, sync: true, colorize: true, ignore: 'pid,hostname' }));
  }
  return pino({ name, level, base: { name } }, pino.destination({ dest: 2, sync: true }));
}
