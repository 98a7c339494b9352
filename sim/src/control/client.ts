/**
 * A small client of the control API (what `enigm sim press|battery|…|watch` use): finds the
 * running simulator through its state folder's `control.json`, sends requests with the bearer
 * token, and turns error answers back into errors with the server's code.
 * @module
 */
import { WebSocket } from 'ws';
import type { DeviceEvent } from '../firmware/physical/types.ts';
import { type ControlFile, readControlFile } from './control-file.ts';
import { ControlError } from './errors.ts';

/** An error answer of the control API, with the server's code (e.g. `SIM_NO_SUCH_KEY`) and HTTP status. */
export class ControlApiError extends Error {
  override readonly name: string = 'ControlApiError';
  /**
   * @param code - the server's error code
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

  /** `{ name, code, message }` for `--json` output. */
  toJSON(): { name: string; code: string; message: string; status: number } {
    return { name: this.name, code: this.code, message: this.message, status: this.status };
  }
}

/** A client of one running control API. */
export class ControlClient {
  /**
   * @param url - base URL, e.g. `http://127.0.0.1:40123`
   * @param token - bearer token
   * @param timeoutMs - per-request deadline (default 10 s)
   */
  constructor(
    readonly url: string,
    readonly token: string,
    readonly timeoutMs = 10_000,
  ) {}

  /**
   * The client of the simulator running in `stateDir`.
   * @throws {@link ControlError} `CONTROL_NOT_RUNNING`
   */
  static fromStateDir(stateDir: string): ControlClient {
    const f: ControlFile = readControlFile(stateDir);
    return new ControlClient(f.url, f.token);
  }

  /**
   * Sends one request.
   * @param method - `GET` or `POST`
   * @param path - e.g. `/api/keys/0/gesture`
   * @param body - JSON body for POST
   * @returns the parsed JSON answer
   * @throws {@link ControlApiError} for an error answer; {@link ControlError} `CONTROL_UNREACHABLE`
   *   when nothing answers or the answer is not the control API's
   */
  async request<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new ControlError('CONTROL_UNREACHABLE', `the control API at ${this.url} does not answer (${(e as Error).name})`, {
        cause: e,
      });
    }
    let v: unknown;
    try {
      v = await res.json();
    } catch {
      throw new ControlError('CONTROL_UNREACHABLE', `the server at ${this.url} answered ${res.status} without JSON`);
    }
    if (!res.ok) {
      const err = (v as { error?: { code?: unknown; reason?: unknown } })?.error;
      throw new ControlApiError(
        typeof err?.code === 'string' ? err.code : 'CONTROL_UNREACHABLE',
        res.status,
        typeof err?.reason === 'string' ? err.reason : `HTTP ${res.status}`,
      );
    }
    return v as T;
  }

  /**
   * Opens the live event stream.
   * @param onEvent - called with each event
   * @returns a handle: `opened` resolves once connected, `closed` when the stream ends (with the
   *   close code), `close()` ends it
   */
  events(onEvent: (e: DeviceEvent) => void): { opened: Promise<void>; closed: Promise<number>; close(): void } {
    const ws = new WebSocket(`${this.url.replace(/^http/, 'ws')}/api/events`, {
      headers: { authorization: `Bearer ${this.token}` },
      maxPayload: 1024 * 1024,
    });
    const opened = new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        reject(
          new ControlApiError(
            res.statusCode === 401 ? 'CONTROL_UNAUTHORIZED' : 'CONTROL_UNREACHABLE',
            res.statusCode ?? 0,
            `the event stream was refused (HTTP ${res.statusCode})`,
          ),
        );
        ws.terminate();
      });
      ws.once('error', (e) =>
        reject(new ControlError('CONTROL_UNREACHABLE', `the event stream at ${this.url} failed (${e.message})`)),
      );
    });
    opened.catch(() => undefined);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('message', (data) => {
      try {
        onEvent(JSON.parse(String(data)) as DeviceEvent);
      } catch {
        // not an event: ignore
      }
    });
    return { opened, closed, close: () => ws.close() };
  }
}
