/**
 * The control API's OpenAPI 3.1 document, served at `/api/openapi.json`. `sim/test/control-openapi.test.ts`
 * checks that the server's routes are exactly the document's and that every route's real answers
 * (successes and errors) conform to its schemas.
 * @module
 */
import { ATT_MTU_MAX, ATT_MTU_MIN } from '@enigm/protocols/ble';
import { LIFECYCLE_STATES } from '@enigm/protocols/messages';
import { COUNTER_FIELDS } from '../firmware/dormancy.ts';
import type { JsonSchema } from './schema.ts';
import { MAX_TRACK_FIXES } from './track.ts';
import { MAX_ADVANCE_MS, MAX_HOLD_S, MAX_SPEED, RADIO_STATES } from './validate.ts';

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, JsonSchema>, required: string[] = Object.keys(properties)): JsonSchema => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});
const num: JsonSchema = { type: 'number' };
const int: JsonSchema = { type: 'integer' };
const bool: JsonSchema = { type: 'boolean' };
const str: JsonSchema = { type: 'string' };
const lifecycle: JsonSchema = { type: 'string', enum: Object.keys(LIFECYCLE_STATES) };
const radioState: JsonSchema = { type: 'string', enum: RADIO_STATES };
const PHASES = ['triggered', 'active', 'cancelled', 'resolved', 'revoked'];
const phase: JsonSchema = { type: 'string', enum: PHASES };
const hex: JsonSchema = { type: 'string', description: 'hex' };
const count: JsonSchema = { type: 'integer', minimum: 0 };

