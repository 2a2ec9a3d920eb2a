/**
 * TLS for both links: what a client needs to trust a server (`caCerts`), and failures
 * explained in words a user can act on instead of the TLS library's enum names.
 *
 * @example
 * ```ts
 * import { explainTlsFailure } from "./tls.ts";
 * explainTlsFailure("invalid peer certificate: UnknownIssuer");
 * // "the server's certificate is not signed by a CA this machine trusts; ..."
 * ```
 * @module
 */

/** How a client checks the server's certificate. */
export interface TlsClientOptions {
  /**
   * PEM certificates of the CAs to trust, instead of the system's roots. Default: the
   * system's roots.
   */
  caCerts?: string[] | undefined;
}

/** A certificate chain and its private key, both PEM, as a TLS server needs them. */
export interface TlsServerOptions {
  /** The server's certificate chain (PEM). */
  cert: string;
  /** Its private key (PEM). */
  key: string;
}

/**
 * Rewrites a TLS library's failure message (`invalid peer certificate: UnknownIssuer`) into
 * what went wrong and what to do. Returns `undefined` when the message is not about TLS.
 */
export function explainTlsFailure(message: string): string | undefined {
  if (/CaUsedAsEndEntity/i.test(message)) {
    return "the server's certificate is a CA's (self-signed with CA:TRUE, as " +
      "`openssl req -x509` makes by default), and rustls, which Deno uses, refuses a CA " +
      "certificate as a server's own. `qdb certs DIR --name HOST` makes a CA and a server " +
      "certificate signed by it (pass DIR/ca.pem to --ca), or add `-addext basicConstraints=critical,CA:FALSE` to " +
      "that openssl command; then pass the certificate the server uses to --ca";
  }
  if (/UnknownIssuer|UnknownCA|unknown ca/i.test(message)) {
    return "the server's certificate is not signed by a CA this machine trusts; " +
      "pass --ca FILE with the certificate of the CA that signed it";
  }
  if (/Expired|certificate has expired/i.test(message)) {
    return "the server's certificate has expired (or is not valid yet: check both clocks)";
  }
  if (/NotValidYet/i.test(message)) {
    return "the server's certificate is not valid yet (check both clocks)";
  }
  if (/NotValidForName|CertNotValidForName/i.test(message)) {
    return "the server's certificate is not valid for this host name; " +
      "connect with a name the certificate lists";
  }
  if (/InvalidContentType|corrupt message|CorruptMessage|wrong version number/i.test(message)) {
    return "the server does not speak TLS here; use ws:// or tcp:// for a server without TLS";
  }
  if (/invalid peer certificate|BadSignature|InvalidCertificate/i.test(message)) {
    return `the server's certificate was refused (${message.replace(/^.*certificate: /, "")})`;
  }
  return undefined;
}
