/**
 * What the scenario loader reports with: {@link ScenarioIssue} (line, field, message),
 * {@link ScenarioError}, and the checker that collects issues while a file is checked.
 * @module
 */
import { parseDuration } from './duration.ts';

/** One problem in a scenario file. */
export interface ScenarioIssue {
  /** 1-based line (0 if the file has no lines to point at). */
  readonly line: number;
  /** The field, e.g. `steps[3].gesture.seconds` (empty for the whole file). */
  readonly path: string;
  readonly message: string;
}

/** Most problems reported for one file. */
export const MAX_ISSUES = 20;
/** A scenario file that cannot be read or is not a valid scenario. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  /**
   * @param code - `SCENARIO_INVALID` (the content) or `SCENARIO_UNREADABLE` (the file)
   * @param file - the file as the user named it
   * @param issues - every problem found (at most {@link MAX_ISSUES}), each with line and field
   */
  constructor(
    readonly code: 'SCENARIO_INVALID' | 'SCENARIO_UNREADABLE',
    readonly file: string,
    readonly issues: readonly ScenarioIssue[],
  ) {
    super(issues.map((i) => `${file}:${i.line}: ${i.path ? `${i.path} ` : ''}${i.message}`).join('\n'));
  }

  /** `{ name, code, message, file, issues }` for `--json` output. */
  toJSON(): { name: string; code: string; message: string; file: string; issues: readonly ScenarioIssue[] } {
    return { name: this.name, code: this.code, message: this.message, file: this.file, issues: this.issues };
  }
}

/** A field's path in a scenario file, e.g. `['steps', 3, 'gesture']`. */
export type Path = readonly (string | number)[];

function showPath(path: Path): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

/** Whether `v` is a mapping (not a list, not null). */
export const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Collects issues; `lineOf` finds the line of a path in the parsed document. */
export class Checker {
  readonly issues: ScenarioIssue[] = [];
  constructor(readonly lineOf: (path: Path) => number) {}

  fail(path: Path, message: string): undefined {
    if (this.issues.length < MAX_ISSUES) this.issues.push({ line: this.lineOf(path), path: showPath(path), message });
    return undefined;
  }

  /** Reports keys of `m` not in `known`. */
  onlyKeys(m: Record<string, unknown>, path: Path, known: readonly string[], what: string): void {
    for (const k of Object.keys(m))
      if (!known.includes(k)) this.fail([...path, k], `is not a ${what} field (known: ${known.join(', ')})`);
  }

  number(v: unknown, path: Path, min: number, max: number, what = 'a number'): number | undefined {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
      return this.fail(path, `must be ${what} ${max === Number.POSITIVE_INFINITY ? `≥ ${min}` : `in [${min}, ${max}]`}`);
    return v;
  }

  integer(v: unknown, path: Path, min: number, max: number): number | undefined {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      return this.fail(path, `must be an integer in [${min}, ${max}]`);
    return v;
  }

  boolean(v: unknown, path: Path): boolean | undefined {
    if (typeof v !== 'boolean') return this.fail(path, 'must be true or false');
    return v;
  }

  oneOf<T extends string>(v: unknown, path: Path, values: readonly T[]): T | undefined {
    if (typeof v !== 'string' || !values.includes(v as T)) return this.fail(path, `must be one of ${values.join(', ')}`);
    return v as T;
  }

  duration(v: unknown, path: Path): number | undefined {
    const ms = parseDuration(v);
    if (ms === undefined) return this.fail(path, 'must be a duration ≥ 0 (seconds, or e.g. 500ms, 2s, 10m, 24h, 1h30m)');
    return ms;
  }

  map(v: unknown, path: Path, what: string): Record<string, unknown> | undefined {
    if (!isMap(v)) return this.fail(path, `must be a mapping (${what})`);
    return v;
  }
}
