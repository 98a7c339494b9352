/**
 * The agent as a process: `enigm posture agent --config FILE` and the single-file bundle both
 * call {@link runAgentProcess}. It reads the configuration, starts the agent and stops it cleanly
 * on SIGTERM / SIGINT (bounded: the process exits within 20 s whatever happens).
 * @module
 */
import { type AgentDeps, PostureAgent } from './agent.ts';
import { readAgentConfig } from './config.ts';

/**
 * Runs the agent until SIGTERM or SIGINT.
 * @returns a promise that resolves with the exit code once the agent stopped
 * @throws {@link AgentError} `CONFIG_INVALID`, `STATE_*`, `PUBLISH_FAILED`, `API_UNAVAILABLE` at start
 */
export async function runAgentProcess(configPath: string, deps: AgentDeps = {}): Promise<number> {
  const config = readAgentConfig(configPath);
  const agent = await PostureAgent.start(config, deps);
  return new Promise<number>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      setTimeout(() => process.exit(1), 20_000).unref();
      void agent.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
