/**
 * `enigm sim run SCENARIO`: plays a scenario file against a fresh simulator and reports each
 * step's pass or fail (text, `--json`, `--junit FILE`). Exit 0 when every step passed, 1 on a
 * failed expectation, a simulator error or a malformed scenario (its line and field named), 2 on
 * misuse. The format: `docs/scenarios.md`.
 * @module
 */
import { createLogger } from '@enigm/sim';
import {
  formatJUnit,
  formatReportHeader,
  formatReportSummary,
  formatStepLine,
  MAX_SPEED,
  parseScenario,
  runScenarioFresh,
} from '@enigm/sim/scenario';
import { type Command, EXIT, logLevel, logOptionsHelp, readTextFile, str, UsageError, writeOutputFile } from '../cli.ts';

/**
 * Parses `--speed`: a number in (0, {@link MAX_SPEED}] or `max`.
 * @throws {@link UsageError} for anything else
 */
export function parseSpeed(v: string): number | 'max' {
  if (v === 'max') return 'max';
  const n = v.trim() === '' ? Number.NaN : Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > MAX_SPEED)
    throw new UsageError(`--speed must be a number in (0, ${MAX_SPEED}] or max, got ${JSON.stringify(v)}`);
  return n;
}

const runCmd: Command = {
  name: 'sim run',
  summary: 'play a scenario file (YAML or JSON) against a fresh simulator; pass/fail report',
  help: `Usage: enigm sim run SCENARIO [--speed X|max] [--junit FILE] [--log-level L | --verbose] [--json]

Starts a fresh simulator (a temporary state folder, no serial ports, no TCP) with the scenario's
Keys, plays its steps — gestures, battery, GNSS track, radio, USB, power, reboot, waits — checks
its expectations on each Key's state and events, stops the simulator and prints one line per step
(pass/fail, simulated time, reason). The first step that does not pass ends the run; the rest are
reported as skipped. The format: docs/scenarios.md (JSON Schema: sim/src/scenario/schema.json).

Options:
  --speed X     simulated time runs X times faster than real time (0 < X ≤ ${MAX_SPEED}; default
                the scenario's speed, else 1); max: never wait in real time, every wait advances
                the simulator's clock (deterministic, as fast as the machine allows)
  --junit FILE  also write the report as JUnit XML to FILE (for CI systems)
${logOptionsHelp('warn', "the simulator's log (contained failures, bounds hit; info: links, debug: more)")}
  --json        print the report as one JSON line

Exit codes: 0 every step passed; 1 a failed expectation, an error from the simulator, or a
scenario file that cannot be read or is malformed (each problem with its line and field); 2 misuse.

Example:
  enigm sim run examples/scenarios/pairing-window.yaml --junit scenario.xml`,
  options: { speed: { type: 'string' }, junit: { type: 'string' } },
  positionals: true,
  longRunning: true,
  async run(args, out) {
    const log = createLogger(logLevel(args, 'warn'));
    if (args.positionals.length !== 1)
      throw new UsageError(args.positionals.length === 0 ? 'a SCENARIO file is required' : 'give one SCENARIO file');
    const file = args.positionals[0] as string;
    const speedArg = str(args, 'speed');
    const speed = speedArg === undefined ? undefined : parseSpeed(speedArg);
    const junit = str(args, 'junit');
    if (junit === '') throw new UsageError('--junit needs a file name');
    const scenario = parseScenario(readTextFile(file, 'scenario'), file);
    // Text: the header now and each step as it ends (a run in real time can take a while).
    const print = (text: string) => {
      if (!out.json) process.stdout.write(text);
    };
    print(
      formatReportHeader({
        scenario: scenario.name,
        file,
        keys: scenario.keys.length,
        speed: speed ?? scenario.speed ?? 1,
      }),
    );
    const report = await runScenarioFresh(scenario, {
      ...(speed === undefined ? {} : { speed }),
      log,
      onStep: (s) => print(formatStepLine(s)),
    });
    if (junit !== undefined) {
      writeOutputFile(junit, formatJUnit([report]), '--junit');
    }
    out.data({ ok: report.passed, report });
    print(formatReportSummary(report));
    return report.passed ? EXIT.ok : EXIT.failure;
  },
};

/** Commands of `enigm sim run`. */
export const simRunCommands: Command[] = [runCmd];
