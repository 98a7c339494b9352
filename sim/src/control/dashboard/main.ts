/// <reference lib="dom" />
/**
 * The simulator dashboard (plain DOM + TypeScript, bundled by esbuild, no CDN): every Key in a
 * table (model, firmware, lifecycle, power, battery, radio, BLE, USB, GNSS, paired hosts, pairing
 * window), the selected Key's physical controls as buttons and its plotted GNSS track, and a live
 * timeline of events. Events patch the table at once; anything an event cannot say is fetched
 * again, batched; the DOM is touched once per animation frame, only for rows that changed.
 * @module
 */
import type { DeviceEvent, DeviceState, GnssFix } from '../../firmware/physical/types.ts';
import { ApiError, api, streamEvents, takeToken } from './api.ts';
import { bleCell, bleDetail, isBleLink } from './ble.ts';
import { h, setClass, setText, svg } from './dom.ts';
import { applyEmergency, emergencyBadge, emergencyDetail, emergencyTicking } from './emergency.ts';
import { eventText } from './event-text.ts';
import { plotTrack } from './track-plot.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };
type Key = Mutable<DeviceState>;

const TIMELINE_MAX = 200;
/** Most timeline entries added per frame (under a flood, the newest; the counter shows the rate). */
const TIMELINE_PER_FRAME = 40;
const TRACK_MAX = 2000;
const token = takeToken();
const keys: Key[] = [];
const rows: { tr: HTMLElement; cells: Record<string, HTMLElement> }[] = [];
const tracks = new Map<number, GnssFix[]>();
const dirty = new Set<number>();
const refetch = new Set<number>();
const pendingTimeline: DeviceEvent[] = [];
let selected = 0;
let clock = { now: 0, speed: 1, at: performance.now() };
let showFrames = false;
let scheduled = false;

/** Counters the page shows (and a browser test reads): events applied, frames rendered. */
const stats = { events: 0, renders: 0, rate: 0 };
(globalThis as unknown as { enigmDashboard: typeof stats }).enigmDashboard = stats;

const COLUMNS = [
  'key',
  'model',
  'firmware',
  'lifecycle',
  'emergency',
  'power',
  'battery',
  'radio',
  'ble',
  'usb',
  'gnss',
  'paired',
  'pairing',
] as const;

const HEADINGS: Record<(typeof COLUMNS)[number], string> = {
  key: '#',
  model: 'model',
  firmware: 'fw',
  lifecycle: 'lifecycle',
  emergency: 'emergency',
  power: 'power',
  battery: 'battery',
  radio: 'radio',
  ble: 'BLE',
  usb: 'USB',
  gnss: 'GNSS',
  paired: 'hosts',
  pairing: 'pairing',
};

// ---- layout ----
const conn = h('span', { class: 'conn', 'data-testid': 'connection' }, 'connecting…');
const clockText = h('span', { class: 'clock' });
const rateText = h('span', { class: 'rate', 'data-testid': 'rate' });
/** The Key table: a grid of rows (offscreen rows are skipped by the renderer: content-visibility). */
const tbody = h('div', { class: 'rows', role: 'rowgroup' });
const detailTitle = h('h2');
const detailState = h('dl', { class: 'state' });
const result = h('p', { class: 'result', 'data-testid': 'result', role: 'status' });
const plot = svg('svg', { class: 'plot', role: 'img', 'aria-label': 'GNSS track' });
const timeline = h('ol', { class: 'timeline', 'data-testid': 'timeline' });

/** A control button: runs `run`, shows its message (or the API's error) under the controls. */
function button(label: string, action: string, run: () => Promise<string | undefined>, title = ''): HTMLButtonElement {
  const b = h('button', { type: 'button', 'data-action': action, ...(title ? { title } : {}) }, label);
  b.addEventListener('click', () => {
    b.disabled = true;
    run()
      .then((message) => setText(result, `${label}: ${message ?? 'done'}`))
      .catch((e) => setText(result, `${label}: ${e instanceof ApiError ? `${e.code}: ${e.message}` : String(e)}`))
      .finally(() => {
        b.disabled = false;
      });
  });
  return b;
}

const gesture = (body: unknown) => async () => {
  const r = await api<{ outcome: { action: string; done: boolean; refused?: string }; state: DeviceState }>(
    token,
    'POST',
    `/api/keys/${selected}/gesture`,
    body,
  );
  setState(r.state);
  return `${r.outcome.action}${r.outcome.done ? '' : ` (refused: ${r.outcome.refused ?? ''})`}`;
};
const act = (path: string, body?: unknown) => async () => {
  setState(await api<DeviceState>(token, 'POST', `/api/keys/${selected}${path}`, body));
  return undefined;
};

