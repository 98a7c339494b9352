/**
 * Emergency events sealed end to end to the owner's contacts (issue 13): the signed contact set,
 * HPKE (RFC 9180, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305), the event start and
 * records, a contact's reader, and acknowledgements. Pure: no I/O. See docs/emergency.md.
 * @module
 */

export * from './ack.ts';
export * from './bodies.ts';
export * from './contacts.ts';
export * from './event.ts';
export * from './hpke.ts';
export * from './reader.ts';
