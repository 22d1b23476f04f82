import pino, { type Logger } from 'pino';

export type { Logger };

/** Paths pino blanks out: tokens, keys and secrets never reach a log line. */
const REDACT = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  'api_key',
  '*.api_key',
  'admin_key',
  '*.admin_key',
  'private_key',
  '*.private_key',
  'key',
  '*.key',
];

export function createLogger(opts: { name: string; level?: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}
