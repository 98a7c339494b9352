/**
 * Flash a Key, as an application would: start a simulated Key on a real pseudo-terminal, open
 * it with the Key facade, pair (pinning the Key), read its info, ask it for attestation evidence,
 * build and sign a firmware image, flash it (upload → test boot → health → confirm), and stop.
 *
 * It imports only the suite's public entry points: `@enigm/key-firmware-host` (the host side),
 * `@enigm/sim` (the simulator) and `@enigm/protocols/…` (wire formats). Nothing is written outside
 * a temporary folder. Needs socat (the simulator's serial ports are socat pseudo-terminals).
 *
 * Run from the repository root:
 *
 *     node --import tsx examples/flash-a-key.ts
 *
 * Exit status 0 when the Key runs the new image, confirmed; 1 with the error code otherwise.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openKey } from '@enigm/key-firmware-host';
import { toHex } from '@enigm/protocols/bytes';
import { ed25519PrivateKeyFromPem, sha256 } from '@enigm/protocols/crypto';
import { buildImage, signManifest } from '@enigm/protocols/firmware';
import { Simulator } from '@enigm/sim';

/** A stand-in application payload (deterministic, so every run flashes the same image). */
function appPayload(size: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = Math.imul(i, 2654435761) >>> 24;
  return p;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'enigm-example-'));
  // 1. A simulated Key, its serial port a real pseudo-terminal.
  const sim = await Simulator.start({ keys: 1, stateDir: join(work, 'sim'), tcp: false });
  try {
    const port = sim.keys()[0]?.serial as string;
    console.log(`simulated Key on ${port}`);

    // 2. Open it. This host's key and its pins live in the temporary folder.
    const key = await openKey(port, {
      hostKey: join(work, 'host', 'host-key.pem'),
      known: join(work, 'host', 'known-keys.json'),
    });
    try {
      const info = await key.info();
      console.log(
        `info: ${info.model} firmware ${info.firmware}, state ${info.state}, handle ${info.handle ? toHex(info.handle) : '(shown to paired hosts only)'}`,
      );

      // 3. Pair: first contact verifies the Key's identity binding and pins it.
      const paired = await key.pair('owner', { label: 'example' });
      console.log(`paired as ${paired.role}; identity ${paired.identity.slice(0, 16)}… pinned`);

      // 4. Attest: evidence signed by the pinned identity over a fresh nonce.
      const { claims } = await key.attest();
      console.log(
        `attested: model ${new TextDecoder().decode(claims.hwmodel)}, firmware ${claims.swversion[0]}, security counter ${claims.securityCounter}`,
      );

      // 5. A signed image. The simulator trusts its own firmware-signing key.
      const seed = ed25519PrivateKeyFromPem(readFileSync(sim.signingKeyPath, 'utf8'));
      const payload = appPayload(64 * 1024);
      const manifest = signManifest(
        { model: info.model, version: '1.1.0', securityCounter: 2, payloadSize: payload.length, payloadDigest: sha256(payload) },
        seed,
      );
      const image = buildImage(manifest, payload);

      // 6. Flash: the whole flow; a lost link reconnects with backoff and the upload resumes.
      let lastDecile = -1;
      const result = await key.flash(image, {
        onStep: (step) => console.log(`flash: ${step}`),
        onProgress: (p) => {
          const decile = Math.floor((10 * p.acked) / p.total);
          if (decile > lastDecile && decile % 5 === 0) console.log(`  ${decile * 10}% (${p.acked}/${p.total} B)`);
          lastDecile = decile;
        },
      });
      console.log(
        `flashed ${result.manifest.version}: ${result.done === 'confirm' ? 'confirmed' : `stopped after ${result.done}`}, security counter ${result.securityCounter}`,
      );
      console.log(`the Key now runs ${key.hello.firmware}`);
    } finally {
      await key.close();
    }
  } finally {
    await sim.stop();
    rmSync(work, { recursive: true, force: true });
  }
  console.log('done');
}

main().catch((e: Error & { code?: string }) => {
  console.error(`flash-a-key: ${e.code ?? e.name}: ${e.message}`);
  process.exitCode = 1;
});
