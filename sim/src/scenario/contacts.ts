/**
 * Emergency contacts for scenarios: the runner plays the owner's app (it signs a contact set and
 * installs it on a Key) and the contacts (each signs an acknowledgement of the running event,
 * relayed to the Key as a host would). The contacts' private keys stay in the runner.
 * @module
 */
import { type ContactKeys, contactKeygen, signAck, signContactSet } from '@enigm/protocols/emergency';
import type { DeviceControls } from '../firmware/physical/types.ts';

/** The owner key scenarios sign contact sets with (Ed25519 seed; a fresh Key pins it). */
export const SCENARIO_OWNER_SEED = new Uint8Array(32).fill(0x5c);

/** When the scenario's contact sets say they were issued (ms since the Unix epoch). */
const ISSUED_AT = 1_700_000_000_000;

/**
 * Makes `n` contacts and installs their set (version 1, aliases `c0`…) on the Key of `controls`.
 * @returns the contacts' keys
 * @throws an Error if the target cannot take contact sets; what the Key throws if it refuses the set
 */
export function installContacts(controls: DeviceControls, n: number): ContactKeys[] {
  if (!controls.setContacts) throw new Error('this target cannot install contact sets');
  const keys = Array.from({ length: n }, () => contactKeygen());
  const set = signContactSet(
    {
      version: 1,
      issuedAt: ISSUED_AT,
      contacts: keys.map((k, i) => ({ alias: `c${i}`, hpkeKey: k.publicKey, signKey: k.signKey })),
    },
    SCENARIO_OWNER_SEED,
  );
  controls.setContacts(set);
  return keys;
}

/**
 * Contact `contact` acknowledges the Key's running event: signs the ack and relays it.
 * @returns the alias the Key showed
 * @throws an Error when no event runs (nothing to acknowledge) or the target cannot relay acks; what the Key throws if it refuses
 */
export function relayAck(controls: DeviceControls, contact: ContactKeys, eventId: string | undefined): { alias: string } {
  if (!controls.ack) throw new Error('this target cannot relay acknowledgements');
  if (!eventId)
    throw Object.assign(new Error('no emergency event is running: nothing to acknowledge'), { code: 'INVALID_STATE' });
  const id = new Uint8Array(Buffer.from(eventId, 'hex'));
  return controls.ack(signAck({ eventId: id, seq: 0, time: Date.now() }, contact.signSeed));
}
