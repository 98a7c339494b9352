/**
 * Test helper: a strict parser for the XML subset report writers emit (JUnit XML): an optional
 * `<?xml …?>` declaration, one root element, elements with attributes (quoted either way, no
 * duplicates), text, the five predefined entities and numeric character references. Anything
 * else — a raw `<` or `&` in text or an attribute, a mismatched or unclosed tag, a comment,
 * CDATA, a DOCTYPE, a character XML 1.0 forbids, content after the root — is an error naming
 * its offset. Not a test file itself (no `.test.ts`).
 */

/** An element: name, attributes (entities decoded), child elements and its direct text. */
export interface XmlElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** The element's own text (entities decoded), child elements' text excluded. */
  readonly text: string;
}

const NAME = /[A-Za-z_][\w.-]*/y;
const SPACE = /[ \t\r\n]*/y;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
/** Characters XML 1.0 allows (§2.2). */
const ALLOWED = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

/**
 * Parses `src`.
 * @returns the root element
 * @throws Error naming the offset of the first problem
 */
export function parseXml(src: string): XmlElement {
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`XML at offset ${at}: ${why} (near ${JSON.stringify(src.slice(at, at + 30))})`);
  };
  if (!ALLOWED.test(src)) fail('a character XML 1.0 does not allow');
  const space = () => {
    SPACE.lastIndex = at;
    SPACE.exec(src);
    at = SPACE.lastIndex;
  };
  const name = (): string => {
    NAME.lastIndex = at;
    const m = NAME.exec(src);
    if (!m) return fail('a name was expected');
    at = NAME.lastIndex;
    return m[0];
  };
  const expect = (s: string) => {
    if (!src.startsWith(s, at)) fail(`${JSON.stringify(s)} was expected`);
    at += s.length;
  };
  /** Text up to `<` (or the end of an attribute value), entities decoded. */
  const chars = (stop: string): string => {
    let out = '';
    while (at < src.length && !stop.includes(src[at] as string)) {
      const c = src[at] as string;
      if (c === '<') fail('a raw < in a value');
      if (c === '&') {
        const m = /^&(?:(lt|gt|amp|quot|apos)|#(\d{1,7})|#x([0-9A-Fa-f]{1,6}));/.exec(src.slice(at, at + 12));
        if (!m) return fail('a raw & (not an entity)');
        const code = m[2] !== undefined ? Number(m[2]) : m[3] !== undefined ? Number.parseInt(m[3], 16) : undefined;
        const ch = code === undefined ? (ENTITIES[m[1] as string] as string) : String.fromCodePoint(code);
        if (!ALLOWED.test(ch)) fail('a character reference XML 1.0 does not allow');
        out += ch;
        at += m[0].length;
      } else {
        out += c;
        at++;
      }
    }
    return out;
  };
  const element = (): XmlElement => {
    expect('<');
    const tag = name();
    const attributes: Record<string, string> = {};
    for (;;) {
      const before = at;
      space();
      if (src.startsWith('/>', at)) {
        at += 2;
        return { name: tag, attributes, children: [], text: '' };
      }
      if (src[at] === '>') {
        at++;
        break;
      }
      if (at === before) fail('a space was expected between attributes');
      const attr = name();
      if (Object.hasOwn(attributes, attr)) fail(`attribute ${attr} given twice`);
      space();
      expect('=');
      space();
      const quote = src[at];
      if (quote !== '"' && quote !== "'") return fail('a quoted attribute value was expected');
      at++;
      attributes[attr] = chars(quote);
      expect(quote);
    }
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      if (at >= src.length) fail(`<${tag}> is not closed`);
      if (src.startsWith('</', at)) {
        at += 2;
        const closing = name();
        if (closing !== tag) fail(`</${closing}> closes <${tag}>`);
        space();
        expect('>');
        return { name: tag, attributes, children, text };
      }
      if (src.startsWith('<!', at) || src.startsWith('<?', at))
        fail('comments, CDATA, DOCTYPE and processing instructions are not expected');
      if (src[at] === '<') children.push(element());
      else text += chars('<');
    }
  };
  if (src.startsWith('<?xml', at)) {
    const end = src.indexOf('?>', at);
    if (end < 0) fail('the declaration is not closed');
    if (!/^<\?xml version="1\.0"( encoding="UTF-8")?\?>$/.test(src.slice(at, end + 2))) fail('an unexpected declaration');
    at = end + 2;
  }
  space();
  const root = element();
  space();
  if (at !== src.length) fail('content after the root element');
  return root;
}