/** Schemas of the document's `components`. */
const SCHEMAS: Record<string, JsonSchema> = {
  Error: obj({ error: obj({ code: str, name: str, reason: str }) }),
  GnssFix: obj(
    {
      atMs: { type: 'integer', minimum: 0 },
      lat: { ...num, minimum: -90, maximum: 90 },
      lon: { ...num, minimum: -180, maximum: 180 },
      accuracyM: { ...num, minimum: 0 },
    },
    ['atMs', 'lat', 'lon'],
  ),
  Gesture: {
    oneOf: [
      ...(['press', 'double', 'triple'] as const).map((k) => obj({ kind: { type: 'string', const: k } })),
      ...(['hold', 'hold-at-power-on'] as const).map((k) =>
        obj({ kind: { type: 'string', const: k }, seconds: { type: 'number', exclusiveMinimum: 0, maximum: MAX_HOLD_S } }),
      ),
    ],
  },
  GestureOutcome: obj({ action: str, done: bool, refused: str }, ['action', 'done']),
  /** What a Key did in one lifecycle state (docs/emergency.md "Dormancy"). */
  StateCounters: obj(Object.fromEntries(COUNTER_FIELDS.map((f) => [f, { type: 'number', minimum: 0 }]))),
  DeviceState: obj(
    {
      index: int,
      lifecycle,
      model: str,
      firmware: str,
      handle: str,
      pairedHosts: int,
      pairingWindowUntil: num,
      power: { type: 'string', enum: ['on', 'off'] },
      usb: bool,
      battery: obj({ level: { ...num, minimum: 0, maximum: 100 }, charging: bool, low: bool, critical: bool }),
      radio: obj({ state: radioState, onMs: num }),
      counters: obj(Object.fromEntries(Object.keys(LIFECYCLE_STATES).map((s) => [s, ref('StateCounters')]))),
      gnss: obj({ powered: bool, fixes: int, refused: int, last: ref('GnssFix') }, ['powered', 'fixes', 'refused']),
      led: str,
      haptics: int,
      emergency: ref('EmergencyState'),
      factoryResetArmedUntil: num,
      ble: ref('BleState'),
    },
    [
      'index',
      'lifecycle',
      'model',
      'firmware',
      'handle',
      'pairedHosts',
      'power',
      'usb',
      'battery',
      'radio',
      'gnss',
      'led',
      'haptics',
      'emergency',
    ],
  ),
  EmergencyState: {
    ...obj({ phase: { type: 'string', enum: ['none', ...PHASES] }, eventId: hex, records: count, startedAt: num }, [
      'phase',
      'records',
    ]),
    description: 'the emergency event, metadata only (never a location or a key); phase `none`: no event',
  },
  BleState: {
    ...obj({
      name: str,
      advertising: bool,
      connections: count,
      links: {
        type: 'array',
        items: obj({
          link: str,
          mtu: { type: 'integer', minimum: ATT_MTU_MIN, maximum: ATT_MTU_MAX },
          phy: { type: 'string', enum: ['1M', '2M'] },
        }),
      },
    }),
    description:
      'the Key on BLE (present when the simulator runs with BLE): advertising, and each open connection with its negotiated ATT_MTU and PHY',
  },
  KeyList: obj({ keys: { type: 'array', items: ref('DeviceState') } }),
  GestureAnswer: obj({ outcome: ref('GestureOutcome'), state: ref('DeviceState') }),
  Clock: obj({ now: num, speed: num }),
  DeviceEvent: {
    oneOf: [
      ['gesture', { gesture: ref('Gesture'), outcome: ref('GestureOutcome') }],
      ['lifecycle', { from: lifecycle, to: lifecycle }],
      ['output', { led: str, haptic: str }, []],
      ['battery', { level: num, charging: bool, low: bool, critical: bool }],
      ['radio', { state: radioState }],
      ['usb', { attached: bool }],
      ['power', { on: bool, tornWrite: bool }, ['on']],
      ['gnss', { fix: ref('GnssFix'), refused: bool }, []],
      ['pairing-window', { until: num }],
      ['factory-reset', { phase: { type: 'string', enum: ['armed', 'confirmed', 'expired'] } }],
      [
        'frame',
        { direction: { type: 'string', enum: ['in', 'out'] }, link: str, messageType: str, bytes: int },
        ['direction', 'link', 'bytes'],
      ],
      ['link', { link: str, phase: { type: 'string', enum: ['open', 'closed'] } }],
      ['emergency', { phase, eventId: hex, records: count }],
      [
        'emergency-record',
        {
          eventId: hex,
          kind: { type: 'string', enum: ['start', 'location', 'status', 'battery-critical', 'end'] },
          seq: count,
          bytes: count,
          records: count,
        },
      ],
    ].map(([type, props, required]) => {
      const p = props as Record<string, JsonSchema>;
      return obj({ key: int, at: num, type: { type: 'string', const: type }, ...p }, [
        'key',
        'at',
        'type',
        ...((required as string[] | undefined) ?? Object.keys(p)),
      ]);
    }),
  },
};

const json = (schema: JsonSchema) => ({ 'application/json': { schema } });
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { description: ERROR_TEXT[s] ?? 'error', content: json(ref('Error')) }]));
const ERROR_TEXT: Record<number, string> = {
  400: 'bad input (`SIM_BAD_INPUT`): nothing changed',
  401: 'no or wrong bearer token (`CONTROL_UNAUTHORIZED`)',
  404: 'no such Key (`SIM_NO_SUCH_KEY`)',
  409: 'the Key refused in its current state (its code names why)',
  413: 'request body too large (`CONTROL_BODY_TOO_LARGE`)',
};
const keyParam = {
  name: 'index',
  in: 'path',
  required: true,
  description: 'Key index, 0..keyCount-1',
  schema: { type: 'integer', minimum: 0 },
};
const stateAnswer = { '200': { description: 'the Key after the change', content: json(ref('DeviceState')) } };

/** A POST on one Key taking `body` and answering its state. */
function keyAction(summary: string, body: JsonSchema | undefined) {
  return {
    post: {
      summary,
      parameters: [keyParam],
      ...(body ? { requestBody: { required: true, content: json(body) } } : {}),
      responses: { ...stateAnswer, ...errors(400, 401, 404, 409, 413) },
    },
  };
}

