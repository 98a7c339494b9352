/**
 * Entry point of the single-file agent bundle (`dist/enigm-posture-agent.mjs`, built by
 * `npm run build`): `node enigm-posture-agent.mjs --config FILE`. Exit codes: 0 stopped cleanly,
 * 1 failed at run time, 2 usage error.
 * @module
 */
import { parseArgs } from 'node:util';
import { runAgentProcess } from './main.ts';

const USAGE = 'usage: enigm-posture-agent --config FILE';
let config: string | undefined;
try {
  const { values } = parseArgs({ options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  config = values.config;
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (!config) {
  process.stderr.write(`--config is required\n${USAGE}\n`);
  process.exit(2);
}
runAgentProcess(config).then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as { code?: string; message?: string };
    process.stderr.write(
      `${JSON.stringify({ event: 'failed', code: err.code ?? 'error', message: err.message ?? String(e) })}\n`,
    );
    process.exit(1);
  },
);
