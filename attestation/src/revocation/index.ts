/**
 * The signed, versioned revocation list: its content (`list.ts`), signing and strict decoding
 * (`codec.ts`) and verification with rollback and staleness checks (`verify.ts`). See
 * `docs/revocation.md`.
 * @module
 */
export * from './codec.ts';
export * from './list.ts';
export * from './verify.ts';
