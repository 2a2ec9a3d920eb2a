/**
 * The web client's files, as the server serves them: `BASE` (the sessions), `BASE/s/SESSION`
 * (one session), `BASE/g/GROUP` (a group) and `BASE/assets/...`. They are embedded in this module (a compiled qdb carries
 * them), built by `deno task build:web` from `client/web/`.
 *
 * The page is same-origin with the server's WebSocket, so the server's Origin check lets it in
 * and nothing else; its Content-Security-Policy allows only its own script, style and socket.
 *
 * @module
 */

import app from "../client/web/dist/app.js" with { type: "text" };
import style from "../client/web/style.css" with { type: "text" };
import { GROUP_NAME_PATTERN } from "../protocol/mod.ts";

/** What a page or an asset is allowed to do in the browser. */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; " +
    "frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const ASSETS: Record<string, { body: string; type: string }> = {
  "assets/app.js": { body: app, type: "text/javascript; charset=utf-8" },
  "assets/style.css": { body: style, type: "text/css; charset=utf-8" },
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page: the session list (`session` and `group` undefined), one session, or a group. */
function page(
  base: string,
  session: string | undefined,
  group?: string,
  tokenNeeded = false,
): string {
  const data =
    (session !== undefined
      ? ` data-session="${escapeHtml(session)}"`
      : group !== undefined
      ? ` data-group="${escapeHtml(group)}"`
      : "") +
    // The list needs a token: the page asks for one first (a refused request would be an
    // error in the browser's console on every first visit).
    (tokenNeeded ? ' data-auth="token"' : "");
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>qdb</title>`,
    // No favicon request (the server has none: it would be a failed request in the console).
    '<link rel="icon" href="data:,">',
    `<link rel="stylesheet" href="${escapeHtml(base)}assets/style.css">`,
    `<script type="module" src="${escapeHtml(base)}assets/app.js"></script>`,
    "</head>",
    `<body data-base="${escapeHtml(base)}"${data}>`,
    "<noscript>qdb's web client needs JavaScript.</noscript>",
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/**
 * The response for a GET of `rest` (the path after the server's base path), or undefined when
 * it is not one of the web client's: `""` the sessions, `s/SESSION` a session, `assets/...`.
 */
export function webResponse(
  base: string,
  rest: string,
  validSession: (id: string) => boolean,
  tokenNeeded = false,
): Response | undefined {
  const asset = ASSETS[rest];
  if (asset) {
    return new Response(asset.body, {
      headers: { ...SECURITY_HEADERS, "content-type": asset.type },
    });
  }
  let session: string | undefined;
  let group: string | undefined;
  if (rest.startsWith("s/")) {
    session = rest.slice(2);
    if (!validSession(session)) {
      return new Response("Not a valid session id\n", { status: 404 });
    }
  } else if (rest.startsWith("g/")) {
    group = rest.slice(2);
    if (!GROUP_NAME_PATTERN.test(group)) {
      return new Response("Not a valid group name\n", { status: 404 });
    }
  } else if (rest !== "") {
    return undefined;
  }
  return new Response(page(base, session, group, tokenNeeded), {
    headers: { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8" },
  });
}
