/**
 * The agent's version, as reports carry it (`swversion`); a test checks it equals
 * `os-agent/package.json`.
 * @module
 */

/** Version of the Enigm OS posture agent. */
export const AGENT_VERSION = '0.1.0';
