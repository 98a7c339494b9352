/**
 * `enigm fw flash | status | confirm | revert`: update a Key's firmware inside a session.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { KeyClient, SecureSession } from '@enigm/key-firmware-host';
import { type UploadProgress, uploadPayload } from '@enigm/key-firmware-host';
import { toHex } from '@enigm/protocols/bytes';
import { manifestId, parseImage } from '@enigm/protocols/firmware';
import type { BodyOf } from '@enigm/protocols/messages';
import { type Command, EXIT, type Output, type ParsedArgs, UsageError } from '../cli.ts';
import { PORT_HELP } from './key-connect.ts';
import { openKnownSession, SESSION_HELP, sessionOptions } from './key-session.ts';

/** Renders upload progress: a bar on a TTY, a line per 10 % otherwise, JSON events with --json. */
function progressPrinter(out: Output): (p: UploadProgress) => void {
  const tty = !out.json && process.stderr.isTTY;
  let lastDecile = -1;
  return (p) => {
    const frac = p.total ? p.acked / p.total : 1;
    const rate = `${(p.bytesPerSecond / 1024).toFixed(1)} KiB/s`;
    const eta = Number.isFinite(p.etaSeconds) ? `${p.etaSeconds.toFixed(0)} s` : '—';
    if (out.json) {
      const decile = Math.floor(frac * 20);
      if (decile !== lastDecile) {
        lastDecile = decile;
        out.data({
          event: 'progress',
          acked: p.acked,
          total: p.total,
          bytesPerSecond: Math.round(p.bytesPerSecond),
          etaSeconds: p.etaSeconds,
        });
      }
    } else if (tty) {
      const width = 30;
      const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
      process.stderr.write(`\r  ${bar} ${(frac * 100).toFixed(0).padStart(3)}%  ${p.acked}/${p.total} B  ${rate}  ETA ${eta}   `);
      if (p.acked >= p.total) process.stderr.write('\n');
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        out.line(`  ${(frac * 100).toFixed(0)}%  ${p.acked}/${p.total} B  ${rate}  ETA ${eta}`);
      }
    }
  };
}

async function withSession<T>(args: ParsedArgs, fn: (s: SecureSession, c: KeyClient) => Promise<T>): Promise<T> {
  const { client, session } = await openKnownSession(args);
  try {
    const r = await fn(session, client);
    await session.close();
    return r;
  } finally {
    await client.close();
  }
}

/** Reconnects after a reboot: retries while the Key comes back (bounded). */
async function reconnect(args: ParsedArgs, attempts = 10): Promise<{ client: KeyClient; session: SecureSession }> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await openKnownSession(args);
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100 * (i + 1)));
    }
  }
  throw last;
}

