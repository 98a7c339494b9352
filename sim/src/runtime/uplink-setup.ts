/**
 * Setting up the simulated Keys' LTE-M uplinks: the broker (the embedded one on loopback unless
 * one is given) and the development account secret (`<stateDir>/account.secret`) every Key's MQTT
 * handle derives from. Each Key's uplink itself is an `MqttEndpoint`.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type EmbeddedBroker, startEmbeddedBroker } from '@enigm/mqtt/broker';
import { SimulatorError } from './errors.ts';
import type { SimLogger } from './log.ts';
import type { MqttUplinkOptions } from './mqtt-endpoint.ts';

/** The simulator's `mqtt` option: `true`, or uplink options and the embedded broker's port. */
export type SimulatorMqttOption = boolean | (Partial<MqttUplinkOptions> & { brokerPort?: number });

/** What every Key's uplink is built with. */
export type KeyUplinkSetup = MqttUplinkOptions & {
  /** The development account secret (32 bytes). */
  accountSecret: Uint8Array;
  /** Wall-clock ms at simulated time 0 (uplink records carry wall-clock time). */
  epoch: number;
};

/**
 * Starts the embedded broker when the option asks for one (MQTT on, no broker URL). The
 * simulator calls it before it touches its state folder, so a taken port changes nothing.
 * @returns the broker, or `undefined` when none is asked for
 * @throws SimulatorError `SIM_PORT_IN_USE` if the broker port is taken; Error if it cannot be bound otherwise
 */
export async function startUplinkBroker(
  option: SimulatorMqttOption | undefined,
  log: SimLogger,
): Promise<EmbeddedBroker | undefined> {
  if (option === undefined || option === false) return undefined;
  const given = option === true ? {} : option;
  if (given.broker !== undefined) return undefined;
  const port = given.brokerPort ?? 0;
  try {
    return await startEmbeddedBroker({ port, log: (level, m) => log[level](`broker: ${m}`) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new SimulatorError(
        'SIM_PORT_IN_USE',
        `the MQTT broker port 127.0.0.1:${port} is taken (another simulator or broker?): choose another --broker-port, or omit it for a free one`,
        { cause: e },
      );
    throw e;
  }
}

/**
 * Reads (or makes) the development account secret and describes the uplink every Key gets (its
 * `broker` is the URL the Keys connect to).
 * @param broker - the embedded broker {@link startUplinkBroker} started, if any
 * @param simNow - the simulator clock's now (ms of simulated time)
 * @returns the set-up, or `undefined` when the uplink is off
 * @throws SimulatorError `SIM_BAD_INPUT` for an account secret file that does not hold 32 bytes
 */
export function uplinkSetup(
  option: SimulatorMqttOption | undefined,
  broker: EmbeddedBroker | undefined,
  stateDir: string,
  simNow: number,
): KeyUplinkSetup | undefined {
  if (option === undefined || option === false) return undefined;
  const given = option === true ? {} : option;
  const accountSecret = readAccountSecret(stateDir);
  const url = given.broker ?? broker?.url;
  if (url === undefined) throw new Error('uplinkSetup: no broker URL and no embedded broker');
  return {
    broker: url,
    ...(given.tls ? { tls: given.tls } : {}),
    ...(given.tlsFor ? { tlsFor: given.tlsFor } : {}),
    ...(given.backoff ? { backoff: given.backoff } : {}),
    ...(given.outbox ? { outbox: given.outbox } : {}),
    accountSecret,
    // Uplink records carry wall-clock time: simulated time counted from the real start.
    epoch: Date.now() - simNow,
  };
}

/**
 * The simulator's development account secret (`<stateDir>/account.secret`, 32 bytes, mode 0600):
 * the Keys' MQTT handles are their association handles in this account. Made on first use.
 * @throws SimulatorError `SIM_BAD_INPUT` if the file does not hold 32 bytes
 */
export function readAccountSecret(stateDir: string): Uint8Array {
  const path = join(stateDir, 'account.secret');
  if (existsSync(path)) {
    const b = new Uint8Array(readFileSync(path));
    if (b.length === 32) return b;
    throw new SimulatorError('SIM_BAD_INPUT', `${path} must hold 32 bytes (it holds ${b.length}); delete it to make a new one`);
  }
  const secret = new Uint8Array(randomBytes(32));
  writeFileSync(path, secret, { mode: 0o600, flag: 'wx' });
  return secret;
}
