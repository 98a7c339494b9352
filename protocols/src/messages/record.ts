/**
 * Typed CBOR records with declared integer keys.
 *
 * Every Key protocol message body is a CBOR map whose keys are small unsigned integers. A record
 * is declared once — field name, integer key, field type, optional or not — and the declaration
 * gives both the TypeScript type and a strict validator: unknown keys, missing required fields and
 * wrong types are rejected with `MESSAGE_INVALID`, naming the record, field and key.
 *
 * @example
 * ```ts
 * const Point = defineRecord('point', { x: field(1, t.int()), label: field(2, t.text(32), true) });
 * const map = Point.toMap({ x: 3 });          // Map { 1 => 3 }
 * const p = Point.fromMap(map);               // { x: 3 }
 * ```
 * @module
 */
import type { CborMap, CborValue } from '../cbor/types.ts';
import { ProtocolError } from '../errors.ts';

/** Returned by {@link FieldType.check} when a value does not fit (no allocation on the fast path). */
export const INVALID: unique symbol = Symbol('invalid');

/** A field type: checks and converts one CBOR value into its TypeScript value. */
export interface FieldType<T> {
  /** Short description used in errors and docs, e.g. `uint ≤ 65535`. */
  readonly describe: string;
  /** Returns the typed value, or {@link INVALID} if the value does not fit. */
  check(value: CborValue): T | typeof INVALID;
  /** Says why `value` does not fit (called only after `check` returned {@link INVALID}). */
  why(value: CborValue): string;
  /** Converts a typed value to CBOR. */
  toCbor(value: T): CborValue;
}

const ok = <T>(value: T) => ({ ok: true as const, value });
const bad = (why: string) => ({ ok: false as const, why });

/** Builds a FieldType from a predicate and a reason. */
function simple<T>(describe: string, fits: (v: CborValue) => boolean, why: (v: CborValue) => string): FieldType<T> {
  return {
    describe,
    check: (v) => (fits(v) ? (v as T) : INVALID),
    why,
    toCbor: (v) => v as CborValue,
  };
}
const kindOf = (v: CborValue): string =>
  v === null
    ? 'null'
    : v instanceof Uint8Array
      ? 'bytes'
      : v instanceof Map
        ? 'map'
        : Array.isArray(v)
          ? 'array'
          : typeof v === 'object'
            ? 'tag'
            : typeof v;

/** Field type constructors. */
export const t = {
  /** Unsigned integer in [0, max] (default max 2^32−1). */
  uint(max = 0xffff_ffff): FieldType<number> {
    return simple(
      `uint ≤ ${max}`,
      (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max,
      (v) => `expected uint ≤ ${max}, got ${kindOf(v)}${typeof v === 'number' ? ` ${v}` : ''}`,
    );
  },
  /** Signed integer in [min, max]. */
  int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): FieldType<number> {
    return simple(
      `int in [${min}, ${max}]`,
      (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max,
      (v) => `expected int in [${min}, ${max}], got ${kindOf(v)}${typeof v === 'number' ? ` ${v}` : ''}`,
    );
  },
  /** Boolean. */
  bool(): FieldType<boolean> {
    return simple(
      'bool',
      (v) => typeof v === 'boolean',
      (v) => `expected bool, got ${kindOf(v)}`,
    );
  },
  /** Text string of at most `maxLength` UTF-16 code units. */
  text(maxLength = 256): FieldType<string> {
    return simple(
      `text ≤ ${maxLength}`,
      (v) => typeof v === 'string' && v.length <= maxLength,
      (v) => (typeof v === 'string' ? `text longer than ${maxLength}` : `expected text, got ${kindOf(v)}`),
    );
  },
  /** Byte string with a length in [min, max]. */
  bytes(min = 0, max = 65536): FieldType<Uint8Array> {
    const d = min === max ? `bytes[${min}]` : `bytes[${min}..${max}]`;
    return simple(
      d,
      (v) => v instanceof Uint8Array && v.length >= min && v.length <= max,
      (v) => (v instanceof Uint8Array ? `expected ${d}, got ${v.length} bytes` : `expected bytes, got ${kindOf(v)}`),
    );
  },
  /** Unsigned integer naming a member of a string enum; decodes to the member name. */
  enumOf<E extends string>(name: string, values: Readonly<Record<E, number>>): FieldType<E> {
    const byNumber: (E | undefined)[] = [];
    for (const [k, n] of Object.entries(values) as [E, number][]) byNumber[n] = k;
    return {
      describe: `${name} (${Object.entries(values)
        .map(([k, n]) => `${n}=${k}`)
        .join(', ')})`,
      check: (v) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? (byNumber[v] ?? INVALID) : INVALID),
      why: (v) => `expected a ${name} value, got ${kindOf(v)} ${String(v)}`,
      toCbor: (v) => values[v],
    };
  },
  /** Array of at most `maxItems` items of one type. */
  array<T>(item: FieldType<T>, maxItems = 64): FieldType<T[]> {
    return {
      describe: `[${item.describe}] ≤ ${maxItems}`,
      check: (v) => {
        if (!Array.isArray(v) || v.length > maxItems) return INVALID;
        const out: T[] = new Array(v.length);
        for (let i = 0; i < v.length; i++) {
          const r = item.check(v[i] as CborValue);
          if (r === INVALID) return INVALID;
          out[i] = r;
        }
        return out;
      },
      why: (v) => {
        if (!Array.isArray(v)) return `expected array, got ${kindOf(v)}`;
        if (v.length > maxItems) return `array longer than ${maxItems}`;
        const i = v.findIndex((x) => item.check(x as CborValue) === INVALID);
        return `item ${i}: ${item.why(v[i] as CborValue)}`;
      },
      toCbor: (v) => v.map((x) => item.toCbor(x)),
    };
  },
  /** A nested record. */
  record<S extends Schema>(rec: RecordType<S>): FieldType<RecordValue<S>> {
    return {
      describe: rec.name,
      check: (v) => {
        if (!(v instanceof Map)) return INVALID;
        const r = rec.tryFromMap(v);
        return r.ok ? r.value : INVALID;
      },
      why: (v) => {
        if (!(v instanceof Map)) return `expected map (${rec.name}), got ${kindOf(v)}`;
        const r = rec.tryFromMap(v);
        return r.ok ? '' : r.why;
      },
      toCbor: (v) => rec.toMap(v),
    };
  },
};

