/**
 * Bluetooth Low Energy for the Enigm Key: the GATT service (UUIDs, properties, the info value),
 * framing over GATT (fragments of ATT_MTU − 3 with sequence numbers, reassembly by length), the
 * link model behind the simulated adapter and the benchmarks, and the wire of the simulator's
 * virtual adapter. HARDWARE.md ("Bluetooth Low Energy") documents the service.
 *
 * @module
 */
export * from './adapter-wire.ts';
export * from './fragment.ts';
export * from './gatt.ts';
export * from './link-model.ts';
