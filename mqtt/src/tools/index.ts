/**
 * Tools over the MQTT link for apps and the CLI: {@link watchFleet} (decode, verify and
 * de-duplicate the fleet's uplink), {@link EmergencyTimeline} (emergency events on it, decrypted
 * with a contact's key) and {@link checkBroker} (probe a broker's ACL against `MQTT_ACL`).
 * @module
 */
export * from './check.ts';
export * from './emergency.ts';
export * from './watch.ts';
