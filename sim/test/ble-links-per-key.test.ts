/**
 * docs/security.md "Who can do what", row "holding the simulator's memory with idle or
 * never-reading connections" (issue 16 finding 8) and HARDWARE.md "BLE": a simulated Key takes at
 * most `maxBleLinksPerKey` BLE connections at once (default 1, a real Key's radio), from any host
 * adapter. A second host's connect is refused with a named reason and a log line (no content);
 * the first host keeps working; once it disconnects the second host connects. Two host adapters
 * (two `SimBleBindings`, as two hosts' radios) drive the real noble over one simulated Key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BleTransport, KeyClient } from '@enigm/key-firmware-host';
import { bleAddress, createLogger, DEFAULT_LINK_LIMITS, type LinkLimits, Simulator } from '@enigm/sim';
import test from 'ava';

const REFUSED = 'Key is connected to another host (1 BLE link per Key)';

async function simulator(t: import('ava').ExecutionContext, limits?: Partial<LinkLimits>) {
  const dir = await mkdtemp(join(tmpdir(), 'enigm-ble-links-'));
  const lines: string[] = [];
  const sim = await Simulator.start({
    keys: 1,
    serial: false,
    tcp: false,
    stateDir: dir,
    ble: { timeScale: 0 },
    log: createLogger('warn', (l) => lines.push(l)),
    ...(limits ? { limits } : {}),
  });
  const clients: KeyClient[] = [];
  t.teardown(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  });
  /** A host with its own adapter (fresh bindings) connecting to Key 0. */
  const host = async (): Promise<KeyClient> => {
    // Generous limits for a loaded machine: a refusal arrives at once, a healthy link answers fast.
    const transport = new BleTransport({
      target: 'Enigm-K0',
      adapter: () => sim.bleBindings(),
      scanTimeoutMs: 20_000,
      operationTimeoutMs: 20_000,
    });
    const client = await KeyClient.connect(transport, { timeoutMs: 20_000 });
    clients.push(client);
    return client;
  };
  return { sim, lines, host };
}

/** Polls `pred` until it holds or 20 s have passed (generous for a loaded machine; fast when it holds). */
async function until(pred: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

test('the default bound is one BLE link per Key', (t) => {
  t.is(DEFAULT_LINK_LIMITS.maxBleLinksPerKey, 1);
});

test("a second host's connect is refused while the first is connected; the first keeps working; after it disconnects the second connects", async (t) => {
  const { sim, lines, host } = await simulator(t);
  const a = await host();
  await a.ping();
  t.is(sim.controls(0).state().ble?.connections, 1);

  const refused = await t.throwsAsync(host());
  t.true(refused?.message.includes(REFUSED), refused?.message);
  t.is(sim.controls(0).state().ble?.connections, 1, 'the refused host holds no connection');
  const warning = lines.find((l) => l.includes('refused a ble connection'));
  t.truthy(warning, 'the simulator logs the refusal');
  t.regex(warning ?? '', / warn {2}key 0: refused a ble connection: 1 already open \(bound 1 BLE link per Key\)\n$/);

  await a.ping(); // the first host is untouched
  t.is(sim.controls(0).state().ble?.connections, 1);

  await a.close();
  await until(() => sim.controls(0).state().ble?.connections === 0);
  t.is(sim.controls(0).state().ble?.connections, 0);
  const b = await host();
  await b.ping();
  t.is(sim.controls(0).state().ble?.connections, 1);
});

test('the bound is configurable (maxBleLinksPerKey: 2 takes two hosts, refuses a third)', async (t) => {
  const { sim, host } = await simulator(t, { maxBleLinksPerKey: 2 });
  const a = await host();
  const b = await host();
  await a.ping();
  await b.ping();
  t.is(sim.controls(0).state().ble?.connections, 2);
  const refused = await t.throwsAsync(host());
  t.true(refused?.message.includes('Key is connected to another host (2 BLE links per Key)'), refused?.message);
});

test('the virtual adapter reports the refusal as a connect error naming the reason', async (t) => {
  const { sim, host } = await simulator(t);
  await host();
  const bindings = sim.bleBindings();
  const id = bleAddress(0).replace(/:/g, '');
  const error = await new Promise<Error | null>((resolve) => {
    bindings.once('connect', (_id: string, e: Error | null) => resolve(e));
    bindings.start();
    bindings.connect(id);
  });
  t.is(error?.message, REFUSED);
  bindings.stop();
});
