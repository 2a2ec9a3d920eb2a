// TLS on both links (issue 8, item 4): `qdb serve --tls-cert/--tls-key` serves wss:// and
// tls://; tracers and clients verify the server against the system's CAs or --ca, and refuse a
// wrong CA or an expired certificate with a message that says what to do. The certificates are
// made at test time with openssl.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { makeTestPki, opensslMissing, type TestPki } from "./support/certs.ts";
import { QdbProcess, startServe } from "./support/processes.ts";
import { findPythons } from "./support/pythons.ts";
import { serve, type ServeOptions } from "../server.ts";
import { listSessions, QdbClient } from "../client.ts";
import { connectTracerLink } from "../tracer/link.ts";
import { connectTcp } from "../transport/tcp.ts";

const missing = await opensslMissing();
if (missing) console.log(`tls_test: skipped: ${missing}`);

const INFO = {
  engine: "test",
  program: "job.py",
  argv: ["job.py"],
  pid: 4242,
  host: "worker",
  cwd: "/srv",
};

/** A server with TLS on both links, on free ports. */
async function serveTls(cert: string, key: string, options: ServeOptions = {}) {
  return await serve({ clientPort: 0, tracerPort: 0, tls: { cert, key }, ...options });
}

async function withPki(fn: (pki: TestPki) => Promise<void>): Promise<void> {
  const pki = await makeTestPki();
  try {
    await fn(pki);
  } finally {
    await Deno.remove(pki.dir, { recursive: true });
  }
}

/** Fails instead of waiting for ever (a hang guard, not a speed limit). */
function guard<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no answer in 30 s")), 30_000);
  });
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer));
}

/** Reads the client's events until one named `e` matches (fails if the events end first). */
async function untilEvent(
  client: QdbClient,
  e: string,
  // deno-lint-ignore no-explicit-any
  where: (p: any) => boolean,
): Promise<void> {
  const events = client.events[Symbol.asyncIterator]();
  while (true) {
    const next = await guard(events.next());
    if (next.done) throw new Error(`the connection closed before a matching ${e}`);
    if (next.value.e === e && where(next.value.p)) return;
  }
}

async function rejects(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a failure, but it succeeded");
}

