/**
 * `@enigm/mqtt/broker`: the brokers of the Key ↔ backend link — the embedded aedes broker (MQTT
 * 3.1.1, ACL from `MQTT_ACL`, for development and tests) and a launcher for a real mosquitto with
 * mutual TLS and the generated ACL file.
 * @module
 */
export * from './embedded.ts';
export * from './errors.ts';
export * from './mosquitto.ts';
