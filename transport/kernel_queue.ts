/**
 * What the operating system holds for a TCP peer: bytes sent and not yet acknowledged (Linux's
 * `/proc/net/tcp` and `/proc/net/tcp6`, the `tx_queue` column). A client that reads slowly
 * moves it down as it reads, long before the server's own writes complete (a kernel send buffer
 * of megabytes wakes a writer only once a third of it is free); one that reads nothing, or whose
 * link is half open, never does. Elsewhere, and without permission to read `/proc`, it is
 * unknown.
 *
 * @module
 */

/** How old the table may be before a lookup asks for a new one, in ms. */
const FRESH_MS = 500;

/**
 * Parses the text of `/proc/net/tcp` or `/proc/net/tcp6` into established connections' send
 * queues by `"localPort:remotePort"`; a pair of ports seen twice (two remote hosts) is left out
 * (`NaN`), as it cannot be told apart.
 */
export function parseProcNetTcp(text: string, into: Map<string, number> = new Map()) {
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st tx_queue:rx_queue ...; st 01 is ESTABLISHED.
    if (fields.length < 5 || fields[3] !== "01") continue;
    const local = parseInt(fields[1]!.slice(fields[1]!.lastIndexOf(":") + 1), 16);
    const remote = parseInt(fields[2]!.slice(fields[2]!.lastIndexOf(":") + 1), 16);
    const tx = parseInt(fields[4]!.slice(0, fields[4]!.indexOf(":")), 16);
    if (Number.isNaN(local) || Number.isNaN(remote) || Number.isNaN(tx)) continue;
    const key = `${local}:${remote}`;
    into.set(key, into.has(key) ? NaN : tx);
  }
  return into;
}

/** The kernel's send queues of this process's machine, read at most every 500 ms. */
export class KernelSendQueues {
  #table = new Map<string, number>();
  #readAt = -Infinity;
  #reading: Promise<void> | undefined;
  #available = Deno.build.os === "linux";

  /**
   * Bytes the kernel holds, unacknowledged, for the established connection from `localPort` to
   * `remotePort`, as of the last reading (at most about a second old); undefined where unknown.
   */
  get(localPort: number, remotePort: number): number | undefined {
    if (!this.#available) return undefined;
    if (performance.now() - this.#readAt > FRESH_MS) this.refresh();
    const bytes = this.#table.get(`${localPort}:${remotePort}`);
    return bytes === undefined || Number.isNaN(bytes) ? undefined : bytes;
  }

  /** Reads the table again (at once; `get` does it by itself when its copy is old). */
  refresh(): Promise<void> {
    return this.#reading ??= (async () => {
      try {
        const table = new Map<string, number>();
        for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
          try {
            parseProcNetTcp(await Deno.readTextFile(file), table);
          } catch (error) {
            // No IPv6 is fine; no permission, or no /proc, means never.
            if (!(error instanceof Deno.errors.NotFound)) throw error;
          }
        }
        this.#table = table;
      } catch {
        this.#available = false;
        this.#table = new Map();
      } finally {
        this.#readAt = performance.now();
        this.#reading = undefined;
      }
    })();
  }
}

/** The process's one reader of the kernel's send queues. */
export const kernelSendQueues: KernelSendQueues = new KernelSendQueues();
