/**
 * Posture signal collectors: the Enigm OS daemon client, plain-Linux collectors, Active Defense findings.
 * @module
 */

export * from './activedefense.ts';
export * from './linux/index.ts';
export * from './osd.ts';