Deno.test({
  name: "TLS: a tracer (tls://) and a client (wss://) that trust the CA debug through the server",
  ignore: missing !== undefined,
  fn: () =>
    withPki(async (pki) => {
      await using running = await serveTls(pki.cert, pki.key);
      assertMatch(running.clientUrl, /^wss:\/\//);
      assertMatch(running.tracerUrl, /^tls:\/\//);
      await using link = await connectTracerLink({
        server: running.tracerUrl,
        session: "secure",
        info: INFO,
        caCerts: [pki.ca],
        retries: 0,
      });
      await using client = await QdbClient.connect(running.clientUrl, {
        session: "secure",
        caCerts: [pki.ca],
      });
      assertEquals(client.attached.tracer?.pid, 4242);
      const listed = await listSessions(running.clientUrl, { caCerts: [pki.ca] });
      assertEquals(listed.sessions.map((s) => s.id), ["secure"]);
      // A command crosses both links, and the tracer's answer comes back.
      const commands = link.commands[Symbol.asyncIterator]();
      client.send("stack");
      let routed = (await guard(commands.next())).value!;
      while (routed.e !== "stack") routed = (await guard(commands.next())).value!;
      assertEquals(routed.e, "stack");
      link.send({ e: "print", p: { input: "<stdout>", exc: false, output: "over TLS\n" } });
      await untilEvent(client, "print", (p) => p.output === "over TLS\n");
    }),
});

Deno.test({
  name: "TLS: a server certificate from a CA the peer does not trust is refused on both links",
  ignore: missing !== undefined,
  fn: () =>
    withPki(async (pki) => {
      await using running = await serveTls(pki.cert, pki.key);
      const advice = /not signed by a CA this machine trusts; pass --ca FILE/;
      const tracerError = await rejects(connectTracerLink({
        server: running.tracerUrl,
        info: INFO,
        caCerts: [pki.otherCa],
        retries: 3,
        retryDelay: 1,
      }));
      assertMatch(tracerError.message, advice);
      assertMatch(tracerError.message, /^Cannot connect to tls:\/\/127\.0\.0\.1:\d+: /);
      const clientError = await rejects(
        QdbClient.connect(running.clientUrl, { session: "x", caCerts: [pki.otherCa] }),
      );
      assertMatch(clientError.message, advice);
      // Without --ca, the system's CAs are used: they do not know this test CA either.
      assertMatch((await rejects(listSessions(running.clientUrl))).message, advice);
    }),
});

Deno.test({
  name: "TLS: an expired server certificate is refused on both links",
  ignore: missing !== undefined,
  fn: () =>
    withPki(async (pki) => {
      await using running = await serveTls(pki.expiredCert, pki.key);
      const tracerError = await rejects(connectTracerLink({
        server: running.tracerUrl,
        info: INFO,
        caCerts: [pki.ca],
        retries: 0,
      }));
      assertMatch(tracerError.message, /certificate has expired/);
      const clientError = await rejects(
        QdbClient.connect(running.clientUrl, { session: "x", caCerts: [pki.ca] }),
      );
      assertMatch(clientError.message, /certificate has expired/);
    }),
});

Deno.test({
  name:
    "TLS: plain tcp:// and ws:// links to a TLS server fail with a hint, and the server lives on",
  ignore: missing !== undefined,
  fn: () =>
    withPki(async (pki) => {
      await using running = await serveTls(pki.cert, pki.key, { authTimeout: 30_000 });
      const plain = running.tracerUrl.replace(/^tls:/, "tcp:");
      const error = await rejects(connectTracerLink({ server: plain, info: INFO, retries: 0 }));
      assertMatch(error.message, /connect to tls:\/\/HOST:PORT instead/);
      const plainClient = running.clientUrl.replace(/^wss:/, "ws:");
      const clientError = await rejects(QdbClient.connect(plainClient, { session: "x" }));
      assertMatch(clientError.message, /connect to wss:\/\/ instead/);
      // A TLS peer that never finishes the handshake does not block the next one.
      const stalled = await connectTcp(plain);
      await using link = await connectTracerLink({
        server: running.tracerUrl,
        session: "after",
        info: INFO,
        caCerts: [pki.ca],
        retries: 0,
      });
      assertEquals(link.session, "after");
      stalled.close();
      await stalled.closed;
    }),
});

const pythons = await findPythons();

Deno.test({
  name: "TLS through the CLI: qdb serve --tls-cert, qdb trace --ca, qdb sessions --ca",
  ignore: missing !== undefined || pythons.length === 0,
  fn: () =>
    withPki(async (pki) => {
      await using server = await startServe(["--tls-cert", pki.certFile, "--tls-key", pki.keyFile]);
      assertMatch(server.clientUrl, /^wss:/);
      const program = await Deno.makeTempFile({ suffix: ".py" });
      await Deno.writeTextFile(program, "print('hello over TLS')\n");
      try {
        await using trace = new QdbProcess([
          "trace",
          "--server",
          server.tracerUrl,
          "--ca",
          pki.caFile,
          "--session",
          "cli-tls",
          "--python",
          pythons[0]!.path,
          program,
        ]);
        await trace.line(/is session cli-tls/, "stderr");
        const sessions = new QdbProcess([
          "sessions",
          "--server",
          server.clientUrl,
          "--ca",
          pki.caFile,
        ]);
        assertEquals((await sessions.exited()).code, 0);
        assert(sessions.text.stdout.includes("cli-tls"), sessions.text.stdout);
        // Without the CA, `qdb sessions` says what to do, in one line, and fails.
        const refused = new QdbProcess(["sessions", "--server", server.clientUrl]);
        assertEquals((await refused.exited()).code, 1);
        assertMatch(refused.text.stderr, /pass --ca FILE/);
        // A client that trusts the CA runs the program to its end and sees its output.
        const client = await QdbClient.connect(server.clientUrl, {
          session: "cli-tls",
          caCerts: [pki.ca],
        });
        client.send("continue");
        await untilEvent(client, "print", (p) => p.output === "hello over TLS\n");
        assertEquals((await trace.status).code, 0);
        client.close();
        await client.closed;
      } finally {
        await Deno.remove(program);
      }
    }),
});

Deno.test("qdb serve: --tls-cert without --tls-key is a usage error", async () => {
  await using serve = new QdbProcess(["serve", "--tls-cert", "x.pem", "--client-port", "0"]);
  const status = await serve.status;
  assert(status.code !== 0);
  await serve.close();
  assertMatch(serve.text.stderr, /--tls-cert and --tls-key go together/);
});

Deno.test({
  name: "first hour 2, item 11: a self-signed CA certificate used as the server's is explained",
  ignore: missing !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      // The most common one-liner: a self-signed certificate that is a CA's (CA:TRUE).
      const made = await new Deno.Command("openssl", {
        args: [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-keyout",
          "key.pem",
          "-out",
          "cert.pem",
          "-days",
          "2",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        cwd: dir,
        stdout: "null",
        stderr: "null",
      }).output();
      assert(made.success, "openssl req failed");
      const cert = await Deno.readTextFile(`${dir}/cert.pem`);
      const key = await Deno.readTextFile(`${dir}/key.pem`);
      await using running = await serveTls(cert, key);
      const error = await rejects(connectTracerLink({
        server: running.tracerUrl,
        info: INFO,
        caCerts: [cert],
        retries: 0,
      }));
      assertMatch(error.message, /certificate is a CA's .*CA:FALSE/s);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "first hour 2, item 11: qdb certs makes a CA and a server certificate that qdb serve, " +
    "qdb trace --ca and qdb sessions --ca take as they are",
  ignore: missing !== undefined || pythons.length === 0,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "qdb-certs-" });
    try {
      const made = new QdbProcess(["certs", "--name", "localhost", "--name", "127.0.0.1", dir]);
      assertEquals((await made.exited()).code, 0, made.text.stderr);
      assertMatch(
        made.text.stdout,
        new RegExp(`qdb trace --server tls://localhost:8001 --ca ${dir}/ca\\.pem`),
      );
      // Made once: a second run refuses to overwrite them.
      const again = new QdbProcess(["certs", dir]);
      assertEquals((await again.exited()).code, 2);
      assertMatch(again.text.stderr, /exists: remove it, or pass --force/);
      assertEquals((await Deno.stat(`${dir}/ca.key`)).mode! & 0o777, 0o600);
      await using server = await startServe([
        "--tls-cert",
        `${dir}/server.pem`,
        "--tls-key",
        `${dir}/server.key`,
      ]);
      await using trace = new QdbProcess([
        "trace",
        "--server",
        server.tracerUrl,
        "--ca",
        `${dir}/ca.pem`,
        "--session",
        "certs",
        "--python",
        pythons[0]!.path,
        "--no-stop",
        "-c",
        "import time; time.sleep(30)",
      ]);
      await trace.line(/is session certs/, "stderr");
      const sessions = new QdbProcess([
        "sessions",
        "--server",
        server.clientUrl,
        "--ca",
        `${dir}/ca.pem`,
      ]);
      assertEquals((await sessions.exited()).code, 0, sessions.text.stderr);
      assert(sessions.text.stdout.includes("certs"), sessions.text.stdout);
      trace.kill("SIGTERM");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
