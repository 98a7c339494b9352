/**
 * Bounded ends for child processes (a simulator or CLI started by a test or a tool): a child that
 * does not stop is killed and the caller gets an error with the reason, instead of waiting for
 * ever (which would hang a whole test run).
 */
import type { ChildProcess } from 'node:child_process';

/** Whether `proc` has exited (by code or signal). */
function ended(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

/**
 * Sends `signal` (default SIGTERM) and waits up to `graceMs` for the exit; past that, SIGKILLs
 * the child and throws, so the hang is a visible failure.
 * @returns the exit code, or the signal that ended the child
 * @throws Error if the child needed SIGKILL
 */
export async function stopChild(
  proc: ChildProcess,
  { signal = 'SIGTERM', graceMs = 15_000 }: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<number | NodeJS.Signals> {
  const exit = new Promise<number | NodeJS.Signals>((resolve) => {
    if (ended(proc)) resolve(proc.exitCode ?? (proc.signalCode as NodeJS.Signals));
    else proc.once('exit', (code, sig) => resolve(code ?? (sig as NodeJS.Signals)));
  });
  if (!ended(proc)) proc.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  const first = await Promise.race([exit, late]);
  clearTimeout(timer);
  if (first !== 'late') return first;
  proc.kill('SIGKILL');
  await exit;
  throw new Error(`child ${proc.pid} did not exit within ${graceMs} ms of ${signal}; killed`);
}

/**
 * Kills `proc` with SIGKILL if it is still running after `ms` (for a child a test waits on).
 * @returns a function that cancels the watchdog
 */
export function killAfter(proc: ChildProcess, ms: number): () => void {
  const timer = setTimeout(() => {
    if (!ended(proc)) proc.kill('SIGKILL');
  }, ms);
  timer.unref();
  return () => clearTimeout(timer);
}
