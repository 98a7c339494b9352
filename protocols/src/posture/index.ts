/**
 * Enigm OS posture contracts: the posture daemon protocol (and the posture report).
 * @module
 */

export * from './daemon.ts';
export * from './report.ts';
