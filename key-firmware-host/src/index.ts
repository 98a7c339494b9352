/**
 * `@enigm/key-firmware-host`: the host side of an Enigm Key — transports (serial, TCP, MQTT, BLE,
 * in-memory twin), the Key client, secure sessions and the host store, firmware upload, discovery,
 * the Key facade (`openKey`), account association and the provisioning station.
 * @module
 */

export * from './association/index.ts';
export * from './client/errors.ts';
export * from './client/key-client.ts';
export * from './client/window.ts';
export * from './discovery.ts';
export * from './flash/upload.ts';
export * from './key/backoff.ts';
export * from './key/emergency.ts';
export * from './key/errors.ts';
export * from './key/events.ts';
export * from './key/evidence.ts';
export * from './key/flash.ts';
export * from './key/key.ts';
export * from './key/pinning.ts';
export * from './session/host-store.ts';
export * from './session/secure-session.ts';
export * from './station/index.ts';
export * from './transport/ble/ble.ts';
export { type BleAdapter, type BleAdapterChoice, NOBLE_VERSION, resolveBleAdapter } from './transport/ble/noble.ts';
export * from './transport/memory.ts';
export * from './transport/mqtt.ts';
export * from './transport/open.ts';
export * from './transport/serial.ts';
export * from './transport/stream.ts';
export * from './transport/tcp.ts';
export * from './transport/transport.ts';