const controls = h(
  'div',
  { class: 'controls' },
  h(
    'fieldset',
    {},
    h('legend', {}, 'Button'),
    button('Press', 'press', gesture({ kind: 'press' })),
    button('Double', 'double', gesture({ kind: 'double' })),
    button('Triple', 'triple', gesture({ kind: 'triple' }), 'starts an emergency (dormant Key)'),
    button('Hold 3 s', 'hold-3', gesture({ kind: 'hold', seconds: 3 }), 'starts an emergency (dormant Key)'),
    button('Hold 8 s', 'hold-8', gesture({ kind: 'hold', seconds: 8 }), 'opens the pairing window'),
    button('Hold 10 s', 'hold-10', gesture({ kind: 'hold', seconds: 10 }), 'cancels an emergency'),
    button(
      'Hold 10 s at power-on',
      'hold-at-power-on',
      gesture({ kind: 'hold-at-power-on', seconds: 10 }),
      'arms a factory reset',
    ),
  ),
  h(
    'fieldset',
    {},
    h('legend', {}, 'Power'),
    button('Power off', 'power-off', act('/power', { on: false })),
    button('Power on', 'power-on', act('/power', { on: true })),
    button('Reboot', 'reboot', act('/reboot')),
    button('USB on', 'usb-on', act('/usb', { attached: true })),
    button('USB off', 'usb-off', act('/usb', { attached: false })),
  ),
  h(
    'fieldset',
    {},
    h('legend', {}, 'Battery'),
    ...[100, 50, 14, 4].map((l) => button(`${l}%`, `battery-${l}`, act('/battery', { level: l }))),
    button('Charge', 'charge-on', act('/battery', { charging: true })),
    button('Unplug charger', 'charge-off', act('/battery', { charging: false })),
  ),
  h(
    'fieldset',
    {},
    h('legend', {}, 'Radio'),
    button('Attached', 'radio-attached', act('/radio', { state: 'attached' })),
    button('Detached', 'radio-detached', act('/radio', { state: 'detached' })),
    button('No coverage', 'radio-no-coverage', act('/radio', { state: 'no-coverage' })),
  ),
);

const framesToggle = h('input', { type: 'checkbox', id: 'frames' });
framesToggle.addEventListener('change', () => {
  showFrames = framesToggle.checked;
});

const speedButtons = [1, 60, 3600].map((s) =>
  button(`×${s}`, `speed-${s}`, async () => {
    const c = await api<{ now: number; speed: number }>(token, 'POST', '/api/clock', { speed: s });
    clock = { ...c, at: performance.now() };
    return `clock ×${c.speed}`;
  }),
);

document
  .getElementById('app')
  ?.replaceChildren(
    h(
      'header',
      {},
      h('h1', {}, 'Enigm Key simulator'),
      conn,
      clockText,
      rateText,
      h('span', { class: 'speed' }, 'clock ', ...speedButtons),
    ),
    h(
      'main',
      {},
      h(
        'section',
        { class: 'keys' },
        h(
          'div',
          { class: 'table', role: 'table', 'data-testid': 'keys' },
          h('div', { class: 'row head', role: 'row' }, ...COLUMNS.map((c) => h('span', { role: 'columnheader' }, HEADINGS[c]))),
          tbody,
        ),
      ),
      h(
        'section',
        { class: 'detail', 'data-testid': 'detail' },
        detailTitle,
        detailState,
        controls,
        result,
        h('h3', {}, 'GNSS track (fixes the Key took)'),
        plot,
      ),
      h('section', { class: 'events' }, h('h2', {}, 'Events ', h('label', {}, framesToggle, ' frames')), timeline),
    ),
  );

// ---- state ----
function simNow(): number {
  return clock.now + (performance.now() - clock.at) * clock.speed;
}

function setState(s: DeviceState): void {
  keys[s.index] = structuredClone(s) as Key;
  markDirty(s.index);
}

function markDirty(i: number): void {
  dirty.add(i);
  schedule();
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(render);
}

