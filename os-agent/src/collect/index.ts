/**
 * Posture signal collectors: the Enigm OS daemon client, plain-Linux collectors, Active Defense findings.
 * @module
 */

export * from './osd.ts';
