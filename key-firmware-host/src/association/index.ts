/**
 * The account registry and the enroll / replace flows (`docs/association.md`, "Enroll and replace").
 * @module
 */
export * from './enroll.ts';
export * from './errors.ts';
export * from './registry.ts';
