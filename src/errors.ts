/**
 * The LifelineError family. Every failure has a stable string `code` (LL_ERR_*), and where it
 * ends a connection, the wire `closeCode` to send. docs/errors.md lists them all.
 * Pure module (no `node:*`): protocol/ and liveness/ throw these too.
 */
import type { CloseCode } from './protocol/frames.js';

export type ErrorCode =
  | 'LL_ERR_UNKNOWN_FRAME_TYPE'
  | 'LL_ERR_FRAME_TOO_LARGE'
  | 'LL_ERR_MALFORMED_FRAME'
  | 'LL_ERR_TRUNCATED_FRAME'
  | 'LL_ERR_UNEXPECTED_FRAME'
  | 'LL_ERR_UNSUPPORTED_VERSION'
  | 'LL_ERR_INVALID_OPTION'
  | 'LL_ERR_NOT_OPEN'
  | 'LL_ERR_BUFFER_OVERFLOW'
  | 'LL_ERR_SERVER_NOT_LISTENING'
  | 'LL_ERR_WS_TEXT_MESSAGE'
  | 'LL_ERR_WS_CLOSED'
  | 'LL_ERR_WS_PROTOCOL'
  | 'LL_ERR_WS_MESSAGE_TOO_LARGE'
  | 'LL_ERR_UDP_RESET'
  | 'LL_ERR_UDP_UNREACHABLE'
  | 'LL_ERR_INVALID_TOKEN';

export class LifelineError extends Error {
  readonly code: ErrorCode;
  /** Close code to send when this error ends a connection. */
  readonly closeCode: CloseCode | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; closeCode?: CloseCode } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.closeCode = options.closeCode;
  }

  /** `instanceof` that also works across duplicate copies of the package (undici's trick). */
  static is(value: unknown): value is LifelineError {
    return (
      typeof value === 'object' &&
      value !== null &&
      typeof (value as { code?: unknown }).code === 'string' &&
      (value as { code: string }).code.startsWith('LL_ERR_')
    );
  }
}

/** The peer sent bytes that violate PROTOCOL.md. Always closes with `protocol-error`. */
export class ProtocolError extends LifelineError {
  constructor(
    code: Extract<
      ErrorCode,
      | 'LL_ERR_UNKNOWN_FRAME_TYPE'
      | 'LL_ERR_FRAME_TOO_LARGE'
      | 'LL_ERR_MALFORMED_FRAME'
      | 'LL_ERR_TRUNCATED_FRAME'
      | 'LL_ERR_UNEXPECTED_FRAME'
    >,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, { ...options, closeCode: 'protocol-error' });
  }
}

/** A constructor or method got an option it cannot use; names the option. */
export class InvalidOptionError extends LifelineError {
  constructor(option: string, message: string) {
    super('LL_ERR_INVALID_OPTION', `invalid option ${option}: ${message}`);
  }
}

/**
 * send() would exceed a hard buffer bound (messages waiting for the peer's acknowledgement, or
 * queued before the connection opened). Nothing was queued: the caller still owns the message.
 */
export class BufferOverflowError extends LifelineError {
  constructor(message: string) {
    super('LL_ERR_BUFFER_OVERFLOW', message);
  }
}
