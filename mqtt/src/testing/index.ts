/**
 * Test helpers for code that talks to a broker (`@enigm/mqtt/testing`): {@link startTcpRelay}, a
 * relay that keeps its port while the broker behind it is replaced or "the network" is down.
 * @module
 */
export { type RelayTarget, startTcpRelay, type TcpRelay, targetOf } from './tcp-relay.ts';
