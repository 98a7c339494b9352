/**
 * The scenario format as a JSON Schema (draft 2020-12), built from the same tables the loader
 * checks against, so the two cannot drift: `schema.json` beside this file is its output
 * (`UPDATE_SCHEMA=1 npx ava sim/test/scenario-schema.test.ts` rewrites it; the test fails when they differ).
 * Editors and CI can validate scenario files with it; the loader additionally checks what a
 * schema cannot say well (fixes in time order, a Key index below the Key count).
 * @module
 */
import { MAX_CONTACTS } from '@enigm/protocols/messages';
import { GESTURE_KINDS } from '../firmware/physical/types.ts';
import { EVENT_FIELDS, type FieldSpec, OUTCOME_FIELDS, STATE_FIELDS } from './fields.ts';
import { INITIAL_LIFECYCLES, MAX_SPEED, RADIO_STATES } from './types.ts';

type Json = Record<string, unknown>;

const duration: Json = {
  description: 'seconds, or a string with units: 500ms, 2s, 1.5m, 24h, 1d, 1h30m (simulated time)',
  oneOf: [
    { type: 'number', minimum: 0 },
    { type: 'string', pattern: '^\\s*(\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)\\s*)+$|^\\s*\\d+(\\.\\d+)?\\s*$' },
  ],
};
const presence = { enum: ['absent', 'present', null] };
const comparison = { type: 'string', pattern: '^\\s*(<=|>=|==|!=|<|>|≤|≥|=|≠)\\s*-?\\d+(\\.\\d+)?\\s*$' };

function matcher(spec: FieldSpec): Json {
  switch (spec.type) {
    case 'number':
      return { anyOf: [{ type: 'number' }, comparison, presence] };
    case 'boolean':
      return { anyOf: [{ type: 'boolean' }, presence] };
    case 'string':
      return { anyOf: [spec.values ? { enum: [...spec.values] } : { type: 'string' }, presence] };
    default:
      return presence;
  }
}

/** Checks of the fields of `fields`, by dotted path (nested mappings are accepted too, not described). */
function checks(fields: Readonly<Record<string, FieldSpec>>, extra: Json = {}): Json {
  const properties: Json = { ...extra };
  for (const [path, spec] of Object.entries(fields))
    properties[path] = spec.type === 'object' ? { anyOf: [presence, { type: 'object' }] } : matcher(spec);
  return { type: 'object', properties, additionalProperties: false, minProperties: 1 };
}

const battery = {
  type: 'object',
  properties: { level: { type: 'number', minimum: 0, maximum: 100 }, charging: { type: 'boolean' } },
  additionalProperties: false,
  minProperties: 1,
};
const usb = { anyOf: [{ type: 'boolean' }, { enum: ['attached', 'detached'] }] };
const power = { anyOf: [{ type: 'boolean' }, { enum: ['on', 'off'] }] };
const track = {
  type: 'array',
  items: {
    type: 'object',
    properties: {
      at: { $ref: '#/$defs/duration' },
      atMs: { type: 'number', minimum: 0 },
      lat: { type: 'number', minimum: -90, maximum: 90 },
      lon: { type: 'number', minimum: -180, maximum: 180 },
      accuracyM: { type: 'number', minimum: 0 },
    },
    required: ['lat', 'lon'],
    additionalProperties: false,
  },
};
const keySetup = {
  type: 'object',
  properties: {
    lifecycle: { enum: [...INITIAL_LIFECYCLES] },
    battery,
    radio: { enum: [...RADIO_STATES] },
    usb,
    power,
    track,
    contacts: { type: 'integer', minimum: 0, maximum: MAX_CONTACTS },
  },
  additionalProperties: false,
};
const speed = { type: 'number', exclusiveMinimum: 0, maximum: MAX_SPEED };
const gesture = {
  anyOf: [
    { enum: GESTURE_KINDS.filter((k) => !k.startsWith('hold')) },
    {
      type: 'object',
      properties: { kind: { enum: [...GESTURE_KINDS] }, seconds: { type: 'number', minimum: 0 } },
      required: ['kind'],
      additionalProperties: false,
    },
  ],
};
const eventTypes = Object.keys(EVENT_FIELDS);
const event = {
  anyOf: [
    { enum: eventTypes },
    ...eventTypes.map((t) => ({
      ...checks(EVENT_FIELDS[t] as Record<string, FieldSpec>, { type: { const: t } }),
      required: ['type'],
    })),
  ],
};
const expect = {
  type: 'object',
  properties: { key: { type: 'integer', minimum: 0 }, state: checks(STATE_FIELDS), event, within: { $ref: '#/$defs/duration' } },
  additionalProperties: false,
  oneOf: [{ required: ['state'] }, { required: ['event'] }],
};

/** Step actions and the schema of each one's value. */
const ACTIONS: Json = {
  gesture,
  battery,
  track,
  radio: { enum: [...RADIO_STATES] },
  usb,
  power,
  reboot: { enum: [true, null] },
  ack: {
    type: 'object',
    properties: { contact: { type: 'integer', minimum: 0, maximum: MAX_CONTACTS - 1 } },
    required: ['contact'],
    additionalProperties: false,
  },
  wait: { $ref: '#/$defs/duration' },
  speed,
  expect,
};

/**
 * The JSON Schema of scenario files.
 * @returns a JSON-serialisable schema document
 */
export function scenarioJsonSchema(): Json {
  const stepCommon: Json = {
    name: { type: 'string' },
    key: { type: 'integer', minimum: 0 },
    at: { $ref: '#/$defs/duration' },
    after: { $ref: '#/$defs/duration' },
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://enigm.example/schemas/scenario.json',
    title: 'Enigm simulator scenario',
    description:
      'Scripts simulated Keys (gestures, battery, GNSS track, radio, USB, power, emergency contacts and acks) and expectations on their state and events. See docs/scenarios.md.',
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1 },
      description: { type: 'string' },
      speed,
      keys: {
        anyOf: [
          { type: 'integer', minimum: 1, maximum: 1024 },
          { type: 'array', items: keySetup, minItems: 1, maxItems: 1024 },
          {
            type: 'object',
            properties: { count: { type: 'integer', minimum: 1, maximum: 1024 }, initial: keySetup },
            additionalProperties: false,
          },
        ],
      },
      steps: { type: 'array', minItems: 1, items: { $ref: '#/$defs/step' } },
    },
    required: ['name', 'steps'],
    additionalProperties: false,
    $defs: {
      duration,
      step: {
        oneOf: Object.entries(ACTIONS).map(([name, schema]) => ({
          type: 'object',
          properties: {
            ...stepCommon,
            [name]: schema,
            ...(name === 'gesture' ? { outcome: checks(OUTCOME_FIELDS) } : {}),
          },
          required: [name],
          additionalProperties: false,
          not: { required: ['at', 'after'] },
        })),
      },
    },
  };
}
