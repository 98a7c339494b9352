/**
 * The Key protocol message model: records, catalogue, envelope, constants.
 * @module
 */

export * from './access.ts';
export * from './catalogue.ts';
export * from './constants.ts';
export * from './doc.ts';
export * from './emergency.ts';
export * from './envelope.ts';
export * from './hello.ts';
export * from './record.ts';
