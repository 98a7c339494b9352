/**
 * The simulator's operational log: one line per event on stderr (or any sink), with a level.
 *
 * What it may say: that a link opened or closed (link number, transport, reason code), that frames
 * were rejected (a count and the framing error code), that a bound was hit (sizes in bytes), that
 * a Key's work failed (error name and code). What it must never say: message content, request or
 * response bytes, handles, host keys, session keys, addresses of peers (a location), or anything
 * from the secure element. Callers pass only such metadata; {@link SimLogger} adds nothing else.
 *
 * Noisy events (rejected frames, bounds hit) go through a {@link RateLimiter} so a flood cannot
 * turn into a log flood.
 * @module
 */

/** Log levels, quietest first. */
export const LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'debug'] as const;

/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A leveled logger. Each method takes a complete message made of metadata only. */
export interface SimLogger {
  /** The level this logger writes at (and below). */
  readonly level: LogLevel;
  /** Something failed and was contained. */
  error(message: string): void;
  /** A bound was hit or input was rejected. */
  warn(message: string): void;
  /** Links opened and closed, lifecycle of the simulator. */
  info(message: string): void;
  /** Details useful when debugging (per long operation, per pause/resume). */
  debug(message: string): void;
}

/**
 * Whether `name` is a log level.
 * @param name - candidate, e.g. from `--log-level`
 * @returns true for one of {@link LOG_LEVELS}
 * @throws never
 */
export function isLogLevel(name: string): name is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(name);
}

/**
 * A logger writing lines `ISO-time LEVEL message` to `sink`.
 * @param level - lines above this level are dropped (`silent` drops all)
 * @param sink - receives each line with its newline; default `process.stderr.write`
 * @param now - clock for the timestamps; default `Date.now`
 * @returns the logger
 * @throws never
 */
export function createLogger(
  level: LogLevel,
  sink: (line: string) => void = (line) => void process.stderr.write(line),
  now: () => number = Date.now,
): SimLogger {
  const rank = LOG_LEVELS.indexOf(level);
  const at =
    (l: Exclude<LogLevel, 'silent'>) =>
    (message: string): void => {
      if (LOG_LEVELS.indexOf(l) > rank) return;
      try {
        sink(`${new Date(now()).toISOString()} ${l.padEnd(5)} ${message}\n`);
      } catch {
        // a closed stderr must not take the simulator down
      }
    };
  return { level, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/** A logger that drops everything (the library default: tests and embedders stay quiet). */
export const silentLogger: SimLogger = createLogger('silent');

/**
 * Lets at most `burst` events through per `intervalMs`; counts the rest so the next line that
 * goes through can say how many were suppressed.
 */
export class RateLimiter {
  readonly #intervalMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #inWindow = 0;
  #suppressed = 0;

  /**
   * @param intervalMs - window length, ms (default 1000)
   * @param burst - events let through per window (default 5)
   * @param now - clock, ms (default `performance.now`)
   */
  constructor(intervalMs = 1000, burst = 5, now: () => number = () => performance.now()) {
    this.#intervalMs = intervalMs;
    this.#burst = burst;
    this.#now = now;
  }

  /**
   * Records one event.
   * @returns `undefined` if it must not be logged, else how many events were suppressed since the
   *   last one that went through
   * @throws never
   */
  take(): number | undefined {
    const t = this.#now();
    if (t - this.#windowStart >= this.#intervalMs) {
      this.#windowStart = t;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= this.#burst) {
      this.#suppressed++;
      return undefined;
    }
    this.#inWindow++;
    const s = this.#suppressed;
    this.#suppressed = 0;
    return s;
  }
}

/**
 * Logs `message` through `limiter` at `level`, appending how many similar lines were suppressed.
 * @throws never
 */
export function logLimited(log: SimLogger, level: 'warn' | 'info' | 'debug', limiter: RateLimiter, message: string): void {
  const suppressed = limiter.take();
  if (suppressed === undefined) return;
  log[level](suppressed > 0 ? `${message} (${suppressed} similar suppressed)` : message);
}

/**
 * A short, content-free description of an error for the log: its name and code, never its
 * message (messages may quote input).
 * @throws never
 */
export function describeError(e: unknown): string {
  if (e === null || typeof e !== 'object') return typeof e;
  const name = (e as { name?: unknown }).name;
  const code = (e as { code?: unknown }).code;
  return [typeof name === 'string' ? name : 'Error', typeof code === 'string' || typeof code === 'number' ? String(code) : '']
    .filter((s) => s !== '')
    .join(' ');
}
