/**
 * Link-aware deadlines: how long a request may take before it counts as lost, given what is
 * queued ahead of it on the link and how fast the link is.
 *
 * A fixed per-request timeout fails on slow links: with a window of 8 requests of 4 KiB at
 * 115200 baud (11,520 bytes/s), the last request's bytes only reach the Key 2.8 s after they were
 * handed to the transport. The client therefore gives each attempt a budget of
 *
 *     (bytes queued ahead of it + its own bytes + the expected response bytes) / link rate
 *     + the per-request timeout (the Key's processing time and slack)
 *
 * and extends the budget of every request still waiting whenever the Key shows progress: a
 * response to an earlier request means the bytes up to that request have left the line
 * ({@link LinkBudget.answered}); a keepalive means the Key is busy on the head of the line; an
 * answer to a request the client no longer waits for (sent by a process killed mid-flash, or
 * cancelled) means the Key is still working through older bytes ahead of ours.
 *
 * The link rate: the host measures it. Every exchange made on an idle link (nothing queued ahead,
 * first attempt) gives a lower bound of the line rate: the request and the response crossed the
 * line one after the other within the round-trip time, so `rate ≥ (request + response bytes) / rtt`.
 * The best (largest) lower bound so far is the estimate; a lower bound can only make budgets
 * longer than needed, never shorter. Before the first measurement the transport's nominal rate
 * (a UART's baud / 10) is used, or {@link DEFAULT_BYTES_PER_SECOND} if it has none.
 *
 * @module
 */

/** Rate assumed before any measurement when the transport names none: 115200 baud, 8N1. */
export const DEFAULT_BYTES_PER_SECOND = 11_520;

/**
 * Most attempts tracked at once. Attempts nobody waits for any more (cancelled, whose bytes stay
 * counted until a later answer) could otherwise pile up on a Key that never answers; past this
 * the oldest are forgotten.
 */
export const MAX_TRACKED_ATTEMPTS = 1024;

/** One attempt's bytes on the link, in send order. */
export interface LinkTicket {
  /** Send order. */
  readonly seq: number;
  /** Frame bytes of this attempt. */
  readonly bytes: number;
  /** Clock reading when the attempt was handed to the transport, ms. */
  readonly sentAt: number;
  /** Whether it is a first attempt sent with nothing queued ahead (its round trip measures the link). */
  readonly idle: boolean;
  /** Whether the bytes have left the line (answered, or overtaken by a later answer), or were dropped. */
  done: boolean;
  /** While not done: the bytes queued up to and including this attempt. */
  through: number;
}

/** Tracks the bytes in flight on one link and the measured link rate. */
export class LinkBudget {
  readonly #nominal: number | undefined;
  /** Tickets whose bytes may still be on the line, in send order. */
  readonly #queue: LinkTicket[] = [];
  #queued = 0;
  #seq = 0;
  #measured = 0;

  /**
   * @param nominalBytesPerSecond - the transport's nominal rate, if it knows one (used until the
   *   first measurement)
   * @throws RangeError if the nominal rate is given and not positive
   */
  constructor(nominalBytesPerSecond?: number) {
    if (nominalBytesPerSecond !== undefined && !(nominalBytesPerSecond > 0))
      throw new RangeError(`nominal link rate must be positive, got ${nominalBytesPerSecond}`);
    this.#nominal = nominalBytesPerSecond;
  }

  /** The link rate budgets use, bytes/s: measured if measured, else nominal, else the default. */
  get bytesPerSecond(): number {
    return this.#measured > 0 ? this.#measured : (this.#nominal ?? DEFAULT_BYTES_PER_SECOND);
  }

  /** The best measured lower bound of the link rate so far, bytes/s (0 before any measurement). */
  get measuredBytesPerSecond(): number {
    return this.#measured;
  }

  /** Bytes handed to the transport whose request has not been answered yet. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /**
   * Records an attempt of `bytes` handed to the transport at `now`.
   * @param retry - whether it re-sends a request (its answer may be to an earlier attempt, so its
   *   round trip does not measure the link)
   * @throws never
   */
  enqueue(bytes: number, now: number, retry = false): LinkTicket {
    const idle = !retry && this.#queued === 0;
    if (this.#queue.length >= MAX_TRACKED_ATTEMPTS) {
      const oldest = this.#queue.shift() as LinkTicket;
      oldest.done = true;
      this.#queued -= oldest.bytes;
      this.#recount();
    }
    this.#queued += bytes;
    const ticket: LinkTicket = { seq: this.#seq++, bytes, sentAt: now, idle, done: false, through: this.#queued };
    this.#queue.push(ticket);
    return ticket;
  }

  /**
   * Milliseconds the link needs before `ticket`'s response can be back: the bytes still queued
   * ahead of it, its own bytes, and `responseBytes`, at {@link LinkBudget.bytesPerSecond}.
   * @throws never
   */
  transitMs(ticket: LinkTicket, responseBytes = 0): number {
    return (((ticket.done ? 0 : ticket.through) + responseBytes) / this.bytesPerSecond) * 1000;
  }

  /**
   * The Key answered `ticket` with `responseBytes` at `now`: its bytes, and those of every attempt
   * sent before it, have left the line. An idle first attempt also measures the link.
   * @throws never
   */
  answered(ticket: LinkTicket, now: number, responseBytes: number): void {
    if (!ticket.done) {
      while (this.#queue.length > 0) {
        const t = this.#queue.shift() as LinkTicket;
        t.done = true;
        this.#queued -= t.bytes;
        if (t === ticket) break;
      }
      this.#recount();
    }
    const rtt = now - ticket.sentAt;
    if (ticket.idle && rtt > 0) {
      const lowerBound = ((ticket.bytes + responseBytes) / rtt) * 1000;
      if (lowerBound > this.#measured) this.#measured = lowerBound;
    }
  }

  /**
   * Forgets `ticket` (its request timed out, was retried, cancelled or failed): its bytes no
   * longer count as queued ahead of later attempts.
   * @throws never
   */
  drop(ticket: LinkTicket): void {
    if (ticket.done) return;
    ticket.done = true;
    const i = this.#queue.indexOf(ticket);
    if (i >= 0) this.#queue.splice(i, 1);
    this.#queued -= ticket.bytes;
    this.#recount();
  }

  /** Recomputes `through` of every queued ticket (one pass, after tickets left the queue). */
  #recount(): void {
    let through = 0;
    for (const t of this.#queue) {
      through += t.bytes;
      t.through = through;
    }
  }
}
