import winston from 'winston';
import { escapeControls } from '../core/escape.js';
import type { Redactor } from './redact.js';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export type LogMeta = Record<string, unknown>;

/** Static messages plus a metadata object: logger.info('check finished', { monitor, check, reason }). */
export interface Logger {
  debug(message: string, meta?: LogMeta): void;
  info(message: string, meta?: LogMeta): void;
  warn(message: string, meta?: LogMeta): void;
  error(message: string, meta?: LogMeta): void;
  /** A logger that adds `meta` to every entry (call-site meta wins on a clash). */
  child(meta: LogMeta): Logger;
}

export interface LoggerOptions {
  /** One of LOG_LEVELS; default 'info'. */
  level?: string;
  /** 'auto' (default): readable lines on a TTY, JSON lines otherwise. */
  format?: 'json' | 'pretty' | 'auto';
  redactor: Redactor;
  /** Default process.stderr, so commands that print results on stdout stay pipeable. */
  stream?: NodeJS.WritableStream;
}

// Fields the logger sets itself; meta keys with these names are kept under a prefixed name, not dropped.
const RESERVED = new Set(['timestamp', 'level', 'message']);

export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? 'info';
  if (!isLogLevel(level)) {
    throw new Error(`unknown log level "${level}"; use one of ${LOG_LEVELS.join(', ')}`);
  }
  const stream = options.stream ?? process.stderr;
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  const mode = options.format === undefined || options.format === 'auto' ? (tty ? 'pretty' : 'json') : options.format;
  const { redactor } = options;

  // Redaction is a format in the pipeline, not a helper at call sites, so no entry can skip it.
  const redaction = winston.format((info) => {
    for (const key of Object.keys(info)) {
      if (key === 'level' || key === 'timestamp') continue;
      info[key] = redactor.redactDeep(info[key]);
    }
    return info;
  });

  // Insertion order keeps timestamp, level and message first, where a person tailing the log looks.
  const output = mode === 'json' ? winston.format.json({ deterministic: false }) : prettyFormat(tty);
  const base = winston.createLogger({
    levels: { error: 0, warn: 1, info: 2, debug: 3 },
    level,
    format: winston.format.combine(redaction(), output),
    transports: [new winston.transports.Stream({ stream })],
    exitOnError: false,
  });

  const make = (bound: LogMeta): Logger => {
    const log = (entryLevel: LogLevel, message: string, meta?: LogMeta): void => {
      const info: winston.LogEntry = { timestamp: new Date().toISOString(), level: entryLevel, message };
      for (const [key, value] of Object.entries({ ...bound, ...meta })) {
        info[RESERVED.has(key) ? `meta_${key}` : key] = value;
      }
      base.log(info);
    };
    return {
      debug: (message, meta) => log('debug', message, meta),
      info: (message, meta) => log('info', message, meta),
      warn: (message, meta) => log('warn', message, meta),
      error: (message, meta) => log('error', message, meta),
      child: (meta) => make({ ...bound, ...meta }),
    };
  };
  return make({});
}

const ANSI: Record<string, string> = { error: '\x1b[31m', warn: '\x1b[33m', info: '\x1b[32m', debug: '\x1b[2m' };

// One readable line: "2024-05-01T10:00:00.000Z INFO  check finished monitor=m1 reason=auth_failed".
function prettyFormat(colour: boolean): winston.Logform.Format {
  return winston.format.printf((info) => {
    const { timestamp, level, message, ...fields } = info;
    const levelText = level.toUpperCase().padEnd(5);
    const shown = colour ? `${ANSI[level] ?? ''}${levelText}\x1b[0m` : levelText;
    const pairs = Object.entries(fields).map(([key, value]) => `${key}=${prettyValue(value)}`);
    // A server's words travel in the fields; on a terminal their escapes must not repaint the screen.
    return [String(timestamp), shown, escapeControls(String(message)), ...pairs].join(' ');
  });
}

function prettyValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? escapeControls(value) : JSON.stringify(value);
  if (typeof value !== 'object' || value === null) return String(value);
  return JSON.stringify(value);
}
