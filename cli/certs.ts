/**
 * `qdb certs DIR`: certificates for a server with TLS, made right the first time: a CA of its
 * own (its certificate is what tracers and clients pass as `--ca`) and a server certificate
 * signed by it for the names and addresses given. A self-signed certificate used as the server's
 * (the common `openssl req -x509` one-liner) is a CA used as an end entity, which rustls, and
 * so Deno, refuses; this makes the two it wants. It runs `openssl`.
 *
 * @module
 */

import { type CommandSpec, list, num, UsageError } from "./args.ts";

/** The files `qdb certs` makes in its directory. */
export const CERT_FILES = {
  ca: "ca.pem",
  caKey: "ca.key",
  cert: "server.pem",
  key: "server.key",
} as const;

async function openssl(cwd: string, args: string[], input?: string): Promise<void> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("openssl", {
      args,
      cwd,
      stdin: input === undefined ? "null" : "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError("qdb certs runs openssl, which is not installed here");
    }
    throw error;
  }
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const { success, stderr } = await child.output();
  if (!success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
}

/** `DNS:name` or `IP:address`, as subjectAltName takes them. */
function altName(name: string): string {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name) || name.includes(":")) return `IP:${name}`;
  if (!/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name)) {
    throw new UsageError(`"${name}" is not a host name or an IP address`);
  }
  return `DNS:${name}`;
}

/** Makes the CA and the server's certificate in `dir` for `names`; the files' paths. */
export async function makeCerts(
  dir: string,
  names: string[],
  options: { days?: number; force?: boolean } = {},
): Promise<Record<keyof typeof CERT_FILES, string>> {
  const alt = names.map(altName).join(",");
  await Deno.mkdir(dir, { recursive: true });
  const paths = Object.fromEntries(
    Object.entries(CERT_FILES).map(([k, f]) => [k, `${dir.replace(/\/$/, "")}/${f}`]),
  ) as Record<keyof typeof CERT_FILES, string>;
  if (!options.force) {
    for (const path of Object.values(paths)) {
      try {
        await Deno.lstat(path);
        throw new UsageError(`${path} exists: remove it, or pass --force to make new ones`);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  }
  const days = String(options.days ?? 825);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  // The CA: what tracers and clients trust (--ca). Its key signs; keep it private.
  await openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    CERT_FILES.caKey,
    "-out",
    CERT_FILES.ca,
    "-days",
    "3650",
    "-subj",
    "/CN=qdb CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  // The server's: not a CA, for these names, signed by the CA.
  await openssl(dir, [
    "req",
    ...ec,
    "-keyout",
    CERT_FILES.key,
    "-out",
    "server.csr",
    "-subj",
    `/CN=${names[0]}`,
  ]);
  const extensions = [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    `subjectAltName=${alt}`,
    "",
  ].join("\n");
  await Deno.writeTextFile(`${dir}/server.ext`, extensions);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    CERT_FILES.ca,
    "-CAkey",
    CERT_FILES.caKey,
    "-CAcreateserial",
    "-out",
    CERT_FILES.cert,
    "-days",
    days,
    "-extfile",
    "server.ext",
  ]);
  for (const scratch of ["server.csr", "server.ext", "ca.srl"]) {
    await Deno.remove(`${dir}/${scratch}`).catch(() => {});
  }
  await Deno.chmod(paths.caKey, 0o600);
  await Deno.chmod(paths.key, 0o600);
  return paths;
}

/** The `certs` command. */
export const certsCommand: CommandSpec = {
  name: "certs",
  usage: "[options] DIR",
  summary: "Make a CA and a server certificate for `qdb serve --tls-cert` (runs openssl).",
  description:
    "Makes DIR/ca.pem (the CA that tracers and clients pass as --ca), DIR/ca.key (its key:\n" +
    "keep it private), and DIR/server.pem and DIR/server.key (the server's, for the names\n" +
    "given), then prints the commands that use them. A self-signed certificate made with\n" +
    "`openssl req -x509` cannot be the server's: it is a CA, which TLS refuses as a server.",
  options: [
    {
      name: "name",
      short: "n",
      type: "string",
      multiple: true,
      placeholder: "HOST",
      help:
        "A host name or an IP address the server is reached at (repeatable; default localhost and 127.0.0.1)",
    },
    {
      name: "days",
      type: "string",
      placeholder: "N",
      help: "How long the server's certificate is valid",
      default: "825",
    },
    { name: "force", type: "boolean", help: "Replace the files if they exist" },
  ],
  examples: ["qdb certs --name server.example.com --name 10.0.0.5 ~/.qdb/tls"],
  async run({ values, positionals }) {
    const dir = positionals[0];
    if (dir === undefined || positionals.length > 1) {
      throw new UsageError("name one directory for the files: qdb certs DIR");
    }
    const given = list(values, "name");
    const names = given.length > 0 ? given : ["localhost", "127.0.0.1"];
    const files = await makeCerts(dir, names, {
      days: num(values, "days", 825, { min: 1, integer: true }),
      force: values.force === true,
    });
    const host = names[0]!;
    const loopback = host === "localhost" || host.startsWith("127.") || host === "::1";
    console.log(
      [
        `Made a CA (${files.ca}, its key ${files.caKey}: keep it private) and a certificate`,
        `for ${names.join(", ")} (${files.cert}, ${files.key}). Use them as:`,
        "",
        `  qdb serve ${
          loopback ? "" : "--host 0.0.0.0 "
        }--tls-cert ${files.cert} --tls-key ${files.key}`,
        `  qdb trace --server tls://${host}:8001 --ca ${files.ca} -- python3 app.py`,
        `  qdb attach --server wss://${host}:8002 --ca ${files.ca}`,
        "",
        `Copy ${files.ca} (not its key) to the machines of tracers and clients.`,
      ].join("\n"),
    );
    return 0;
  },
};
