/**
 * A scripted tracer on the tracer link: what a test needs to make a session without running a
 * program. The server's own tests use it, and so do the multi-process ones.
 *
 * @module
 */

import { connectTcp } from "../../transport/tcp.ts";
import { Inbox } from "./inbox.ts";

/** What the scripted tracer says it runs (everything of a `start` but the session). */
export const FAKE_TRACER = {
  protocol: 1,
  engine: "test",
  program: "job.py",
  argv: ["job.py"],
  pid: 1,
  host: "worker",
  cwd: "/srv",
};

/**
 * Connects to `url` (`tcp://...`) and sends `start` for `session`, with `extra` fields over
 * {@linkcode FAKE_TRACER}. The answer (`started` or `error`) is the test's to expect.
 */
export async function fakeTracer(
  url: string,
  session: string,
  extra: Record<string, unknown> = {},
): Promise<Inbox> {
  const link = await connectTcp(url);
  link.send({ e: "start", p: { ...FAKE_TRACER, session, ...extra } });
  return new Inbox(link);
}
