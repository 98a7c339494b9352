/**
 * Privacy check of issue 14: every report, every log line, the outbox file, every API answer and
 * every byte published to the broker (posture and risk topics) is searched for this machine's
 * hostname, user names, home folder, MAC addresses, machine id and DMI serial numbers, and for the
 * paths of the test fixtures (daemon socket, findings file, state folder). None may appear: no
 * policy here asks for any of them. The agent runs on the real machine's Linux sources, the
 * Enigm OS daemon emulator, swtpm and mosquitto; a missing daemon and a malformed findings file
 * make sure reasons are covered too.
 *
 * Matching: long needles (MACs, paths, serials, machine id) are searched in every text, and in raw
 * bytes when 8 bytes or longer (shorter ones occur in random bytes by chance); short ones (a
 * hostname such as `vm`) as whole words in every text (CBOR strings decoded recursively, log
 * lines), after the agent's fixed vocabulary (signal names) is taken out. The account `root` is not
 * a personal user name and is covered by its home folder `/root` instead.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { useSwtpm } from '@enigm/attestation/lab';
import { MqttLink } from '@enigm/mqtt';
import { toHex } from '@enigm/protocols/bytes';
import { type CborValue, decode, Tagged } from '@enigm/protocols/cbor';
import { ed25519Generate } from '@enigm/protocols/crypto';
import { formatAssociationHandle } from '@enigm/protocols/handle';
import { keyTopic } from '@enigm/protocols/mqtt';
import { OSD_HEALTHY_STATES, OsdEmulator } from '@enigm/sim/osd';
import test from 'ava';
import { PostureAgent } from '../src/agent.ts';
import { queryAgent } from '../src/api/server.ts';
import { parseAgentConfig } from '../src/config.ts';
import { signPolicy } from '../src/policy/document.ts';
import { SIGNAL_NAMES } from '../src/signals.ts';
import { useBroker } from './support/broker.ts';

const sw = useSwtpm(test, { connect: false });
const fx = useBroker(test);
const dir = mkdtempSync(join(tmpdir(), 'enigm-privacy-fixture-'));
const stops: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

function readable(path: string): string | undefined {
  try {
    const v = readFileSync(path, 'utf8').trim();
    return v.length >= 4 && !/^(none|default string|to be filled by o\.e\.m\.|0+)$/i.test(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** What must never appear. */
function needles(fixturePaths: string[]): { long: string[]; short: string[]; macBytes: Uint8Array[] } {
  const long: string[] = [...fixturePaths];
  const short: string[] = [hostname()];
  const me = userInfo();
  for (const u of new Set([me.username, process.env.USER, process.env.SUDO_USER, process.env.LOGNAME])) {
    if (!u) continue;
    if (u === 'root') long.push('/root');
    else (u.length >= 6 ? long : short).push(u);
  }
  if (me.homedir && me.homedir !== '/' && me.homedir.length >= 5) long.push(me.homedir);
  const macBytes: Uint8Array[] = [];
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) {
      if (!i.mac || /^(00:){5}00$/.test(i.mac)) continue;
      long.push(i.mac.toLowerCase(), i.mac.toUpperCase(), i.mac.replace(/:/g, '-'), i.mac.replace(/:/g, ''));
      macBytes.push(Uint8Array.from(i.mac.split(':').map((h) => Number.parseInt(h, 16))));
    }
  for (const f of [
    '/etc/machine-id',
    '/sys/class/dmi/id/product_serial',
    '/sys/class/dmi/id/board_serial',
    '/sys/class/dmi/id/chassis_serial',
    '/sys/class/dmi/id/product_uuid',
  ]) {
    const v = readable(f);
    if (v) long.push(v);
  }
  return { long: [...new Set(long)], short: [...new Set(short)].filter((s) => s.length > 0), macBytes };
}

/** Every text string inside CBOR bytes, byte strings decoded recursively where they are CBOR. */
function texts(bytes: Uint8Array, depth = 0): string[] {
  if (depth > 4) return [];
  let v: CborValue;
  try {
    v = decode(bytes, { allowedTags: new Set([18]) });
  } catch {
    return [];
  }
  const out: string[] = [];
  const walk = (x: CborValue): void => {
    if (typeof x === 'string') out.push(x);
    else if (x instanceof Uint8Array) out.push(...texts(x, depth + 1));
    else if (Array.isArray(x)) for (const y of x) walk(y as CborValue);
    else if (x instanceof Map)
      for (const [k, y] of x) {
        if (typeof k === 'string') out.push(k);
        walk(y as CborValue);
      }
    else if (x instanceof Tagged) walk(x.value as CborValue);
  };
  walk(v);
  return out;
}

const VOCABULARY = new RegExp(`\\b(${[...SIGNAL_NAMES].map((n) => n.replace(/\./g, '\\.')).join('|')})\\b`, 'g');

