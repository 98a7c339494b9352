/**
 * Renders a {@link ScenarioReport}: human text, and JUnit XML (the report format CI systems read:
 * one test suite per scenario, one test case per step; a failed expectation is a `<failure>`, an
 * error from the simulator an `<error>`, steps not run after it `<skipped/>`). The JSON form is
 * the report object itself.
 * @module
 */
import { formatDuration } from './duration.ts';
import type { ScenarioReport, StepResult } from './runner.ts';

const MARK: Readonly<Record<StepResult['status'], string>> = { passed: 'ok  ', failed: 'FAIL', error: 'ERR ', skipped: 'skip' };

function speedText(s: number | 'max'): string {
  return s === 'max' ? 'max (waits advance the clock)' : `×${s}`;
}

/**
 * The first line of a text report, e.g. `scenario "x" (x.yaml): 1 Key, speed ×100`.
 * @param r - the scenario's name, file, Key count and speed
 */
export function formatReportHeader(r: Pick<ScenarioReport, 'scenario' | 'file' | 'keys' | 'speed'>): string {
  return `scenario ${JSON.stringify(r.scenario)}${r.file ? ` (${r.file})` : ''}: ${r.keys} Key${r.keys === 1 ? '' : 's'}, speed ${speedText(r.speed)}\n`;
}

/**
 * One step as text: status, number, simulated start time, what it does, and why it did not pass
 * (on a second line) or what matched.
 * @example process.stdout.write(formatStepLine(result)); // as each step ends (RunOptions.onStep)
 */
export function formatStepLine(s: StepResult): string {
  const at = s.atMs === undefined ? ''.padStart(10) : formatDuration(s.atMs).padStart(10);
  const label = s.name === s.does ? s.does : `${s.name} — ${s.does}`;
  const why = s.reason && s.status !== 'passed' ? `\n${' '.repeat(22)}${s.reason}` : s.reason ? ` (${s.reason})` : '';
  return `  ${MARK[s.status]} ${String(s.index + 1).padStart(3)} ${at}  ${label}${why}\n`;
}

/** The end of a text report: the run's error if any, and the tally with simulated and real time. */
export function formatReportSummary(r: ScenarioReport): string {
  const c = r.counts;
  const tally = [
    `${c.passed} passed`,
    c.failed ? `${c.failed} failed` : '',
    c.error ? `${c.error} errors` : '',
    c.skipped ? `${c.skipped} skipped` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `${r.error ? `  error: ${r.error}\n` : ''}${r.passed ? 'PASSED' : 'FAILED'}: ${tally} of ${r.steps.length} steps; ${formatDuration(r.simMs)} simulated in ${formatDuration(r.realMs)} real\n`;
}

/**
 * The report as text: {@link formatReportHeader}, one {@link formatStepLine} per step, then
 * {@link formatReportSummary}.
 * @example process.stdout.write(formatReportText(report));
 */
export function formatReportText(r: ScenarioReport): string {
  return formatReportHeader(r) + r.steps.map(formatStepLine).join('') + formatReportSummary(r);
}

/** Escapes text for XML content and attributes (and drops characters XML 1.0 cannot hold). */
export function xmlEscape(s: string): string {
  return s
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

/**
 * The reports as one JUnit XML document (`<testsuites>`, a `<testsuite>` per scenario, a
 * `<testcase>` per step; times are real seconds, the simulated start time is in each case's
 * `<system-out>`).
 * @param reports - one per scenario run
 * @example writeFileSync('scenarios.xml', formatJUnit([report]));
 */
export function formatJUnit(reports: readonly ScenarioReport[]): string {
  const sum = (f: (r: ScenarioReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="enigm scenarios" tests="${sum((r) => r.steps.length + (r.error ? 1 : 0))}" failures="${sum((r) => r.counts.failed)}" errors="${sum(
      (r) => r.counts.error + (r.error ? 1 : 0),
    )}" skipped="${sum((r) => r.counts.skipped)}" time="${seconds(sum((r) => r.realMs))}">`,
  ];
  for (const r of reports) {
    const suite = xmlEscape(r.scenario);
    out.push(
      `  <testsuite name="${suite}" tests="${r.steps.length + (r.error ? 1 : 0)}" failures="${r.counts.failed}" errors="${r.counts.error + (r.error ? 1 : 0)}" skipped="${r.counts.skipped}" time="${seconds(r.realMs)}"${r.file ? ` file="${xmlEscape(r.file)}"` : ''}>`,
    );
    out.push(
      `    <properties><property name="speed" value="${r.speed}"/><property name="keys" value="${r.keys}"/><property name="simulatedMs" value="${r.simMs}"/></properties>`,
    );
    for (const s of r.steps) {
      const name = xmlEscape(`${String(s.index + 1).padStart(2, '0')}. ${s.name}`);
      const open = `    <testcase classname="${suite}" name="${name}" time="${seconds(s.realMs)}"${r.file ? ` file="${xmlEscape(r.file)}" line="${s.line}"` : ''}`;
      const body: string[] = [];
      const reason = xmlEscape(s.reason ?? '');
      if (s.status === 'failed')
        body.push(`      <failure message="${reason}" type="ExpectationFailed">${xmlEscape(s.does)}: ${reason}</failure>`);
      if (s.status === 'error')
        body.push(`      <error message="${reason}" type="SimulatorError">${xmlEscape(s.does)}: ${reason}</error>`);
      if (s.status === 'skipped') body.push('      <skipped message="an earlier step did not pass"/>');
      if (s.atMs !== undefined)
        body.push(
          `      <system-out>${xmlEscape(`${s.does}; began at ${formatDuration(s.atMs)} simulated, took ${formatDuration(s.simMs)}${s.reason && s.status === 'passed' ? `; ${s.reason}` : ''}`)}</system-out>`,
        );
      out.push(body.length ? `${open}>\n${body.join('\n')}\n    </testcase>` : `${open}/>`);
    }
    if (r.error)
      out.push(
        `    <testcase classname="${suite}" name="setup" time="0">\n      <error message="${xmlEscape(r.error)}" type="SetupError"/>\n    </testcase>`,
      );
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
