/**
 * Tools over the MQTT link for apps and the CLI: {@link watchFleet} (decode, verify and
 * de-duplicate the fleet's uplink) and {@link checkBroker} (probe a broker's ACL against `MQTT_ACL`).
 * @module
 */
export * from './check.ts';
export * from './watch.ts';
