/**
 * `@enigm/protocols`: the wire contracts every part of the suite shares. Each area is also its
 * own entry point (`@enigm/protocols/cbor`, `…/cose`, `…/crypto`, `…/errors`, `…/bytes`,
 * `…/evidence`, `…/firmware`, `…/framing`, `…/messages`, `…/noise`, `…/session`); prefer those
 * in code that needs one area.
 * @module
 */
export * from './bytes.ts';
export * from './cbor/index.ts';
export * from './cose/index.ts';
export * from './crypto/index.ts';
export * from './errors.ts';
export * from './evidence/claims.ts';
export * from './firmware/index.ts';
export * from './framing/index.ts';
export * from './messages/index.ts';
export * from './noise/index.ts';
export * from './session/index.ts';
export * from './x509/index.ts';
