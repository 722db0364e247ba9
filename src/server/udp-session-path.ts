/**
 * A UDP session's way to its client (docs/spec/0012-udp.md §NAT rebinding): the listener's socket
 * and the client's current address — and, after the session moved to a new address, that
 * address's validation (RFC 9000 §8.2, §9.3).
 *
 * A SHORT from a new address with the highest packet number moves the session there at once (a
 * NAT rebinding must not cost a round trip), but the new address is unproven: anyone who saw the
 * connection id could have written that datagram with a victim's address as its source. So until
 * the client echoes a CHALLENGE from there, the path sends there at most 3× the bytes it received
 * from there (beats and ACKs fit; a stream of data does not: it waits, and the channel's PTO sends
 * it again), and if no RESPONSE comes within the validation time it goes back to the last
 * validated address. A move back to the validated address needs no proof.
 */
import crypto from 'node:crypto';
import type dgram from 'node:dgram';
import { encodePacket, ID_BYTES } from '../transport/udp/packet.js';
import type { UdpPath } from '../transport/udp/udp-transport.js';

/** RFC 9000 §8.1: at most three times the bytes received from an unvalidated address. */
const AMPLIFICATION_FACTOR = 3;
/** How long a new address has to answer its CHALLENGE (spec: 3 PTO, at least 1 s). */
export const VALIDATION_MS = 1000;

export interface PathCounters {
  migrations: number;
  validations: number;
  validationsFailed: number;
  bytesHeldForValidation: number;
  sendsAfterClose: number;
}

export class SessionPath implements UdpPath {
  /** The last datagram sent (a tombstone answers stragglers with it). */
  last: Uint8Array | undefined;
  private validatedAddress: string;
  private validatedPort: number;
  /** While the current address is unproven: the CHALLENGE data, bytes we may still send there, its deadline. */
  private challenge: Uint8Array | undefined;
  private budget = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly socket: dgram.Socket,
    public remoteAddress: string,
    public remotePort: number,
    private readonly counters: PathCounters,
  ) {
    this.validatedAddress = remoteAddress;
    this.validatedPort = remotePort;
  }

  get validating(): boolean {
    return this.challenge !== undefined;
  }

  send(datagram: Uint8Array): void {
    if (this.challenge !== undefined) {
      if (datagram.length > this.budget) {
        this.counters.bytesHeldForValidation += datagram.length;
        return; // as a loss: the channel sends it again after its PTO
      }
      this.budget -= datagram.length;
    }
    this.last = datagram;
    try {
      this.socket.send(datagram, this.remotePort, this.remoteAddress);
    } catch {
      // The listener's socket closed under a session still finishing (close() waits, but bounded):
      // a datagram lost, never a crash from a timer.
      this.counters.sendsAfterClose++;
    }
  }

  /** A datagram of this session arrived from (address, port); `newest`: it has the highest pn so far. */
  received(address: string, port: number, size: number, newest: boolean): boolean {
    const here = address === this.remoteAddress && port === this.remotePort;
    if (here) {
      if (this.challenge !== undefined) this.budget += AMPLIFICATION_FACTOR * size;
      return false;
    }
    if (!newest) return false; // an old, reordered datagram moves nothing (RFC 9000 §9.3)
    this.remoteAddress = address;
    this.remotePort = port;
    this.counters.migrations++;
    if (address === this.validatedAddress && port === this.validatedPort) {
      this.endValidation();
      return true;
    }
    this.startValidation(size);
    return true;
  }

  /** A RESPONSE for this session: proof when it echoes our CHALLENGE from the address being validated. */
  responded(address: string, port: number, data: Uint8Array): void {
    const challenge = this.challenge;
    if (!challenge || address !== this.remoteAddress || port !== this.remotePort) return;
    if (data.length !== challenge.length || !crypto.timingSafeEqual(data, challenge)) return;
    this.validatedAddress = address;
    this.validatedPort = port;
    this.counters.validations++;
    this.endValidation();
  }

  close(): void {
    this.endValidation();
  }

  private startValidation(size: number): void {
    this.endValidation();
    this.challenge = crypto.randomBytes(ID_BYTES);
    this.budget = AMPLIFICATION_FACTOR * size;
    this.send(encodePacket({ kind: 'challenge', data: this.challenge }));
    this.timer = setTimeout(() => {
      // No proof in time: back to the address we know is the client's.
      this.counters.validationsFailed++;
      this.remoteAddress = this.validatedAddress;
      this.remotePort = this.validatedPort;
      this.endValidation();
    }, VALIDATION_MS);
    this.timer.unref();
  }

  private endValidation(): void {
    this.challenge = undefined;
    this.budget = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