function apply(e: DeviceEvent): void {
  stats.events++;
  if (e.at > simNow()) clock = { ...clock, now: e.at, at: performance.now() }; // an advance, seen by its events
  const k = keys[e.key];
  if (e.type !== 'frame' || showFrames) {
    pendingTimeline.push(e);
    if (pendingTimeline.length > 2 * TIMELINE_PER_FRAME) pendingTimeline.splice(0, pendingTimeline.length - TIMELINE_PER_FRAME);
  }
  if (!k) {
    schedule();
    return;
  }
  switch (e.type) {
    case 'battery':
      k.battery = { level: e.level, charging: e.charging, low: e.low, critical: e.critical };
      break;
    case 'radio':
      k.radio.state = e.state;
      break;
    case 'usb':
      k.usb = e.attached;
      break;
    case 'power':
      k.power = e.on ? 'on' : 'off';
      refetch.add(e.key);
      break;
    case 'lifecycle':
      k.lifecycle = e.to;
      refetch.add(e.key);
      break;
    case 'pairing-window':
      k.pairingWindowUntil = e.until;
      break;
    case 'output':
      if (e.led) k.led = e.led;
      break;
    case 'gnss':
      if (e.fix) {
        k.gnss.fixes++;
        k.gnss.last = e.fix;
        const t = tracks.get(e.key) ?? [];
        t.push(e.fix);
        if (t.length > TRACK_MAX) t.shift();
        tracks.set(e.key, t);
      } else if (e.refused) k.gnss.refused++;
      break;
    case 'gesture':
    case 'factory-reset':
      refetch.add(e.key);
      break;
    case 'link':
      if (isBleLink(e.link)) refetch.add(e.key); // its connections, MTU and PHY come with the state
      break;
    case 'emergency':
    case 'emergency-record':
      k.emergency = applyEmergency(e.key, k.emergency ?? { phase: 'none', records: 0 }, e);
      break;
    default:
      break;
  }
  markDirty(e.key);
}

async function refetchNow(): Promise<void> {
  if (refetch.size === 0) return;
  const want = [...refetch];
  refetch.clear();
  try {
    if (want.length > 8) {
      const r = await api<{ keys: DeviceState[] }>(token, 'GET', '/api/keys');
      for (const s of r.keys) setState(s);
    } else for (const i of want) setState(await api<DeviceState>(token, 'GET', `/api/keys/${i}`));
  } catch {
    for (const i of want) refetch.add(i);
  }
}

async function loadAll(): Promise<void> {
  const [list, c] = await Promise.all([
    api<{ keys: DeviceState[] }>(token, 'GET', '/api/keys'),
    api<{ now: number; speed: number }>(token, 'GET', '/api/clock'),
  ]);
  clock = { ...c, at: performance.now() };
  for (const s of list.keys) setState(s);
}

// ---- rendering ----
function row(i: number) {
  let r = rows[i];
  if (!r) {
    const cells = Object.fromEntries(COLUMNS.map((c) => [c, h('span', { role: 'cell', 'data-field': c })])) as Record<
      string,
      HTMLElement
    >;
    const tr = h('div', { class: 'row', role: 'row', 'data-key': String(i) }, ...COLUMNS.map((c) => cells[c] as HTMLElement));
    tr.addEventListener('click', () => {
      selected = i;
      for (const x of rows) x?.tr.classList.toggle('selected', x.tr === tr);
      renderDetail();
    });
    tr.classList.toggle('selected', i === selected);
    r = { tr, cells };
    rows[i] = r;
    // rows arrive in index order, or are inserted where they belong
    const next = rows.slice(i + 1).find(Boolean);
    tbody.insertBefore(tr, next?.tr ?? null);
  }
  return r;
}

function pairingText(k: Key, now: number): string {
  if (k.pairingWindowUntil !== undefined && k.pairingWindowUntil > now)
    return `open ${Math.ceil((k.pairingWindowUntil - now) / 1000)} s`;
  if (k.factoryResetArmedUntil !== undefined && k.factoryResetArmedUntil > now) return 'reset armed';
  return '—';
}

function batteryText(k: Key): string {
  const b = k.battery;
  return `${Math.round(b.level)}%${b.charging ? ' ⚡' : ''}${b.critical ? ' critical' : b.low ? ' low' : ''}`;
}