/** One declared field: its integer key, type, and whether it may be absent. */
export interface Field<T, O extends boolean = boolean> {
  readonly key: number;
  readonly type: FieldType<T>;
  readonly optional: O;
  /** One-line meaning, for docs/protocol.md. */
  readonly doc: string;
}

/**
 * Declares a field.
 * @param key - integer map key, unique within the record (message bodies use small unsigned keys)
 * @param type - field type
 * @param optional - whether the field may be absent
 * @param doc - one-line meaning, rendered into docs/protocol.md
 */
export function field<T>(key: number, type: FieldType<T>, optional?: false, doc?: string): Field<T, false>;
export function field<T>(key: number, type: FieldType<T>, optional: true, doc?: string): Field<T, true>;
export function field<T>(key: number, type: FieldType<T>, optional = false, doc = ''): Field<T> {
  if (!Number.isSafeInteger(key)) throw new RangeError(`field key must be an integer, got ${key}`);
  return { key, type, optional, doc };
}

/** A record schema: field name → declared field. */
export type Schema = Record<string, Field<unknown>>;

type FieldValue<F> = F extends Field<infer T, boolean> ? T : never;
type RequiredKeys<S extends Schema> = { [K in keyof S]: S[K] extends Field<unknown, false> ? K : never }[keyof S];
type OptionalKeys<S extends Schema> = Exclude<keyof S, RequiredKeys<S>>;

/** The TypeScript value of a record with schema `S`. */
export type RecordValue<S extends Schema> = { [K in RequiredKeys<S>]: FieldValue<S[K]> } & {
  [K in OptionalKeys<S>]?: FieldValue<S[K]>;
};

/** A declared record type: converts between typed values and CBOR maps, strictly. */
export interface RecordType<S extends Schema> {
  /** Record name, e.g. `hello.response`. */
  readonly name: string;
  /** The declared fields. */
  readonly schema: S;
  /** Typed value → CBOR map (absent optional fields are omitted). */
  toMap(value: RecordValue<S>): CborMap;
  /**
   * CBOR value → typed value.
   * @throws {@link ProtocolError} `MESSAGE_INVALID` naming the record, field and key
   */
  fromMap(value: CborValue): RecordValue<S>;
  /** Like {@link RecordType.fromMap} but returns the reason instead of throwing. */
  tryFromMap(value: CborValue): { ok: true; value: RecordValue<S> } | { ok: false; why: string };
}

/**
 * Declares a record type.
 * @param name - record name used in errors and docs
 * @param schema - fields; keys must be unique
 * @throws RangeError if two fields share a key
 */
export function defineRecord<S extends Schema>(name: string, schema: S): RecordType<S> {
  const entries = Object.entries(schema) as [string, Field<unknown>][];
  const byKey = new Map<number, [string, Field<unknown>]>();
  for (const e of entries) {
    if (byKey.has(e[1].key)) throw new RangeError(`record ${name}: key ${e[1].key} declared twice`);
    byKey.set(e[1].key, e);
  }
  const tryFromMap = (value: CborValue) => {
    if (!(value instanceof Map)) return bad(`${name}: expected a map, got ${kindOf(value)}`);
    const out: Record<string, unknown> = {};
    let present = 0;
    for (let i = 0; i < entries.length; i++) {
      const [fname, f] = entries[i] as [string, Field<unknown>];
      const v = value.get(f.key);
      if (v === undefined) {
        if (!f.optional) return bad(`${name}.${fname} (key ${f.key}): missing`);
        continue;
      }
      present++;
      const r = f.type.check(v);
      if (r === INVALID) return bad(`${name}.${fname} (key ${f.key}): ${f.type.why(v)}`);
      out[fname] = r;
    }
    if (present !== value.size) {
      for (const k of value.keys()) if (typeof k !== 'number' || !byKey.has(k)) return bad(`${name}: unknown key ${String(k)}`);
    }
    return ok(out as RecordValue<S>);
  };
  return {
    name,
    schema,
    toMap(value) {
      const m: CborMap = new Map();
      const v = value as Record<string, unknown>;
      for (const [fname, f] of entries) {
        const x = v[fname];
        if (x === undefined) {
          if (!f.optional) throw new ProtocolError('MESSAGE_INVALID', `${name}.${fname} (key ${f.key}): missing`);
          continue;
        }
        m.set(f.key, f.type.toCbor(x));
      }
      return m;
    },
    tryFromMap,
    fromMap(value) {
      const r = tryFromMap(value);
      if (!r.ok) throw new ProtocolError('MESSAGE_INVALID', r.why);
      return r.value;
    },
  };
}
