/**
 * `enigm fw flash | status | confirm | revert`: update a Key's firmware. Each command parses its
 * arguments, calls the Key facade (`@enigm/key-firmware-host`: the whole update flow, status,
 * confirm, revert) and renders what happened; SIGINT during `fw flash` aborts the flow (exit 130)
 * and re-running it resumes. `fw flash --audit FILE --audit-key KEY.pem` records the update
 * (`key.update`, the Key's device handle, allowed or refused with the Key's error name).
 * @module
 */
import {
  type FirmwareStatus,
  type FlashStep,
  KeyError,
  KeyFacadeError,
  readImage,
  type UploadProgress,
  type UploadResult,
} from '@enigm/key-firmware-host';
import { toHex } from '@enigm/protocols/bytes';
import { AUDIT_HELP, auditOptions, noteKey, withAudit } from '../audit-options.ts';
import { type Command, EXIT, type Output, UsageError } from '../cli.ts';
import { readInputFile } from '../keyfiles.ts';
import { KEY_LOG_HELP, PORT_HELP, SESSION_HELP, sessionOptions, withKey } from './key-connect.ts';

/** Exit code after SIGINT (128 + 2), as shells report it. */
export const EXIT_INTERRUPTED = 130;

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

/** What `fw flash` adds when another host's update holds the Key (the Key's `UPDATE_BUSY`). */
export const TAKEOVER_HINT = "another host's update is in progress; an owner can take it over with --takeover";

/** The Key's `UPDATE_BUSY` refusal with {@link TAKEOVER_HINT} appended (same code); anything else as it is. */
function withTakeoverHint(e: unknown): unknown {
  if (!(e instanceof KeyError) || e.remote?.name !== 'UPDATE_BUSY') return e;
  return new KeyError(e.code, `${e.message}: ${TAKEOVER_HINT}`, { cause: e, remote: e.remote });
}

/** An AbortSignal that fires on SIGINT while `fn` runs. */
async function onSigint<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const handler = () => ac.abort();
  process.once('SIGINT', handler);
  try {
    return await fn(ac.signal);
  } finally {
    process.removeListener('SIGINT', handler);
  }
}

const flashCmd: Command = {
  name: 'fw flash',
  summary: 'upload a signed image to a Key, test-boot it, check health, confirm',
  help: `Usage: enigm fw flash --port ADDR IMAGE [--test-only | --upload-only] [--takeover] [--json]

Updates a paired Key inside a session. The default flow, stopping with a clear message at
the first failure:
  1. upload   the Key checks the signed manifest first (signer, model, security counter),
              then takes pipelined chunks up to its window; an interrupted upload of the same
              image resumes where it stopped (also after a lost link, which reconnects)
  2. finish   the Key checks the payload digest
  3. test     the Key reboots into the new image on test
  4. health   the host reconnects (backing off) and checks the Key runs the new image
  5. confirm  the Key keeps the image and advances its security counter
--test-only stops after 4 (the Key goes back to the old image at its next boot unless
'enigm fw confirm' is run); --upload-only stops after 2.

Interrupting (Ctrl-C) exits 130; running the same command again resumes: the upload from the
Key's offset, and a Key already running the image on test goes on from the health check.

While another host's update is in progress the Key refuses (UPDATE_BUSY). An owner may take
it over with --takeover: the other host's upload is dropped (its next chunk gets UPDATE_BUSY)
and this one begins.

Progress: a bar on a terminal, plain lines otherwise, JSON events with --json.

Options:
${PORT_HELP}
${SESSION_HELP}
  --test-only     do not confirm
  --upload-only   do not test-boot
  --takeover      owner only: drop another host's update in progress and begin this one
${KEY_LOG_HELP}
${AUDIT_HELP}`,
  options: {
    ...sessionOptions,
    ...auditOptions,
    'test-only': { type: 'boolean' },
    'upload-only': { type: 'boolean' },
    takeover: { type: 'boolean' },
  },
  positionals: true,
  longRunning: true,
  async run(args, out) {
    if (args.positionals.length !== 1) throw new UsageError('give exactly one IMAGE');
    if (args.values['test-only'] && args.values['upload-only'])
      throw new UsageError('--test-only and --upload-only exclude each other');
    const file = args.positionals[0] as string;
    const image = readImage(readInputFile(file, 'IMAGE'));
    const id = toHex(image.id);
    const m = image.manifest;
    out.line(
      `image ${file}: ${m.model} ${m.version} (security counter ${m.securityCounter}, ${m.payloadSize} B, id ${id.slice(0, 16)}…)`,
    );
    const until = args.values['upload-only'] ? 'upload' : args.values['test-only'] ? 'test' : 'confirm';
    const takeover = args.values.takeover === true;
    return withAudit(args, { role: 'host', op: 'key.update' }, (note) =>
      withKey(
        args,
        async (key) => {
          await noteKey(key, note);
          return onSigint(async (signal) => {
            let r: Awaited<ReturnType<typeof key.flash>>;
            try {
              r = await key.flash(image, {
                until,
                signal,
                ...(takeover ? { takeover } : {}),
                onProgress: progressPrinter(out),
                onStep: (step: FlashStep) => {
                  out.data({ event: 'step', step });
                  out.line(`${step}…`);
                },
                onUploaded: (up: UploadResult) => {
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
                },
              });
            } catch (e) {
              if (e instanceof KeyFacadeError && e.code === 'KEY_ABORTED') {
                out.data({ ok: false, interrupted: true, error: e.toJSON() });
                out.warn(`enigm fw flash: interrupted (${e.message})`);
                out.warn(`run the same command again to resume: enigm fw flash --port ${key.address} ${file}`);
                return EXIT_INTERRUPTED;
              }
              throw takeover ? e : withTakeoverHint(e);
            }
            if (r.resumedAt) out.line(`the Key already runs ${m.version} on test: resumed at the health check`);
            if (r.done === 'upload') {
              out.data({ ok: true, done: 'upload', id });
              return EXIT.ok;
            }
            out.line(`health: running ${r.status?.running.version} on test`);
            if (r.done === 'test') {
              out.data({ ok: true, done: 'test', id });
              out.line("not confirmed: the Key reverts at its next boot unless you run 'enigm fw confirm'");
              return EXIT.ok;
            }
            out.data({ ok: true, done: 'confirm', id, securityCounter: r.securityCounter });
            out.line(`confirmed ${m.version}; security counter is now ${r.securityCounter}`);
            return EXIT.ok;
          });
        },
        { changesState: true },
      ),
    );
  },
};