function renderRow(i: number, now: number): void {
  const k = keys[i];
  if (!k) return;
  const { tr, cells } = row(i);
  const c = cells as Record<(typeof COLUMNS)[number], HTMLElement>;
  setText(c.key, String(i));
  setText(c.model, k.model);
  setText(c.firmware, k.firmware);
  setText(c.lifecycle, k.lifecycle);
  setClass(c.lifecycle, `lc lc-${k.lifecycle}`);
  const badge = emergencyBadge(i, k.emergency, now);
  setText(c.emergency, badge.text);
  setClass(c.emergency, badge.cls);
  setText(c.power, k.power);
  setText(c.battery, batteryText(k));
  setClass(c.battery, k.battery.critical ? 'bad' : k.battery.low ? 'warn' : '');
  setText(c.radio, k.radio.state);
  const ble = bleCell(k.ble);
  setText(c.ble, ble.text);
  setClass(c.ble, ble.cls);
  setText(c.usb, k.usb ? 'attached' : '—');
  setText(c.gnss, k.gnss.powered ? `on · ${k.gnss.fixes}` : `off · ${k.gnss.refused} refused`);
  setText(c.paired, String(k.pairedHosts));
  setText(c.pairing, pairingText(k, now));
  tr.classList.toggle('off', k.power === 'off');
}

function renderDetail(): void {
  const k = keys[selected];
  setText(detailTitle, `Key ${selected}`);
  if (!k) return;
  const now = simNow();
  const entries: [string, string][] = [
    ['handle', k.handle],
    ['model', k.model],
    ['firmware', k.firmware],
    ['lifecycle', k.lifecycle],
    ['emergency', emergencyDetail(selected, k.emergency, now)],
    ['paired hosts', String(k.pairedHosts)],
    ['pairing window', pairingText(k, now)],
    ['power', k.power],
    ['USB', k.usb ? 'attached' : 'detached'],
    ['battery', batteryText(k)],
    ['radio', `${k.radio.state} (on ${(k.radio.onMs / 1000).toFixed(0)} s)`],
    ['BLE', bleDetail(k.ble)],
    ['GNSS', `${k.gnss.powered ? 'on' : 'off'} · ${k.gnss.fixes} fixes · ${k.gnss.refused} refused`],
    ['LED', k.led],
    ['haptics', String(k.haptics)],
  ];
  detailState.replaceChildren(...entries.flatMap(([dt, dd]) => [h('dt', {}, dt), h('dd', { 'data-field': dt }, dd)]));
  const fixes = tracks.get(selected) ?? (k.gnss.last ? [k.gnss.last] : []);
  plotTrack(plot, fixes);
}

function renderTimeline(): void {
  if (pendingTimeline.length === 0) return;
  const fresh = pendingTimeline.splice(0).slice(-TIMELINE_PER_FRAME).reverse();
  const frag = document.createDocumentFragment();
  for (const e of fresh)
    frag.append(
      h(
        'li',
        { 'data-type': e.type, 'data-key': String(e.key) },
        h('time', {}, `${(e.at / 1000).toFixed(3)} s`),
        h('b', {}, `key ${e.key}`),
        h('span', { class: 'type' }, e.type),
        h('span', {}, eventText(e)),
      ),
    );
  timeline.prepend(frag);
  while (timeline.childElementCount > TIMELINE_MAX) timeline.lastElementChild?.remove();
}

function render(): void {
  scheduled = false;
  stats.renders++;
  const now = simNow();
  for (const i of dirty) renderRow(i, now);
  if (dirty.has(selected)) renderDetail();
  dirty.clear();
  renderTimeline();
}

// ---- start ----
let lastCount = 0;
setInterval(() => {
  stats.rate = stats.events - lastCount;
  lastCount = stats.events;
  setText(rateText, `${stats.rate} events/s`);
  setText(clockText, `sim time ${(simNow() / 1000).toFixed(1)} s ×${clock.speed}`);
  // pairing windows count down and emergencies' elapsed time counts up without events
  for (let i = 0; i < keys.length; i++)
    if (keys[i]?.pairingWindowUntil !== undefined || emergencyTicking(i, keys[i]?.emergency)) dirty.add(i);
  dirty.add(selected);
  schedule();
}, 1000);
setInterval(() => void refetchNow(), 250);
setInterval(() => {
  // what no event reports (paired hosts after a pairing, radio on-time) catches up here
  if (document.visibilityState === 'visible') void loadAll().catch(() => undefined);
}, 5000);

if (!token) setText(conn, 'no token: open the URL that enigm sim start printed');
else
  streamEvents(
    token,
    apply,
    (live) => {
      setText(conn, live ? 'live' : 'reconnecting…');
      conn.className = live ? 'conn live' : 'conn';
    },
    () =>
      void loadAll().catch((e) => {
        setText(conn, e instanceof ApiError && e.status === 401 ? 'the token was refused (401)' : 'cannot load the Keys');
      }),
  );
