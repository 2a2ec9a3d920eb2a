/**
 * Text a peer chose, made safe for the viewer's terminal: see `protocol/sanitize.ts`, where it
 * lives so that the server's log uses the same rule.
 *
 * @module
 */

export { sanitize } from "../../protocol/sanitize.ts";
