/**
 * `@enigm/os-agent/service`: the running agent and what surrounds it — configuration, the agent,
 * its process entry, one-off reports, the report builder, the TPM quote source, the publisher,
 * the signed policy, and the local API (server, client and wire format).
 * @module
 */
export * from './agent.ts';
export * from './api/server.ts';
export * from './api/wire.ts';
export * from './config.ts';
export * from './main.ts';
export * from './once.ts';
export * from './policy/document.ts';
export * from './policy/evaluate.ts';
export * from './policy/store.ts';
export * from './publish/publisher.ts';
export * from './report/report.ts';
export * from './state.ts';
export * from './tpm/quote-source.ts';
export * from './version.ts';
