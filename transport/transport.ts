/**
 * A message transport: send envelopes, receive envelopes (or the error that made one
 * unreadable), close. It knows nothing of sessions or commands; correlation and routing live
 * above it. TCP, WebSocket and in-memory transports implement it, and one shared test suite
 * runs against each.
 *
 * @module
 */

import type { Message, ProtocolError } from "../protocol/mod.ts";

/** What a transport receives: a message, or why a received frame was unusable. */
export type Incoming = { message: Message } | { error: ProtocolError };

/** A bidirectional message link. */
export interface MessageTransport extends AsyncDisposable {
  /** Queues a message for sending. Returns false (and sends nothing) once the link is closed. */
  send(msg: Message): boolean;
  /**
   * Queues a message already serialised, `JSON.stringify(msg)` of a valid message (when the
   * transport can): one event for many peers is serialised once and held once. Returns false
   * once the link is closed.
   */
  sendText?(json: string): boolean;
  /** Received messages in order; ends when the link closes. Iterate it once. */
  readonly incoming: AsyncIterable<Incoming>;
  /** Closes the link; idempotent. Queued messages are flushed first when possible. */
  close(): void;
  /** Resolves once the link is closed, by either side. */
  readonly closed: Promise<void>;
  /** True once the link is closed. */
  readonly isClosed: boolean;
  /** The peer's address, for logs and session listings (`127.0.0.1:50432`). */
  readonly remote: string;
  /**
   * Bytes sent but not yet taken by the peer (when the transport can tell). The server drops
   * a client whose queue grows past its limit instead of buffering without bound.
   */
  readonly queuedBytes?: number;
  /**
   * Bytes written to the network so far (when the transport can tell): it grows while the peer
   * reads, even when more is queued meanwhile, so a peer that reads nothing is told apart from a
   * busy one.
   */
  readonly writtenBytes?: number | undefined;
  /**
   * Bytes the operating system holds for the peer, sent but not yet acknowledged (when the
   * transport can tell; Linux): it goes down while a slow peer reads, even when the transport's
   * own writes wait for the kernel's buffer to empty by a third.
   */
  readonly kernelQueuedBytes?: number | undefined;
  /**
   * Resolves once at most `limit` bytes are queued (when the transport can tell), or the link
   * has closed, or `signal` aborted (a producer that gives up waiting aborts, so that nothing of
   * its wait stays behind).
   */
  drained?(limit: number, signal?: AbortSignal): Promise<void>;
  /**
   * Changes the largest message accepted from now on (when the transport supports it): the
   * server keeps it small until the peer has authenticated.
   */
  setMaxMessageSize?(size: number): void;
}

/**
 * The servers of `server`: one address, or a comma-separated list of the servers of one cluster
 * (`tcp://a:8001,tcp://b:8001`, `ws://a:8002,ws://b:8002`), to try in turn.
 */
export function serverList(server: string): string[] {
  return server.split(",").map((s) => s.trim()).filter((s) => s !== "");
}
