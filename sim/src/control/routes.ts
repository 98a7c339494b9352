/**
 * The control API's REST routes: one table, each row a method, an OpenAPI path template and a
 * handler that validates its body before touching the target (bad input changes nothing).
 * @module
 */
import type { ControlTarget, DeviceState, GestureOutcome } from '../firmware/physical/types.ts';
import { parseTrackBody } from './track.ts';
import { parseBattery, parseClock, parseGesture, parsePower, parseRadio, parseUsb } from './validate.ts';

/** What a handler gets. */
export interface RouteContext {
  readonly target: ControlTarget;
  /** The `{index}` path parameter, checked against `keyCount` (−1 for routes without one). */
  readonly index: number;
  /** The parsed JSON body (undefined when empty). */
  readonly body: unknown;
}

/** One REST route. */
export interface Route {
  readonly method: 'GET' | 'POST';
  /** OpenAPI path template, e.g. `/api/keys/{index}/gesture`. */
  readonly path: string;
  /** Matches the path; named group `index`. */
  readonly pattern: RegExp;
  /** Whether the route reads a request body. */
  readonly body: boolean;
  /** Runs the route; returns the JSON answer. */
  run(c: RouteContext): unknown;
}

function route(method: Route['method'], path: string, body: boolean, run: Route['run']): Route {
  const source = path.replace(/[/.]/g, '\\$&').replace('\\/{index}', '\\/(?<index>[^/]+)');
  return { method, path, pattern: new RegExp(`^${source}$`), body, run };
}

/** A control action on one Key: parse first, then act, then answer the Key's state. */
function keyAction<T>(
  path: string,
  parse: (body: unknown) => T,
  act: (c: ReturnType<ControlTarget['controls']>, v: T) => void,
): Route {
  return route('POST', `/api/keys/{index}${path}`, true, ({ target, index, body }) => {
    const value = parse(body);
    const controls = target.controls(index);
    act(controls, value);
    return controls.state();
  });
}

const clockAnswer = (t: ControlTarget) => ({ now: t.clock.now(), speed: t.clock.speed });

/** Every REST route (the OpenAPI document lists exactly these, plus `/api/events`, `/api/openapi.json` and `/`). */
export const ROUTES: readonly Route[] = [
  route('GET', '/api/keys', false, ({ target }) => ({
    keys: Array.from({ length: target.keyCount }, (_, i): DeviceState => target.controls(i).state()),
  })),
  route('GET', '/api/keys/{index}', false, ({ target, index }) => target.controls(index).state()),
  route('POST', '/api/keys/{index}/gesture', true, ({ target, index, body }) => {
    const gesture = parseGesture(body);
    const controls = target.controls(index);
    const outcome: GestureOutcome = controls.gesture(gesture);
    return { outcome, state: controls.state() };
  }),
  keyAction('/battery', parseBattery, (c, v) => c.setBattery(v)),
  keyAction('/gnss/track', parseTrackBody, (c, v) => c.setTrack(v)),
  keyAction('/radio', parseRadio, (c, v) => c.setRadio(v)),
  keyAction('/usb', parseUsb, (c, v) => c.setUsb(v)),
  keyAction('/power', parsePower, (c, v) => c.setPower(v)),
  keyAction(
    '/reboot',
    () => undefined,
    (c) => c.reboot(),
  ),
  route('GET', '/api/clock', false, ({ target }) => clockAnswer(target)),
  route('POST', '/api/clock', true, ({ target, body }) => {
    const { speed, advanceMs } = parseClock(body);
    if (speed !== undefined) target.clock.setSpeed(speed);
    if (advanceMs !== undefined) target.clock.advance(advanceMs);
    return clockAnswer(target);
  }),
];
