/**
 * The provisioning station: {@link provisionKeys} over many ports, its manifest (JSON and CSV,
 * atomic writes) and summaries. See `docs/station.md`.
 * @module
 */
export * from './errors.ts';
export * from './manifest.ts';
export * from './station.ts';
