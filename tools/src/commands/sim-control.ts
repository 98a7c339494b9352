/**
 * `enigm sim press | battery | gnss | power | radio | usb | reboot | keys | time | watch`: the
 * physical controls of a running simulator, over its control API. They find it through the state
 * folder (`--state-dir`, default `$ENIGM_SIM_DIR` or `.sim-state`), whose `control.json` holds the
 * API's URL and bearer token. Malformed options exit 2; a Key the simulator does not have, a
 * refused control, a malformed track file or no running simulator exit 1.
 * @module
 */
import {
  ControlClient,
  ControlError,
  type DeviceEvent,
  type DeviceState,
  GESTURE_KINDS,
  type Gesture,
  type GestureOutcome,
  MAX_HOLD_S,
  parseTrackFile,
} from '@enigm/sim/control';
import {
  CliError,
  type Command,
  EXIT,
  int,
  logLevel,
  logOptionsHelp,
  type Output,
  type ParsedArgs,
  readTextFile,
  showPath,
  stderrLogger,
  str,
  UsageError,
} from '../cli.ts';
import { defaultSimDir } from './sim.ts';

const STATE_DIR_HELP = "  --state-dir D   the simulator's state folder (default $ENIGM_SIM_DIR or .sim-state)";
const KEY_HELP = "  --key N         the Key's index (0 = the first Key)";
const common = { 'state-dir': { type: 'string' }, key: { type: 'string', short: 'k' } } as const;

function client(args: ParsedArgs): ControlClient {
  return ControlClient.fromStateDir(str(args, 'state-dir') ?? defaultSimDir());
}

function keyIndex(args: ParsedArgs): number {
  if (str(args, 'key') === undefined) throw new UsageError("--key N is required (the Key's index, 0 = the first Key)");
  return int(args, 'key', 0, 0, 1_000_000);
}

/** A number option in [min, max] (decimals allowed). */
function num(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const v = str(args, name);
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? Number.NaN : Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return n;
}