const flashCmd: Command = {
  name: 'fw flash',
  summary: 'upload a signed image to a Key, test-boot it, check health, confirm',
  help: `Usage: enigm fw flash --port ADDR IMAGE [--test-only | --upload-only] [--json]

Updates a paired Key inside a session. The default flow, stopping with a clear message at
the first failure:
  1. upload   the Key checks the signed manifest first (signer, model, security counter),
              then takes pipelined chunks up to its window; an interrupted upload of the same
              image resumes where it stopped
  2. finish   the Key checks the payload digest
  3. test     the Key reboots into the new image on test
  4. health   the host reconnects and checks the Key runs the new image in a session
  5. confirm  the Key keeps the image and advances its security counter
--test-only stops after 4 (the Key goes back to the old image at its next boot unless
'enigm fw confirm' is run); --upload-only stops after 2.

Progress: a bar on a terminal, plain lines otherwise, JSON events with --json.

Options:
${PORT_HELP}
${SESSION_HELP}
  --test-only     do not confirm
  --upload-only   do not test-boot`,
  options: { ...sessionOptions, 'test-only': { type: 'boolean' }, 'upload-only': { type: 'boolean' } },
  positionals: true,
  async run(args, out) {
    if (args.positionals.length !== 1) throw new UsageError('give exactly one IMAGE');
    if (args.values['test-only'] && args.values['upload-only'])
      throw new UsageError('--test-only and --upload-only exclude each other');
    const file = args.positionals[0] as string;
    let image: ReturnType<typeof parseImage>;
    try {
      image = parseImage(new Uint8Array(readFileSync(file)));
    } catch (e) {
      throw new UsageError(`${file}: ${(e as Error).message}`);
    }
    const id = toHex(manifestId(image.signedManifest));
    const m = image.manifest;
    out.line(
      `image ${file}: ${m.model} ${m.version} (security counter ${m.securityCounter}, ${m.payloadSize} B, id ${id.slice(0, 16)}…)`,
    );
    const step = (name: string) => {
      out.data({ event: 'step', step: name });
      out.line(`${name}…`);
    };
    step('upload');
    const up = await withSession(args, async (s, c) => {
      const r = await uploadPayload(s, image.signedManifest, image.payload, c.link.window, { onProgress: progressPrinter(out) });
      step('finish');
      await s.request('fw.finish', {});
      return r;
    });
    const rate = (up.bytes / (up.ms / 1000) / 1024).toFixed(1);
    out.data({
      event: 'uploaded',
      bytes: up.bytes,
      resumedFrom: up.resumedFrom,
      ms: Math.round(up.ms),
      chunk: up.chunk,
      resent: up.resent,
    });
    out.line(
      `uploaded ${up.bytes} B${up.resumedFrom ? ` (resumed at ${up.resumedFrom})` : ''} in ${(up.ms / 1000).toFixed(2)} s (${rate} KiB/s)`,
    );
    if (args.values['upload-only']) {
      out.data({ ok: true, done: 'upload', id });
      return EXIT.ok;
    }
    step('test');
    await withSession(args, (s) => s.request('fw.test', {}));
    step('health');
    const { client, session } = await reconnect(args);
    try {
      const st = await session.request('fw.status', {});
      if (toHex(st.running.id) !== id || !st.testing)
        throw new Error(
          `health check failed: the Key runs ${st.running.version} (${toHex(st.running.id).slice(0, 16)}…), testing=${st.testing}`,
        );
      out.line(`health: running ${st.running.version} on test`);
      if (args.values['test-only']) {
        await session.close();
        out.data({ ok: true, done: 'test', id });
        out.line("not confirmed: the Key reverts at its next boot unless you run 'enigm fw confirm'");
        return EXIT.ok;
      }
      step('confirm');
      const c = await session.request('fw.confirm', {});
      await session.close();
      out.data({ ok: true, done: 'confirm', id, securityCounter: c.securityCounter });
      out.line(`confirmed ${m.version}; security counter is now ${c.securityCounter}`);
      return EXIT.ok;
    } finally {
      await client.close();
    }
  },
};

function printStatus(out: Output, st: BodyOf<'fw.status.response'>): void {
  out.data({ ok: true, status: st });
  const slot = (name: string, s: BodyOf<'fw.status.response'>['running']) =>
    out.line(
      `${name.padEnd(9)} ${s.version.padEnd(10)} counter ${String(s.securityCounter).padEnd(4)} ${s.state}${s.offset !== undefined ? ` (${s.offset}/${s.size} B)` : ''}  id ${toHex(s.id).slice(0, 16)}…`,
    );
  slot('running', st.running);
  if (st.secondary) slot('secondary', st.secondary);
  out.line(`security counter ${st.securityCounter}${st.testing ? '; running image is ON TEST (confirm or it reverts)' : ''}`);
}

const simple = (name: 'status' | 'confirm' | 'revert', summary: string, help: string): Command => ({
  name: `fw ${name}`,
  summary,
  help: `Usage: enigm fw ${name} --port ADDR [--json]\n\n${help}\n\nOptions:\n${PORT_HELP}\n${SESSION_HELP}`,
  options: sessionOptions,
  async run(args, out) {
    return withSession(args, async (s) => {
      if (name === 'confirm') {
        const r = await s.request('fw.confirm', {});
        out.data({ ok: true, securityCounter: r.securityCounter });
        out.line(`confirmed; security counter is now ${r.securityCounter}`);
      } else if (name === 'revert') {
        await s.request('fw.revert', {});
        out.data({ ok: true });
        out.line('reverted: the other image runs after the next boot (or the upload was cancelled)');
      }
      printStatus(out, await s.request('fw.status', {}));
      return EXIT.ok;
    });
  },
});

/** Firmware update commands. */
export const fwFlashCommands: Command[] = [
  flashCmd,
  simple(
    'status',
    "show a Key's firmware slots and update state",
    'Shows the running image, the other slot (an upload in progress, a new image, or the previous one), the installed security counter and whether the running image is on test.',
  ),
  simple(
    'confirm',
    'keep the running test image',
    'Confirms the image the Key test-booted: it stays, and the security counter advances to its value.',
  ),
  simple(
    'revert',
    'go back to the previous image',
    'Makes the Key boot the other image at its next boot (a test image not yet confirmed), or cancels an upload in progress.',
  ),
];
