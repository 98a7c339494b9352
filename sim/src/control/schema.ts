/**
 * A small JSON Schema checker for the subset the control API's OpenAPI document uses: `type`,
 * `properties`, `required`, `additionalProperties: false`, `minProperties`, `items`, `maxItems`, `enum`,
 * `const`, `oneOf`, `minimum`/`exclusiveMinimum`/`maximum` and local `$ref`s (`#/components/schemas/X`). Tests check every route's
 * real answers with it.
 * @module
 */

/** A JSON Schema node (the subset above). */
export interface JsonSchema {
  readonly type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean' | 'null';
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly additionalProperties?: boolean;
  readonly minProperties?: number;
  readonly items?: JsonSchema;
  readonly maxItems?: number;
  readonly enum?: readonly unknown[];
  readonly const?: unknown;
  readonly oneOf?: readonly JsonSchema[];
  readonly minimum?: number;
  readonly exclusiveMinimum?: number;
  readonly maximum?: number;
  readonly $ref?: string;
  readonly description?: string;
}

/**
 * Checks `value` against `schema`.
 * @param value - the value, e.g. a parsed response body
 * @param schema - the schema
 * @param root - the document `$ref`s resolve in (`{ components: { schemas } }`)
 * @returns the problems found, each naming a JSON path; empty when the value conforms
 * @throws Error for a `$ref` that does not resolve (a bug in the document, not in the value)
 */
export function checkSchema(value: unknown, schema: JsonSchema, root: unknown, path = '$'): string[] {
  if (schema.$ref) {
    const name = /^#\/components\/schemas\/(.+)$/.exec(schema.$ref)?.[1];
    const target = name
      ? (root as { components?: { schemas?: Record<string, JsonSchema> } }).components?.schemas?.[name]
      : undefined;
    if (!target) throw new Error(`unresolved $ref ${schema.$ref}`);
    return checkSchema(value, target, root, path);
  }
  if (schema.oneOf) {
    const matching = schema.oneOf.filter((s) => checkSchema(value, s, root, path).length === 0).length;
    return matching === 1 ? [] : [`${path}: matches ${matching} of the oneOf alternatives, not exactly 1`];
  }
  const problems: string[] = [];
  if (schema.const !== undefined && value !== schema.const) problems.push(`${path}: must be ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${path}: must be one of ${JSON.stringify(schema.enum)}`);
  switch (schema.type) {
    case undefined:
      break;
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [...problems, `${path}: must be an object`];
      const o = value as Record<string, unknown>;
      for (const r of schema.required ?? []) if (!(r in o)) problems.push(`${path}: missing ${r}`);
      if (schema.minProperties !== undefined && Object.keys(o).length < schema.minProperties)
        problems.push(`${path}: fewer than ${schema.minProperties} properties`);
      for (const [k, v] of Object.entries(o)) {
        const p = schema.properties?.[k];
        if (p) problems.push(...checkSchema(v, p, root, `${path}.${k}`));
        else if (schema.additionalProperties === false) problems.push(`${path}: unexpected property ${k}`);
      }
      break;
    }
    case 'array':
      if (!Array.isArray(value)) return [...problems, `${path}: must be an array`];
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        problems.push(`${path}: more than ${schema.maxItems} items`);
      for (const [i, v] of value.entries())
        if (schema.items) problems.push(...checkSchema(v, schema.items, root, `${path}[${i}]`));
      break;
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || (schema.type === 'integer' && !Number.isInteger(value)))
        return [...problems, `${path}: must be ${schema.type === 'integer' ? 'an integer' : 'a number'}`];
      if (schema.minimum !== undefined && value < schema.minimum) problems.push(`${path}: below ${schema.minimum}`);
      if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum)
        problems.push(`${path}: not above ${schema.exclusiveMinimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) problems.push(`${path}: above ${schema.maximum}`);
      break;
    case 'null':
      if (value !== null) problems.push(`${path}: must be null`);
      break;
    default:
      if (typeof value !== schema.type) problems.push(`${path}: must be a ${schema.type}`);
  }
  return problems;
}
