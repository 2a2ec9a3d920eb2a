/**
 * What a client's session connection delivers: the server's checked events, and changes of the
 * link itself. Pure types, so that a browser client shares them without the Deno transports.
 *
 * @module
 */

import type { ClientEvent } from "../protocol/mod.ts";

/** Payload of the `link` events a `ReconnectingSession` adds to the stream. */
export type LinkState =
  | { state: "lost"; reason: string; retryFor: number }
  | { state: "back"; session: string; server?: string }
  | { state: "gone"; reason: string };

/** The event a `ReconnectingSession` adds: the link to the server changed. */
export interface LinkEvent {
  /** Always `link`. */
  e: "link";
  /** What happened to the link. */
  p: LinkState;
  /** Never set: nobody's command caused it. */
  id?: undefined;
}

/** What a session connection gives: the server's checked events, and link changes. */
export type SessionEvent = ClientEvent | LinkEvent;
