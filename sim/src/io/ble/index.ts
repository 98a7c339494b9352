/**
 * The simulated Keys' Bluetooth Low Energy side: each Key's GATT model ({@link BlePeripheral}),
 * the modelled air of a connection ({@link BleAir}), a virtual adapter implementing noble's
 * bindings contract ({@link SimBleBindings}) and the loopback server that lets a host in another
 * process drive it ({@link BleAdapterServer}).
 * @module
 */
export * from './adapter-server.ts';
export * from './air.ts';
export * from './bindings.ts';
export * from './peripheral.ts';
export * from './sim-ble.ts';