/** Prints a firmware status: each slot, the counter, and what the next boot does. */
function printStatus(out: Output, st: FirmwareStatus): void {
  const slot = (name: string, s: FirmwareStatus['running']) =>
    out.line(
      `${name.padEnd(9)} ${s.version.padEnd(10)} counter ${String(s.securityCounter).padEnd(4)} ${s.state}${s.offset !== undefined ? ` (${s.offset}/${s.size} B)` : ''}  id ${toHex(s.id).slice(0, 16)}…`,
    );
  slot('running', st.running);
  if (st.secondary) slot('secondary', st.secondary);
  out.line(`security counter ${st.securityCounter}${st.testing ? '; running image is ON TEST (confirm or it reverts)' : ''}`);
  out.line(`next boot ${st.nextBoot}`);
}

const statusCmd: Command = {
  name: 'fw status',
  summary: "show a Key's firmware slots and update state",
  help: `Usage: enigm fw status --port ADDR [--json]

Shows the running image, the other slot (an upload in progress, a new image, or the previous one), the installed security counter and whether the running image is on test.

Options:
${PORT_HELP}
${SESSION_HELP}`,
  options: sessionOptions,
  async run(args, out) {
    return withKey(args, async (key) => {
      const st = await key.fwStatus();
      out.data({ ok: true, status: st });
      printStatus(out, st);
      return EXIT.ok;
    });
  },
};

const confirmCmd: Command = {
  name: 'fw confirm',
  summary: 'keep the running test image',
  help: `Usage: enigm fw confirm --port ADDR [--json]

Confirms the image the Key test-booted: it stays, and the security counter advances to its value.
With no image on test there is nothing to confirm: it says so and exits 0.

Options:
${PORT_HELP}
${SESSION_HELP}`,
  options: sessionOptions,
  async run(args, out) {
    return withKey(
      args,
      async (key) => {
        const r = await key.confirm();
        out.data({ ok: true, confirmed: r.confirmed, securityCounter: r.securityCounter, status: r.status });
        out.line(
          r.confirmed
            ? `confirmed; security counter is now ${r.securityCounter}`
            : `nothing to confirm: the running image ${r.status.running.version} is not on test`,
        );
        printStatus(out, r.status);
        return EXIT.ok;
      },
      { changesState: true },
    );
  },
};

const REVERTED = {
  'test-image': 'reverted: the previous image runs after the next boot',
  upload: 'reverted: the upload (or the uploaded image not yet test-booted) was cancelled',
  'already-pending': "nothing to do: a revert is already pending; it completes at the next boot ('enigm key reboot')",
  nothing: 'nothing to revert: no image on test and no upload pending',
} as const;

const revertCmd: Command = {
  name: 'fw revert',
  summary: 'go back to the previous image',
  help: `Usage: enigm fw revert --port ADDR [--json]

Makes the Key boot the other image at its next boot (a test image not yet confirmed), or cancels an upload in progress.
With nothing pending it says so and exits 0.

Options:
${PORT_HELP}
${SESSION_HELP}`,
  options: sessionOptions,
  async run(args, out) {
    return withKey(
      args,
      async (key) => {
        const r = await key.revert();
        out.data({ ok: true, reverted: r.action !== 'nothing', action: r.action, status: r.status });
        out.line(REVERTED[r.action]);
        printStatus(out, r.status);
        return EXIT.ok;
      },
      { changesState: true },
    );
  },
};

/** Firmware update commands. */
export const fwFlashCommands: Command[] = [flashCmd, statusCmd, confirmCmd, revertCmd];
