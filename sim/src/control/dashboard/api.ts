/// <reference lib="dom" />
/**
 * The dashboard's connection to the control API: the bearer token (taken from `?token=` once,
 * then kept for this tab only), JSON requests, and the event stream with reconnects.
 * @module
 */
import type { DeviceEvent } from '../../firmware/physical/types.ts';

const KEY = 'enigm-control-token';

/** The bearer token: from `?token=` (then removed from the address bar), else this tab's storage. */
export function takeToken(): string {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    sessionStorage.setItem(KEY, fromUrl);
    history.replaceState(null, '', location.pathname);
    return fromUrl;
  }
  return sessionStorage.getItem(KEY) ?? '';
}

/** An error answer of the API. */
export class ApiError extends Error {
  /**
   * @param code - the server's code
   * @param status - HTTP status
   * @param message - the server's reason
   */
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Sends a request.
 * @throws {@link ApiError} for an error answer
 */
export async function api<T>(token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const v = (await res.json()) as T & { error?: { code: string; reason: string } };
  if (!res.ok) throw new ApiError(v.error?.code ?? 'HTTP', res.status, v.error?.reason ?? `HTTP ${res.status}`);
  return v;
}

/**
 * Keeps an event stream open: reconnects with a growing delay (at most 5 s) after it drops.
 * @param onEvent - each event
 * @param onStatus - `true` when connected, `false` when not
 * @param onOpen - after each (re)connect, to refresh what may have been missed
 */
export function streamEvents(
  token: string,
  onEvent: (e: DeviceEvent) => void,
  onStatus: (live: boolean) => void,
  onOpen: () => void,
): void {
  let delay = 250;
  const open = () => {
    const ws = new WebSocket(
      `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/events?token=${encodeURIComponent(token)}`,
    );
    ws.onopen = () => {
      delay = 250;
      onStatus(true);
      onOpen();
    };
    ws.onmessage = (m) => {
      try {
        onEvent(JSON.parse(String(m.data)) as DeviceEvent);
      } catch {
        // not an event
      }
    };
    ws.onclose = () => {
      onStatus(false);
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 5000);
    };
  };
  open();
}
