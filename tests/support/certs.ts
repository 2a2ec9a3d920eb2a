/**
 * Test certificates made at test time with openssl: a CA, a second CA nobody trusts, and
 * server certificates for `localhost` and `127.0.0.1` (one valid, one expired in 2020).
 *
 * @module
 */

/** PEM files of a test PKI, and the directory holding them. */
export interface TestPki {
  dir: string;
  /** The trusted CA's certificate. */
  caFile: string;
  ca: string;
  /** A CA that signed nothing here. */
  otherCaFile: string;
  otherCa: string;
  /** A valid server certificate and its key. */
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** A server certificate that expired on 2020-01-02, same key. */
  expiredCertFile: string;
  expiredCert: string;
}

/** Why openssl cannot be used, or undefined when it can. */
export async function opensslMissing(): Promise<string | undefined> {
  try {
    const { success } = await new Deno.Command("openssl", { args: ["version"], stdout: "null" })
      .output();
    return success ? undefined : "openssl version failed";
  } catch {
    return "openssl is not installed (apt-get install openssl)";
  }
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
  }
}

/** Makes a fresh test PKI in a temporary directory; remove `dir` when done. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: "qdb-pki-" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  for (const name of ["ca", "other-ca"]) {
    await openssl(
      dir,
      "req",
      "-x509",
      ...ec,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=qdb test ${name}`,
    );
  }
  await openssl(
    dir,
    "req",
    ...ec,
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  );
  await Deno.writeTextFile(`${dir}/san.ext`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "1",
    "-extfile",
    "san.ext",
  );
  // `openssl x509` only dates certificates from now: `openssl ca` can backdate one.
  await Deno.mkdir(`${dir}/db`);
  await Deno.writeTextFile(`${dir}/db/index.txt`, "");
  await Deno.writeTextFile(`${dir}/db/serial`, "1000\n");
  await Deno.writeTextFile(
    `${dir}/ca.cnf`,
    [
      "[ca]",
      "default_ca = test",
      "[test]",
      "database = db/index.txt",
      "new_certs_dir = db",
      "serial = db/serial",
      "default_md = sha256",
      "policy = any",
      "[any]",
      "commonName = supplied",
      "",
    ].join("\n"),
  );
  await openssl(
    dir,
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-cert",
    "ca.pem",
    "-keyfile",
    "ca.key",
    "-in",
    "server.csr",
    "-out",
    "expired.pem",
    "-startdate",
    "20200101000000Z",
    "-enddate",
    "20200102000000Z",
    "-notext",
    "-extfile",
    "san.ext",
  );
  const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
  return {
    dir,
    caFile: `${dir}/ca.pem`,
    ca: await read("ca.pem"),
    otherCaFile: `${dir}/other-ca.pem`,
    otherCa: await read("other-ca.pem"),
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server.key`,
    cert: await read("server.pem"),
    key: await read("server.key"),
    expiredCertFile: `${dir}/expired.pem`,
    expiredCert: await read("expired.pem"),
  };
}
