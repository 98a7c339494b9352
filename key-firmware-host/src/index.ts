/**
 * The host side of an Enigm Key: transports, the Key client, discovery.
 * @module
 */

export * from './client/errors.ts';
export * from './client/key-client.ts';
export * from './client/window.ts';
export * from './discovery.ts';
export * from './transport/memory.ts';
export * from './transport/open.ts';
export * from './transport/serial.ts';
export * from './transport/tcp.ts';
export * from './transport/transport.ts';