function findLeaks(where: string, raw: Uint8Array | undefined, strings: string[], n: ReturnType<typeof needles>): string[] {
  const found: string[] = [];
  const buf = raw ? Buffer.from(raw) : undefined;
  for (const s of n.long) {
    // Raw bytes are mostly random (signatures, ids, nonces, quotes: ~12 KB here): a needle of k bytes
    // turns up there by chance with probability ~12e3 * 2^(-8k), 1e-8 for "/root" and 3e-6 for a
    // 4-character DMI serial. So only needles of 8 bytes and more are searched raw (< 1e-15); every
    // needle is still searched in every text.
    if (Buffer.byteLength(s) >= 8 && buf?.includes(Buffer.from(s, 'utf8')))
      found.push(`${where}: raw bytes hold ${JSON.stringify(s)}`);
    if (strings.some((t) => t.includes(s))) found.push(`${where}: text holds ${JSON.stringify(s)}`);
  }
  for (const m of n.macBytes) if (buf?.includes(Buffer.from(m))) found.push(`${where}: raw bytes hold a MAC address`);
  for (const s of n.short) {
    const re = new RegExp(`(^|[^A-Za-z0-9_-])${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9_-])`, 'i');
    for (const t of strings)
      if (re.test(t.replace(VOCABULARY, ' '))) found.push(`${where}: text ${JSON.stringify(t)} holds ${JSON.stringify(s)}`);
  }
  return found;
}

fx.brokerTest(
  'no report, log line, outbox record, API answer or published byte holds the hostname, a user name, a MAC, a serial or a fixture path',
  async (t) => {
    if (sw.mode === 'skip') return t.pass('swtpm missing outside CI');
    const osd = await OsdEmulator.start({ socketPath: join(dir, 'osd-fixture.sock'), script: { states: OSD_HEALTHY_STATES } });
    stops.push(() => osd.close());
    const findings = join(dir, 'findings-fixture.json');
    writeFileSync(
      findings,
      JSON.stringify({ version: 1, assessedAt: Date.now(), findings: [{ severity: 'high', category: 'phishing', count: 2 }] }),
    );
    const command = ed25519Generate();
    const handle = formatAssociationHandle(new Uint8Array(16).fill(0x5c));
    const id = await fx.client(handle);
    const stateDir = join(dir, 'state-fixture');
    const logs: string[] = [];
    const config = parseAgentConfig({
      handle,
      stateDir,
      tpm: sw.sw.spec,
      daemonSocket: osd.socketPath,
      activeDefenseFile: findings,
      mqtt: { url: fx.broker.url, ca: fx.caFile, cert: id.certFile, key: id.keyFile },
      policyKeys: [toHex(command.publicKey)],
      log: 'quiet',
    });
    const agent = await PostureAgent.start(config, { manual: true, log: (l) => logs.push(JSON.stringify(l)) });
    stops.push(() => agent.stop());
    const be = await fx.client('backend-1');
    const link = await MqttLink.connect({ url: fx.broker.url, tls: { ca: fx.caPem, cert: be.cert, key: be.key } });
    stops.push(() => link.close());
    const published: Uint8Array[] = [];
    link.onMessage((_t, p) => published.push(Uint8Array.from(p)));
    await link.subscribe(`enigm/v1/key/${handle}/posture`, 1);
    await link.subscribe(`enigm/v1/key/${handle}/risk`, 1);
    // The policy authorizes the findings on the risk topic.
    const policy = signPolicy(
      {
        id: 'privacy',
        version: 1,
        issuedAt: Date.now(),
        rules: [{ signal: 'tsc.posture', allowed: ['secure'], graceMs: 0 }],
        riskSignals: ['activedefense.findings'],
      },
      command.seed,
      command.publicKey,
    );
    t.true(agent.offerPolicy(policy).accepted);
    await agent.reportNow('start');
    await osd.close(); // the daemon goes away: its signals become unknown with reasons
    writeFileSync(findings, '{"version":1,"assessedAt":1,"findings":[],"title":"secret"}'); // refused file: a reason
    await agent.reportNow('change');
    await link.publish(keyTopic(handle, 'challenge'), new Uint8Array(32).fill(7));
    const end = Date.now() + 20_000;
    while (published.length < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    t.true(published.length >= 4, `published ${published.length}`);
    const status = await queryAgent(config.apiSocket, 'status');
    await agent.publisher?.idle();

    const n = needles([dir, osd.socketPath, findings, stateDir, id.certFile]);
    const leaks: string[] = [];
    for (const [i, p] of published.entries()) leaks.push(...findLeaks(`published #${i}`, p, texts(p), n));
    leaks.push(...findLeaks('logs', Buffer.from(logs.join('\n')), logs, n));
    const outbox = new Uint8Array(readFileSync(join(stateDir, 'outbox.log')));
    leaks.push(
      ...findLeaks(
        'outbox',
        outbox,
        published.flatMap((p) => texts(p)),
        n,
      ),
    );
    leaks.push(...findLeaks('api', undefined, [JSON.stringify(status, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v))], n));
    t.deepEqual(leaks, []);
    // the check is not vacuous: reasons were there to be searched, and the needles are findable
    const all = published.flatMap((p) => texts(p)).join('\n');
    t.regex(all, /tsc\.posture/);
    t.true(findLeaks('self-check', Buffer.from(`x ${n.long[0]} y`), [`x ${n.long[0]} y`], n).length > 0);
  },
);