/** The one positional argument, one of `choices`. */
function choice<T extends string>(args: ParsedArgs, what: string, choices: readonly T[]): T {
  const [v, ...rest] = args.positionals;
  if (v === undefined) throw new UsageError(`say ${choices.join(' or ')}`);
  if (rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  if (!(choices as readonly string[]).includes(v))
    throw new UsageError(`${what} must be ${choices.join(' or ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

/** One line about a Key's state. */
export function describeState(s: DeviceState): string {
  const b = s.battery;
  const flags = [b.charging ? 'charging' : '', b.critical ? 'CRITICAL' : b.low ? 'low' : ''].filter(Boolean).join(', ');
  return [
    `key ${s.index}`,
    s.lifecycle,
    `power ${s.power}`,
    `battery ${Math.round(b.level)}%${flags ? ` (${flags})` : ''}`,
    `radio ${s.radio.state}`,
    `usb ${s.usb ? 'attached' : 'detached'}`,
    `gnss ${s.gnss.powered ? 'on' : 'off'} (${s.gnss.fixes} fixes, ${s.gnss.refused} refused)`,
    `${s.pairedHosts} paired host${s.pairedHosts === 1 ? '' : 's'}`,
    ...(s.pairingWindowUntil !== undefined ? ['pairing window open'] : []),
    ...(s.factoryResetArmedUntil !== undefined ? ['factory reset armed'] : []),
  ].join('  ');
}

function gestureText(g: Gesture): string {
  return 'seconds' in g ? `${g.kind} ${g.seconds} s` : g.kind;
}

function outcomeText(o: GestureOutcome): string {
  return `${o.action}${o.done ? '' : ` (refused: ${o.refused ?? 'not done'})`}`;
}

/** One line about an event, for `sim watch`. */
export function describeEvent(e: DeviceEvent): string {
  const head = `${(e.at / 1000).toFixed(3).padStart(10)} s  key ${e.key}  ${e.type}`;
  switch (e.type) {
    case 'gesture':
      return `${head} ${gestureText(e.gesture)} → ${outcomeText(e.outcome)}`;
    case 'lifecycle':
      return `${head} ${e.from} → ${e.to}`;
    case 'output':
      return `${head}${e.led ? ` led ${e.led}` : ''}${e.haptic ? ` haptic ${e.haptic}` : ''}`;
    case 'battery':
      return `${head} ${Math.round(e.level)}%${e.charging ? ' charging' : ''}${e.critical ? ' CRITICAL' : e.low ? ' low' : ''}`;
    case 'radio':
      return `${head} ${e.state}`;
    case 'usb':
      return `${head} ${e.attached ? 'attached' : 'detached'}`;
    case 'power':
      return `${head} ${e.on ? 'on' : 'off'}`;
    case 'gnss':
      return `${head} ${e.refused ? 'refused (GNSS off)' : e.fix ? 'fix' : ''}`;
    case 'pairing-window':
      return `${head} open until ${(e.until / 1000).toFixed(3)} s`;
    case 'factory-reset':
      return `${head} ${e.phase}`;
    case 'frame':
      return `${head} ${e.direction} ${e.link} ${e.messageType ?? '?'} ${e.bytes} B`;
    case 'link':
      return `${head} ${e.link} ${e.phase}`;
    default:
      return head;
  }
}

/** Runs one control request and prints the Key's state after it. */
async function act(args: ParsedArgs, out: Output, path: string, body: unknown): Promise<number> {
  const index = keyIndex(args);
  const state = await client(args).request<DeviceState>('POST', `/api/keys/${index}${path}`, body);
  out.data({ ok: true, state });
  out.line(describeState(state));
  return EXIT.ok;
}

const pressCmd: Command = {
  name: 'sim press',
  summary: 'press the button of a simulated Key (press, double, triple, hold, hold-at-power-on)',
  help: `Usage: enigm sim press --key N [--gesture G] [--seconds S] [--state-dir D] [--json]

Performs a button gesture on Key N of the running simulator and prints what the firmware did with
it (the gesture table is in HARDWARE.md: e.g. a long hold opens the pairing window, a hold at
power-on arms a factory reset).

Options:
${KEY_HELP}
  --gesture G     ${GESTURE_KINDS.join(', ')} (default press)
  --seconds S     how long a hold lasts, up to ${MAX_HOLD_S} (required for hold and hold-at-power-on)
${STATE_DIR_HELP}

Example:
  enigm sim press --key 0 --gesture hold --seconds 8`,
  options: { ...common, gesture: { type: 'string', short: 'g' }, seconds: { type: 'string', short: 's' } },
  async run(args, out) {
    const index = keyIndex(args);
    const kind = str(args, 'gesture') ?? 'press';
    if (!(GESTURE_KINDS as readonly string[]).includes(kind))
      throw new UsageError(`--gesture must be one of ${GESTURE_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    const seconds = num(args, 'seconds', 0, MAX_HOLD_S);
    let gesture: Gesture;
    if (kind === 'hold' || kind === 'hold-at-power-on') {
      if (seconds === undefined || seconds === 0) throw new UsageError(`--gesture ${kind} needs --seconds S (more than 0)`);
      gesture = { kind, seconds };
    } else {
      if (seconds !== undefined) throw new UsageError(`--seconds applies only to hold gestures, not to ${kind}`);
      gesture = { kind } as Gesture;
    }
    const r = await client(args).request<{ outcome: GestureOutcome; state: DeviceState }>(
      'POST',
      `/api/keys/${index}/gesture`,
      gesture,
    );
    out.data({ ok: true, ...r });
    out.line(`key ${index}: ${gestureText(gesture)} → ${outcomeText(r.outcome)}`);
    out.line(describeState(r.state));
    return EXIT.ok;
  },
};

const batteryCmd: Command = {
  name: 'sim battery',
  summary: 'set the battery level and/or charging of a simulated Key',
  help: `Usage: enigm sim battery --key N [--level P] [--charging on|off] [--state-dir D] [--json]

Sets Key N's battery: its level in percent (0..100) and/or whether it is charging. The Key
reacts as HARDWARE.md documents (low and critical thresholds). At least one of the two.

Options:
${KEY_HELP}
  --level P       battery level, 0..100 (%)
  --charging X    on or off
${STATE_DIR_HELP}`,
  options: { ...common, level: { type: 'string' }, charging: { type: 'string' } },
  async run(args, out) {
    const level = num(args, 'level', 0, 100);
    const c = str(args, 'charging');
    if (c !== undefined && c !== 'on' && c !== 'off')
      throw new UsageError(`--charging must be on or off, got ${JSON.stringify(c)}`);
    if (level === undefined && c === undefined) throw new UsageError('give --level P and/or --charging on|off');
    return act(args, out, '/battery', {
      ...(level !== undefined ? { level } : {}),
      ...(c !== undefined ? { charging: c === 'on' } : {}),
    });
  },
};

const gnssCmd: Command = {
  name: 'sim gnss',
  summary: 'give a simulated Key a scripted GNSS track (JSON or CSV file)',
  help: `Usage: enigm sim gnss --key N --track FILE [--state-dir D] [--json]

Replaces Key N's scripted GNSS track. The Key takes fixes from it only while its firmware has
GNSS on; attempts while it is off are refused and counted.

FILE is JSON — an array of fixes, or { "fixes": [...] } — or CSV lines atMs,lat,lon[,accuracyM]
(an optional header line, blank lines and # comments are skipped). atMs is the fix's time in ms
after the track is set, in order; lat -90..90, lon -180..180. An error names the line (and for
JSON the fix index) and the field.

Options:
${KEY_HELP}
  --track FILE    the track file
${STATE_DIR_HELP}`,
  options: { ...common, track: { type: 'string', short: 't' } },
  async run(args, out) {
    keyIndex(args);
    const file = str(args, 'track');
    if (file === undefined) throw new UsageError('--track FILE is required');
    const text = readTextFile(file, '--track file');
    let fixes: ReturnType<typeof parseTrackFile>;
    try {
      fixes = parseTrackFile(text);
    } catch (e) {
      if (e instanceof ControlError) throw new CliError('INPUT_INVALID', `--track file ${showPath(file)}: ${e.message}`);
      throw e;
    }
    if (fixes.length === 0) throw new CliError('INPUT_EMPTY', `--track file ${showPath(file)} holds no fixes`);
    return act(args, out, '/gnss/track', { fixes });
  },
};

const powerCmd: Command = {
  name: 'sim power',
  summary: 'pull (off) or restore (on) the power of a simulated Key',
  help: `Usage: enigm sim power on|off --key N [--state-dir D] [--json]

Pulls or restores Key N's power. A pull while the Key writes flash tears that write as the
flash model does; the Key boots again when power is restored.

Options:
${KEY_HELP}
${STATE_DIR_HELP}`,
  options: common,
  positionals: true,
  async run(args, out) {
    const on = choice(args, 'power', ['on', 'off'] as const) === 'on';
    return act(args, out, '/power', { on });
  },
};

const radioCmd: Command = {
  name: 'sim radio',
  summary: "attach (on), detach (off) or take away coverage of a simulated Key's LTE-M radio",
  help: `Usage: enigm sim radio on|off|no-coverage --key N [--state-dir D] [--json]

Sets Key N's LTE-M radio: on = attached, off = detached, no-coverage = powered but no network.

Options:
${KEY_HELP}
${STATE_DIR_HELP}`,
  options: common,
  positionals: true,
  async run(args, out) {
    const v = choice(args, 'radio', ['on', 'off', 'no-coverage'] as const);
    return act(args, out, '/radio', { state: v === 'on' ? 'attached' : v === 'off' ? 'detached' : 'no-coverage' });
  },
};

const usbCmd: Command = {
  name: 'sim usb',
  summary: 'attach (on) or detach (off) USB power of a simulated Key',
  help: `Usage: enigm sim usb on|off --key N [--state-dir D] [--json]

Attaches or detaches Key N's USB cable (power for charging; the simulator's serial and TCP links
stay as they are).

Options:
${KEY_HELP}
${STATE_DIR_HELP}`,
  options: common,
  positionals: true,
  async run(args, out) {
    return act(args, out, '/usb', { attached: choice(args, 'usb', ['on', 'off'] as const) === 'on' });
  },
};

const rebootCmd: Command = {
  name: 'sim reboot',
  summary: 'reboot a simulated Key',
  help: `Usage: enigm sim reboot --key N [--state-dir D] [--json]

Reboots Key N (as its reboot command does).

Options:
${KEY_HELP}
${STATE_DIR_HELP}`,
  options: common,
  async run(args, out) {
    return act(args, out, '/reboot', undefined);
  },
};

const keysCmd: Command = {
  name: 'sim keys',
  summary: "show every simulated Key's physical and lifecycle state",
  help: `Usage: enigm sim keys [--state-dir D] [--json]

Prints one line per Key of the running simulator: lifecycle, power, battery, radio, USB, GNSS,
paired hosts, pairing window. The dashboard's URL is in D/control.json.

Options:
${STATE_DIR_HELP}`,
  options: { 'state-dir': common['state-dir'] },
  async run(args, out) {
    const { keys } = await client(args).request<{ keys: DeviceState[] }>('GET', '/api/keys');
    out.data({ ok: true, keys });
    for (const k of keys) out.line(describeState(k));
    return EXIT.ok;
  },
};

const timeCmd: Command = {
  name: 'sim time',
  summary: 'show, scale (--speed) or advance (--advance) the simulator clock',
  help: `Usage: enigm sim time [--speed X] [--advance MS] [--state-dir D] [--json]

Without options prints the simulator clock. --speed runs simulated time X times faster than
real time (0 < X <= 100000); --advance jumps it forward by MS milliseconds (battery drain,
pairing windows and other timed behaviour catch up in order).

Options:
  --speed X       clock speed factor
  --advance MS    jump forward, ms (at most one year)
${STATE_DIR_HELP}`,
  options: { 'state-dir': common['state-dir'], speed: { type: 'string' }, advance: { type: 'string' } },
  async run(args, out) {
    const speed = num(args, 'speed', 0, 100_000);
    if (speed === 0) throw new UsageError('--speed must be more than 0');
    const advanceMs = num(args, 'advance', 0, 366 * 24 * 3600 * 1000);
    const c = client(args);
    const clock =
      speed === undefined && advanceMs === undefined
        ? await c.request<{ now: number; speed: number }>('GET', '/api/clock')
        : await c.request<{ now: number; speed: number }>('POST', '/api/clock', {
            ...(speed !== undefined ? { speed } : {}),
            ...(advanceMs !== undefined ? { advanceMs } : {}),
          });
    out.data({ ok: true, clock });
    out.line(`simulator clock ${(clock.now / 1000).toFixed(3)} s, speed ×${clock.speed}`);
    return EXIT.ok;
  },
};

const watchCmd: Command = {
  name: 'sim watch',
  summary: 'print every event of the running simulator as it happens (--json: one JSON line each)',
  help: `Usage: enigm sim watch [--key N] [--count N] [--state-dir D] [--log-level L | --verbose] [--json]

Streams the simulator's events — gestures, lifecycle changes, LED and haptic outputs, battery,
radio, USB, power, GNSS fixes, pairing windows, frames in and out (type and size only, never
content) — until Ctrl-C, the simulator stops, or --count events were printed.

Options:
  --key N         only this Key's events
  --count N       stop after N events
${STATE_DIR_HELP}
${logOptionsHelp('info', 'the stream opened and ended; debug: events left out by --key, a count at the end')}
  --json          one JSON object per line`,
  options: { ...common, count: { type: 'string', short: 'c' } },
  longRunning: true,
  async run(args, out) {
    const log = stderrLogger(logLevel(args, 'info'));
    const only = str(args, 'key') === undefined ? undefined : keyIndex(args);
    const limit = int(args, 'count', 0, 1, 1_000_000_000);
    const c = client(args);
    let seen = 0;
    let skipped = 0;
    const stream = c.events((e) => {
      if (only !== undefined && e.key !== only) {
        skipped++;
        return;
      }
      if (limit !== 0 && seen >= limit) return;
      seen++;
      if (out.json) process.stdout.write(`${JSON.stringify(e)}\n`);
      else out.line(describeEvent(e));
      if (limit !== 0 && seen >= limit) stream.close();
    });
    await stream.opened;
    // The stop signals are ours before "watching" is announced (a supervisor may signal on it).
    const interrupted = new Promise<void>((resolve) => {
      const onSignal = () => {
        stream.close();
        resolve();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      void stream.closed.then(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      });
    });
    log.info(`watching ${c.url} (Ctrl-C to stop)`);
    const code = await Promise.race([stream.closed, interrupted.then(() => 1000)]);
    if (code !== 1000 && code !== 1005 && (limit === 0 || seen < limit))
      log.warn('the event stream ended: the simulator stopped');
    log.debug(`sim watch: ${seen} events shown${only === undefined ? '' : `, ${skipped} of other Keys left out`}`);
    return EXIT.ok;
  },
};

/** The control commands under `enigm sim`. */
export const simControlCommands: Command[] = [
  pressCmd,
  batteryCmd,
  gnssCmd,
  powerCmd,
  radioCmd,
  usbCmd,
  rebootCmd,
  keysCmd,
  timeCmd,
  watchCmd,
];
