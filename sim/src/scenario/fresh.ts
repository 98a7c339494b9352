/**
 * Runs a scenario against a fresh simulator: a new state folder in the temp directory, no serial
 * ports and no TCP (nothing to connect to: the scenario drives the Keys through their controls),
 * always stopped and removed afterwards, whatever happened.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SimLogger } from '../runtime/log.ts';
import { Simulator } from '../runtime/simulator.ts';
import { type RunOptions, runScenario, type ScenarioReport } from './runner.ts';
import type { Scenario } from './types.ts';

/** Options of {@link runScenarioFresh}. */
export interface FreshRunOptions extends Omit<RunOptions, 'provision'> {
  /** Where the temporary state folder is made (default the OS temp directory). */
  readonly tempDir?: string;
  /** The simulator's operational log (default silent). */
  readonly log?: SimLogger;
}

/**
 * Starts a fresh simulator with the scenario's Keys, plays the scenario and stops it. A Key that
 * should start `dormant` is activated first (as a provisioning station would).
 * @returns the report (a failed step is in it, not thrown)
 * @throws whatever `Simulator.start` throws (the simulator could not start)
 * @example const report = await runScenarioFresh(loadScenarioFile('pairing-window.yaml'), { speed: 'max' });
 */
export async function runScenarioFresh(scenario: Scenario, options: FreshRunOptions = {}): Promise<ScenarioReport> {
  const dir = mkdtempSync(join(options.tempDir ?? tmpdir(), 'enigm-scenario-'));
  let sim: Simulator | undefined;
  try {
    sim = await Simulator.start({
      keys: scenario.keys.length,
      stateDir: dir,
      serial: false,
      tcp: false,
      ...(options.log ? { log: options.log } : {}),
    });
    const running = sim;
    return await runScenario(sim, scenario, {
      ...options,
      provision: (i) => {
        const fw = running.firmware(i);
        if (fw.state !== 'dormant' && !fw.transition('activate'))
          throw new Error(`key ${i} cannot be activated from lifecycle ${fw.state}`);
      },
    });
  } finally {
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
