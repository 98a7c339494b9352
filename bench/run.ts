/**
 * `npm run bench [-- NAME...]`: runs every benchmark group (or the named ones), prints a human
 * table to stderr and one JSON line per result to stdout.
 * @module
 */
import { benchAudit } from './audit.ts';
import { benchBle } from './ble.ts';
import { benchCodec } from './codec.ts';
import { benchControl } from './control.ts';
import { benchEmergency } from './emergency.ts';
import { benchEvidence } from './evidence.ts';
import { benchFlash } from './flash.ts';
import { benchFleet } from './fleet.ts';
import { benchFleetTls } from './fleet-mosquitto.ts';
import { benchFraming } from './framing.ts';
import { benchFuzz } from './fuzz.ts';
import type { BenchResult } from './harness.ts';
import { benchHpke } from './hpke.ts';
import { benchMqtt } from './mqtt.ts';
import { benchNoise } from './noise.ts';
import { benchOutbox } from './outbox.ts';
import { benchPki } from './pki.ts';
import { benchPosture } from './posture.ts';
import { benchRoundTrip } from './roundtrip.ts';
import { benchScenario } from './scenario.ts';
import { benchStation } from './station.ts';
import { benchAttestation } from './tpm.ts';

const GROUPS: Record<string, () => Promise<BenchResult[]>> = {
  codec: () => benchCodec(),
  framing: () => benchFraming(),
  evidence: () => benchEvidence(),
  roundtrip: () => benchRoundTrip(),
  noise: () => benchNoise(),
  tpm: () => benchAttestation(),
  flash: () => benchFlash(),
  fuzz: () => benchFuzz(),
  scenario: () => benchScenario(),
  control: () => benchControl(),
  audit: () => benchAudit(),
  pki: () => benchPki(),
  station: () => benchStation(),
  outbox: () => benchOutbox(),
  mqtt: () => benchMqtt(),
  fleet: () => benchFleet(),
  'fleet-tls': () => benchFleetTls(),
  hpke: () => benchHpke(),
  emergency: () => benchEmergency(),
  ble: () => benchBle(),
  posture: () => benchPosture(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((w) => !(w in GROUPS));
if (unknown.length) {
  process.stderr.write(`unknown benchmark group(s): ${unknown.join(', ')}; groups: ${Object.keys(GROUPS).join(', ')}\n`);
  process.exit(2);
}
const all: BenchResult[] = [];
for (const name of wanted.length ? wanted : Object.keys(GROUPS)) {
  process.stderr.write(`running ${name}...\n`);
  for (const r of await (GROUPS[name] as () => Promise<BenchResult[]>)()) {
    all.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
}
const w = Math.max(...all.map((r) => r.bench.length));
process.stderr.write(
  `\n${'benchmark'.padEnd(w)}  ${'value'.padStart(12)}  unit       ${'baseline'.padStart(12)}  ratio  target\n`,
);
for (const r of all)
  process.stderr.write(
    `${r.bench.padEnd(w)}  ${String(r.value).padStart(12)}  ${r.unit.padEnd(9)}  ${String(r.baseline ?? '').padStart(12)}  ${String(r.ratio ?? '').padEnd(5)}  ${r.target ?? ''}\n`,
  );
process.exit(0);