/** The OpenAPI 3.1 document of the control API. */
export const OPENAPI: Readonly<Record<string, unknown>> = {
  openapi: '3.1.0',
  info: {
    title: 'Enigm Key simulator control API',
    version: '1.0.0',
    description:
      'Physical controls of the simulated Keys (button gestures, battery, GNSS track, radio, USB, power, reboot), the simulator clock, and a WebSocket stream of every device event (metadata only). Every request needs the bearer token from <stateDir>/control.json (header `Authorization: Bearer T`, or `?token=T` for the WebSocket and the dashboard page). Listens on 127.0.0.1 unless started otherwise.',
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: SCHEMAS,
  },
  security: [{ bearer: [] }],
  paths: {
    '/api/keys': {
      get: {
        summary: 'every Key and its state',
        responses: { '200': { description: 'the Keys', content: json(ref('KeyList')) }, ...errors(401) },
      },
    },
    '/api/keys/{index}': {
      get: {
        summary: 'one Key and its state',
        parameters: [keyParam],
        responses: { ...{ '200': { description: 'the Key', content: json(ref('DeviceState')) } }, ...errors(401, 404) },
      },
    },
    '/api/keys/{index}/gesture': {
      post: {
        summary: 'a button gesture (press, double, triple, hold N s, hold at power-on)',
        parameters: [keyParam],
        requestBody: { required: true, content: json(ref('Gesture')) },
        responses: {
          '200': { description: 'what the firmware did with it, and the Key after', content: json(ref('GestureAnswer')) },
          ...errors(400, 401, 404, 409, 413),
        },
      },
    },
    '/api/keys/{index}/battery': keyAction('set the battery level and/or charging', {
      ...obj({ level: { ...num, minimum: 0, maximum: 100 }, charging: bool }, []),
      minProperties: 1,
    }),
    '/api/keys/{index}/gnss/track': keyAction(
      `replace the scripted GNSS track (at most ${MAX_TRACK_FIXES} fixes, sorted by atMs)`,
      obj({ fixes: { type: 'array', items: ref('GnssFix'), maxItems: MAX_TRACK_FIXES } }),
    ),
    '/api/keys/{index}/radio': keyAction('set the LTE-M radio state', obj({ state: radioState })),
    '/api/keys/{index}/usb': keyAction('attach or detach USB', obj({ attached: bool })),
    '/api/keys/{index}/power': keyAction('pull (false) or restore (true) power', obj({ on: bool })),
    '/api/keys/{index}/reboot': keyAction('reboot the Key', undefined),
    '/api/clock': {
      get: {
        summary: 'the simulator clock',
        responses: { '200': { description: 'clock', content: json(ref('Clock')) }, ...errors(401) },
      },
      post: {
        summary: 'scale simulated time and/or jump it forward',
        requestBody: {
          required: true,
          content: json({
            ...obj(
              {
                speed: { ...num, exclusiveMinimum: 0, maximum: MAX_SPEED },
                advanceMs: { ...num, minimum: 0, maximum: MAX_ADVANCE_MS },
              },
              [],
            ),
            minProperties: 1,
          }),
        },
        responses: { '200': { description: 'clock after', content: json(ref('Clock')) }, ...errors(400, 401, 409, 413) },
      },
    },
    '/api/events': {
      get: {
        summary:
          'WebSocket (upgrade): one JSON text message per DeviceEvent, as it happens. A client that stops reading is dropped once its unsent backlog passes the bound.',
        responses: {
          '101': { description: 'switching to WebSocket; messages are DeviceEvent', content: json(ref('DeviceEvent')) },
          ...errors(401),
          '503': { description: 'too many clients (`CONTROL_BUSY`)', content: json(ref('Error')) },
        },
      },
    },
    '/api/openapi.json': {
      get: {
        summary: 'this document',
        responses: { '200': { description: 'OpenAPI 3.1', content: json({ type: 'object' }) }, ...errors(401) },
      },
    },
    '/': {
      get: {
        summary: 'the dashboard (HTML; pass the token as ?token=)',
        responses: { '200': { description: 'HTML page', content: { 'text/html': { schema: str } } }, ...errors(401) },
      },
    },
  },
};
