/**
 * Issue 15 "The simulator-controls issue adds its dashboard view": the control API's Key state
 * carries the Key's BLE face (`ble`: name, advertising, each connection's negotiated ATT_MTU and
 * PHY; schema `BleState` of the OpenAPI document), and the dashboard shows it. In a real Chromium
 * (playwright-core): a host connecting over BLE through the real noble (the simulator's virtual
 * adapter at 1M PHY / MTU 185) appears in the Key's row and detail; when it closes the Key is back
 * to advertising; a Key without power does not advertise. Without Chromium the test skips locally
 * and FAILS under CI=true.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BleTransport, KeyClient } from '@enigm/key-firmware-host';
import { Simulator } from '@enigm/sim';
import { ControlServer, checkSchema, OPENAPI } from '@enigm/sim/control';
import test from 'ava';
import { browser } from './dashboard-chromium.ts';

const KEY_STATE = { $ref: '#/components/schemas/DeviceState' };

test('the API state carries ble (advertising, links with MTU and PHY) and conforms to the document; without --ble there is none', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-ble-state-'));
  const sim = await Simulator.start({ keys: 1, serial: false, tcp: false, stateDir: dir, ble: { timeScale: 0 } });
  const plain = await Simulator.start({ keys: 1, serial: false, tcp: false, stateDir: join(dir, 'plain') });
  let client: KeyClient | undefined;
  t.teardown(async () => {
    await client?.close();
    await plain.stop();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });
  t.is(plain.controls(0).state().ble, undefined);
  t.deepEqual(sim.controls(0).state().ble, { name: 'Enigm-K0', advertising: true, connections: 0, links: [] });
  const transport = new BleTransport({
    target: 'Enigm-K0',
    adapter: () => sim.bleBindings({ link: { phy: '1M', mtu: 185 } }),
    scanTimeoutMs: 20_000,
    operationTimeoutMs: 20_000,
  });
  client = await KeyClient.connect(transport, { timeoutMs: 20_000 });
  await client.ping();
  const state = sim.controls(0).state();
  t.deepEqual(state.ble, {
    name: 'Enigm-K0',
    advertising: true,
    connections: 1,
    links: [{ link: 'ble#1', mtu: 185, phy: '1M' }],
  });
  t.deepEqual(checkSchema(state, KEY_STATE, OPENAPI), []);
  t.not(
    checkSchema({ ...state, ble: { ...state.ble, links: [{ link: 'ble#1', mtu: 600, phy: '1M' }] } }, KEY_STATE, OPENAPI).length,
    0,
    'an MTU beyond 517 does not conform (the check can fail)',
  );
  await client.close();
  client = undefined;
  const end = Date.now() + 20_000; // generous for a loaded machine; the close lands within milliseconds normally
  while (sim.controls(0).state().ble?.connections !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  t.is(sim.controls(0).state().ble?.connections, 0, 'the closed connection is gone');
  sim.controls(0).setPower(false);
  t.is(sim.controls(0).state().ble?.advertising, false, 'without power it does not advertise');
});

test('dashboard: a host connecting over BLE appears in the Key row and detail (count, PHY, MTU); closing it goes back to advertising', async (t) => {
  const b = await browser(t);
  if (!b) return t.pass();
  const { page, problems } = b;
  const dir = await mkdtemp(join(tmpdir(), 'enigm-dashboard-ble-'));
  const sim = await Simulator.start({ keys: 2, serial: false, tcp: false, stateDir: dir, ble: { timeScale: 0 } });
  const server = await ControlServer.start(sim, { stateDir: dir });
  let client: KeyClient | undefined;
  t.teardown(async () => {
    await client?.close();
    await server.close();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await page.goto(server.dashboardUrl);
  await page.locator('[data-testid="connection"]', { hasText: 'live' }).waitFor();
  const cell = (i: number) => page.locator(`.row[data-key="${i}"] [data-field="ble"]`);
  await cell(0).filter({ hasText: 'advertising' }).waitFor({ timeout: 20_000 });
  t.is(await cell(1).textContent(), 'advertising');
  t.is(await page.locator('.row.head', { hasText: 'BLE' }).count(), 1, 'the table has a BLE column');

  client = await KeyClient.connect(
    new BleTransport({
      target: 'Enigm-K0',
      adapter: () => sim.bleBindings({ link: { phy: '1M', mtu: 185 } }),
      scanTimeoutMs: 20_000,
      operationTimeoutMs: 20_000,
    }),
    { timeoutMs: 20_000 },
  );
  await client.ping();
  await cell(0).filter({ hasText: '1 · 1M · MTU 185' }).waitFor({ timeout: 20_000 });
  t.is(await cell(1).textContent(), 'advertising', 'Key 1 is untouched');
  const detail = page.locator('[data-testid="detail"] dd[data-field="BLE"]');
  await detail.filter({ hasText: 'Enigm-K0 · advertising · 1 connection: ble#1 1M MTU 185' }).waitFor({ timeout: 20_000 });
  await page.locator('[data-testid="timeline"] li[data-type="link"][data-key="0"]', { hasText: 'ble#1' }).first().waitFor();

  await client.close();
  client = undefined;
  await cell(0)
    .filter({ hasText: /^advertising$/ })
    .waitFor({ timeout: 20_000 });
  // a Key without power does not advertise
  sim.controls(1).setPower(false);
  await cell(1).filter({ hasText: /^off$/ }).waitFor({ timeout: 20_000 });
  t.deepEqual(problems, [], 'no page errors, no CSP violations');
});
