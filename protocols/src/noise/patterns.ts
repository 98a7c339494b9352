/**
 * The fundamental Noise handshake patterns (spec rev 34 §7.4 one-way, §7.5 interactive) as data:
 * pre-messages and message token lists. The handshake engine interprets this table; it has no
 * per-pattern code.
 *
 * @module
 */

/**
 * Names of the supported handshake patterns: the 3 one-way and 12 interactive fundamental ones.
 * @example const pattern: HandshakePatternName = 'IK';
 */
export type HandshakePatternName =
  | 'NN'
  | 'NK'
  | 'NX'
  | 'XN'
  | 'XK'
  | 'XX'
  | 'KN'
  | 'KK'
  | 'KX'
  | 'IN'
  | 'IK'
  | 'IX'
  | 'N'
  | 'K'
  | 'X';

/**
 * A message token (spec §7.1); `psk` is not supported.
 * @example const first: Token = HANDSHAKE_PATTERNS.XX.messages[0][0]; // 'e'
 */
export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss';

/**
 * A pre-message token: a public key the other side knows before the handshake.
 * @example HANDSHAKE_PATTERNS.IK.responderPreMessage // ['s']
 */
export type PreMessageToken = 'e' | 's';

/**
 * One handshake pattern: pre-messages, then messages alternating initiator → responder → …
 * @example const { messages, oneWay } = HANDSHAKE_PATTERNS.KK;
 */
export interface HandshakePattern {
  /** Pattern name, e.g. `XX`. */
  readonly name: HandshakePatternName;
  /** Keys of the initiator the responder knows in advance (`-> s` before `...`). */
  readonly initiatorPreMessage: readonly PreMessageToken[];
  /** Keys of the responder the initiator knows in advance (`<- s` before `...`). */
  readonly responderPreMessage: readonly PreMessageToken[];
  /** Token lists; even indices are written by the initiator, odd ones by the responder. */
  readonly messages: readonly (readonly Token[])[];
  /** One-way patterns (§7.4): transport messages only flow initiator → responder. */
  readonly oneWay: boolean;
}

function pattern(
  name: HandshakePatternName,
  initiatorPreMessage: PreMessageToken[],
  responderPreMessage: PreMessageToken[],
  messages: Token[][],
  oneWay = false,
): HandshakePattern {
  return Object.freeze({
    name,
    initiatorPreMessage: Object.freeze(initiatorPreMessage),
    responderPreMessage: Object.freeze(responderPreMessage),
    messages: Object.freeze(messages.map((m) => Object.freeze(m))),
    oneWay,
  });
}

/**
 * Every supported pattern, keyed by name (frozen).
 * @example HANDSHAKE_PATTERNS.XX.messages // [['e'], ['e','ee','s','es'], ['s','se']]
 */
export const HANDSHAKE_PATTERNS: Readonly<Record<HandshakePatternName, HandshakePattern>> = Object.freeze({
  N: pattern('N', [], ['s'], [['e', 'es']], true),
  K: pattern('K', ['s'], ['s'], [['e', 'es', 'ss']], true),
  X: pattern('X', [], ['s'], [['e', 'es', 's', 'ss']], true),
  NN: pattern('NN', [], [], [['e'], ['e', 'ee']]),
  NK: pattern(
    'NK',
    [],
    ['s'],
    [
      ['e', 'es'],
      ['e', 'ee'],
    ],
  ),
  NX: pattern('NX', [], [], [['e'], ['e', 'ee', 's', 'es']]),
  XN: pattern('XN', [], [], [['e'], ['e', 'ee'], ['s', 'se']]),
  XK: pattern(
    'XK',
    [],
    ['s'],
    [
      ['e', 'es'],
      ['e', 'ee'],
      ['s', 'se'],
    ],
  ),
  XX: pattern('XX', [], [], [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']]),
  KN: pattern('KN', ['s'], [], [['e'], ['e', 'ee', 'se']]),
  KK: pattern(
    'KK',
    ['s'],
    ['s'],
    [
      ['e', 'es', 'ss'],
      ['e', 'ee', 'se'],
    ],
  ),
  KX: pattern('KX', ['s'], [], [['e'], ['e', 'ee', 'se', 's', 'es']]),
  IN: pattern(
    'IN',
    [],
    [],
    [
      ['e', 's'],
      ['e', 'ee', 'se'],
    ],
  ),
  IK: pattern(
    'IK',
    [],
    ['s'],
    [
      ['e', 'es', 's', 'ss'],
      ['e', 'ee', 'se'],
    ],
  ),
  IX: pattern(
    'IX',
    [],
    [],
    [
      ['e', 's'],
      ['e', 'ee', 'se', 's', 'es'],
    ],
  ),
});

/**
 * The full protocol name for the 25519 / ChaChaPoly / SHA256 suite (spec §8).
 * @throws never (an unknown name is a type error)
 * @example protocolName('XX') === 'Noise_XX_25519_ChaChaPoly_SHA256'
 */
export function protocolName(pattern: HandshakePatternName): string {
  return `Noise_${pattern}_25519_ChaChaPoly_SHA256`;
}

/**
 * Whether the pattern makes `initiator`'s side use its own static key (in a pre-message, an `s`
 * token it writes, or a DH with it).
 * @throws never
 * @example needsLocalStatic(HANDSHAKE_PATTERNS.NK, false) === true
 */
export function needsLocalStatic(p: HandshakePattern, initiator: boolean): boolean {
  if ((initiator ? p.initiatorPreMessage : p.responderPreMessage).includes('s')) return true;
  return p.messages.some((tokens, i) => (i % 2 === 0) === initiator && tokens.includes('s'));
}

/**
 * Whether `initiator`'s side must know the peer's static key before the handshake.
 * @throws never
 * @example needsRemoteStaticInAdvance(HANDSHAKE_PATTERNS.IK, true) === true
 */
export function needsRemoteStaticInAdvance(p: HandshakePattern, initiator: boolean): boolean {
  return (initiator ? p.responderPreMessage : p.initiatorPreMessage).includes('s');
}
