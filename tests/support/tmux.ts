/**
 * Drives a command in a private tmux server, as a person at a terminal would: type keys,
 * read the screen. Each session has its own tmux socket and is killed on dispose.
 *
 * @module
 */

import { HANG_GUARD_MS } from "./inbox.ts";
import { QDB_ENTRY } from "./processes.ts";

/** Why tmux tests cannot run here, or undefined when they can. */
export const TMUX_MISSING: string | undefined = (() => {
  try {
    const out = new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync();
    return out.success ? undefined : "tmux -V failed";
  } catch {
    return "tmux is not installed (apt-get install tmux)";
  }
})();

async function tmux(socket: string, args: string[]): Promise<string> {
  const out = await new Deno.Command("tmux", {
    args: ["-L", socket, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`tmux ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Options of {@linkcode TmuxTerminal.start}. */
export interface TmuxOptions {
  /** Environment variables for the command. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Screen size. Default 120x50. */
  columns?: number;
  rows?: number;
  /** Files to delete when the terminal is closed. */
  removeOnClose?: string[];
}

/** One command running in a tmux window. */
export class TmuxTerminal implements AsyncDisposable {
  readonly #socket: string;
  readonly #remove: string[];
  #closed = false;

  private constructor(socket: string, remove: string[]) {
    this.#socket = socket;
    this.#remove = remove;
  }

  /** Starts `command` (argv) in a new private tmux server. */
  static async start(command: string[], options: TmuxOptions = {}): Promise<TmuxTerminal> {
    const socket = `qdb-test-${crypto.randomUUID().slice(0, 8)}`;
    const env = Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}`);
    // `; sleep` keeps the pane (and its last screen) after the command exits.
    const script = `${env.join(" ")} ${
      command.map(shellQuote).join(" ")
    }; echo "[exit $?]"; sleep 600`;
    await tmux(socket, [
      "new-session",
      "-d",
      "-s",
      "main",
      "-x",
      String(options.columns ?? 120),
      "-y",
      String(options.rows ?? 50),
      ...(options.cwd ? ["-c", options.cwd] : []),
      script,
    ]);
    await tmux(socket, ["set-option", "-t", "main", "history-limit", "10000"]);
    return new TmuxTerminal(socket, options.removeOnClose ?? []);
  }

  /** Types text literally. */
  async type(text: string): Promise<void> {
    await tmux(this.#socket, ["send-keys", "-t", "main", "-l", text]);
  }

  /** Types a line and Enter. */
  async line(text: string): Promise<void> {
    if (text) await this.type(text);
    await this.keys("Enter");
  }

  /** Sends named keys: `Enter`, `C-c`, `C-d`, `Tab`, `Up`. */
  async keys(...keys: string[]): Promise<void> {
    await tmux(this.#socket, ["send-keys", "-t", "main", ...keys]);
  }

  /** The whole screen and scrollback, as text (trailing blanks trimmed). */
  async screen(): Promise<string> {
    const text = await tmux(this.#socket, ["capture-pane", "-p", "-J", "-t", "main", "-S", "-"]);
    return text.replace(/\s+$/, "");
  }

  /**
   * Waits until the screen matches `pattern` (checked after `after` characters of the screen
   * text, to wait for something new). Polls the screen: tmux has no change notification.
   * Rejects with the screen after the hang guard.
   */
  async waitFor(pattern: RegExp, after = 0): Promise<{ text: string; match: RegExpExecArray }> {
    const deadline = Date.now() + HANG_GUARD_MS;
    let text = "";
    while (Date.now() < deadline) {
      text = await this.screen();
      const match = pattern.exec(text.slice(after));
      if (match) return { text, match };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`The screen never matched ${pattern}; it shows:\n${text}`);
  }

  /** Kills the tmux server and everything in it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await tmux(this.#socket, ["kill-server"]);
    } catch {
      // Already gone.
    }
    for (const file of this.#remove) await Deno.remove(file).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The `qdb` CLI (`qdb ARGS...`) in a tmux window, without colour and without a history file
 * (`env` adds to or overrides both).
 */
export function qdbInTmux(
  args: string[],
  env: Record<string, string> = {},
): Promise<TmuxTerminal> {
  return TmuxTerminal.start([Deno.execPath(), "run", "--allow-all", QDB_ENTRY, ...args], {
    env: { NO_COLOR: "1", QDB_HISTORY: "", ...env },
  });
}
