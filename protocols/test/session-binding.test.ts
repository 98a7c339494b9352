/**
 * Checks the session's bindings (docs/security.md): the prologue holds every field of the `hello`
 * exchange (so a rewrite of any one changes it), and the identity binding signs the static key and
 * the device handle together (so neither can be swapped under a valid signature).
 */
import test from 'ava';
import { ed25519Generate, ed25519Sign } from '../src/crypto/ed25519.ts';
import { x25519Generate } from '../src/crypto/x25519.ts';
import type { BodyOf } from '../src/messages/index.ts';
import {
  IDENTITY_BINDING_LABEL,
  identityBindingMessage,
  sessionPrologue,
  signBinding,
  verifyIdentityBinding,
} from '../src/session/index.ts';

const hello: BodyOf<'hello'> = { versions: [1], maxFrame: 65536 };
const helloResponse: BodyOf<'hello.response'> = {
  version: 1,
  versions: [1],
  maxFrame: 4096,
  window: 8,
  features: ['dedup-retry', 'noise-xx', 'noise-ik', 'attest'],
  model: 'enigm-key-1',
  firmware: '1.0.0',
  state: 'factory',
};

const changes: [string, Partial<BodyOf<'hello.response'>>][] = [
  ['version', { version: 2 }],
  ['Key versions', { versions: [1, 2] }],
  ['Key maxFrame', { maxFrame: 1024 }],
  ['window', { window: 1 }],
  ['features', { features: ['dedup-retry'] }],
  ['model', { model: 'enigm-key-0' }],
  ['firmware', { firmware: '9.9.9' }],
  ['state', { state: 'dormant' }],
];

test('the prologue changes with every hello field and with the transport', (t) => {
  const base = Buffer.from(sessionPrologue({ hello, helloResponse, transport: 'tcp' })).toString('hex');
  const variants: [string, Uint8Array][] = [
    ['host versions', sessionPrologue({ hello: { ...hello, versions: [1, 2] }, helloResponse, transport: 'tcp' })],
    ['host maxFrame', sessionPrologue({ hello: { ...hello, maxFrame: 2048 }, helloResponse, transport: 'tcp' })],
    ['transport', sessionPrologue({ hello, helloResponse, transport: 'serial' })],
    ...changes.map(
      ([name, change]) =>
        [name, sessionPrologue({ hello, helloResponse: { ...helloResponse, ...change }, transport: 'tcp' })] as [
          string,
          Uint8Array,
        ],
    ),
  ];
  for (const [name, p] of variants) t.not(Buffer.from(p).toString('hex'), base, name);
  t.is(Buffer.from(sessionPrologue({ hello, helloResponse, transport: 'tcp' })).toString('hex'), base, 'deterministic');
});

test('the identity binding covers static key and handle; the v1 static-only signature does not pass', (t) => {
  const id = ed25519Generate();
  const staticKey = x25519Generate().publicKey;
  const handle = new Uint8Array(16).fill(3);
  const signature = ed25519Sign(id.seed, identityBindingMessage(staticKey, handle));
  t.notThrows(() => verifyIdentityBinding({ identity: id.publicKey, handle, signature }, staticKey));
  const otherHandle = new Uint8Array(16).fill(4);
  t.is(
    t.throws(() => verifyIdentityBinding({ identity: id.publicKey, handle: otherHandle, signature }, staticKey))?.name,
    'ProtocolError',
    'a swapped handle',
  );
  t.throws(() => verifyIdentityBinding({ identity: id.publicKey, handle, signature }, x25519Generate().publicKey), {
    message: /not signed/,
  });
  const v1 = signBinding(id.seed, staticKey);
  t.throws(() => verifyIdentityBinding({ identity: id.publicKey, handle, signature: v1 }, staticKey), { message: /not signed/ });
  t.is(new TextDecoder().decode(IDENTITY_BINDING_LABEL), 'enigm-key identity binding v2\0');
  t.throws(() => identityBindingMessage(staticKey, new Uint8Array(15)), { instanceOf: RangeError });
});
