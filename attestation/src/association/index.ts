/**
 * Association of Keys with accounts through privacy-preserving handles (`handle.ts`). See
 * `docs/association.md`.
 * @module
 */
export * from './handle.ts';
