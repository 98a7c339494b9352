/**
 * The signed audit trail: hash-chained COSE_Sign1 records (`record.ts`), their field rules
 * (`validate.ts`), the on-disk format (`format.ts`), the appender with its lock and crash handling
 * (`log.ts`) and the verifier (`verify.ts`). See `docs/audit.md`.
 * @module
 */
export * from './format.ts';
export * from './log.ts';
export * from './record.ts';
export * from './validate.ts';
export * from './verify.ts';
