/**
 * Issue 10, bad input "malformed track … file (line and field named)": GNSS track files (CSV and
 * JSON, `parseTrackFile`) name the line of the bad fix and the field; a JSON fix also keeps its
 * index (`line 7, fixes[2]: lon …`), wherever the fix sits in the file.
 */
import { parseTrackFile } from '@enigm/sim/control';
import test from 'ava';
import fc from 'fast-check';

const message = (text: string) => {
  try {
    parseTrackFile(text);
    return 'no error';
  } catch (e) {
    return (e as Error).message;
  }
};

test('a JSON track names the line and index of a bad fix (array, pretty-printed, and {"fixes": […]})', (t) => {
  const fixes = [
    { atMs: 0, lat: 48.1, lon: 11.5 },
    { atMs: 10, lat: 48.2, lon: 11.6 },
    { atMs: 20, lat: 48.3, lon: 200 },
  ];
  t.is(message(JSON.stringify(fixes, null, 2)), 'line 12, fixes[2]: lon must be a number in [-180, 180], got 200');
  t.is(
    message(`{\n  "fixes": [\n${fixes.map((f) => `    ${JSON.stringify(f)}`).join(',\n')}\n  ]\n}`),
    'line 5, fixes[2]: lon must be a number in [-180, 180], got 200',
  );
  // a bad fix whose string holds brackets, braces and an escaped quote is found on its own line
  t.is(
    message('[{"atMs":0,"lat":1,"lon":2},\n{"atMs":0,"lat":1,"lon":2,"x":"]},{\\"["},\n{"atMs":0,"lat":1,"lon":2}]'),
    'line 2, fixes[1]: unknown field "x" (allowed: atMs, lat, lon, accuracyM)',
  );
  t.is(
    message('[{"atMs":0,"lat":1,"lon":2},\n\n {"atMs":5,"lat":1}]'),
    'line 3, fixes[1]: lon must be a number in [-180, 180], got nothing',
  );
  t.is(
    message('[\n{"atMs":10,"lat":1,"lon":2},\n{"atMs":5,"lat":1,"lon":2}\n]'),
    'line 3, fixes[1]: atMs must not be earlier than the fix before it (fixes sorted by atMs)',
  );
  t.is(message('[\n  {"atMs":0,"lat":1,"lon":2},\n  "x"\n]'), 'line 3, fixes[1]: a fix must be a JSON object');
  // CSV names the line as before; a good file parses
  t.is(message('atMs,lat,lon\n0,48.1,11.5\n\n100,95,11.7\n'), 'line 4: lat must be a number in [-90, 90], got 95');
  t.deepEqual(parseTrackFile(JSON.stringify({ fixes: fixes.slice(0, 2) })), fixes.slice(0, 2));
});

test('property: in any layout of a JSON track, the named line is the line where the bad fix starts', (t) => {
  const fix = fc.record({
    lat: fc.double({ min: -90, max: 90, noNaN: true }),
    lon: fc.double({ min: -180, max: 180, noNaN: true }),
  });
  fc.assert(
    fc.property(
      fc.array(fix, { minLength: 1, maxLength: 12 }),
      fc.nat(),
      fc.array(fc.constantFrom('', '\n', '\n\n', ' ', '\t\n  '), { minLength: 13, maxLength: 13 }),
      fc.boolean(),
      (list, pick, gaps, wrapped) => {
        const bad = pick % list.length;
        const items = list.map((f, i) => JSON.stringify({ atMs: i, lat: f.lat, lon: i === bad ? 181 : f.lon }));
        const head = wrapped ? '{ "fixes": [' : '[';
        let text = head;
        let expected = 0;
        items.forEach((item, i) => {
          text += `${i > 0 ? ',' : ''}${gaps[i]}`;
          if (i === bad) expected = text.split('\n').length;
          text += item;
        });
        text += `${gaps[12]}]${wrapped ? ' }' : ''}`;
        return message(text).startsWith(`line ${expected}, fixes[${bad}]: lon must be a number in [-180, 180]`);
      },
    ),
  );
  t.pass();
});
