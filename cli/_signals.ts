/** Resolves when `done` settles or the process gets SIGINT or SIGTERM. */
export function untilInterrupted(done: Promise<unknown>): Promise<void> {
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  return new Promise((resolve) => {
    const finish = () => {
      for (const s of signals) Deno.removeSignalListener(s, finish);
      resolve();
    };
    for (const s of signals) Deno.addSignalListener(s, finish);
    done.finally(finish);
  });
}

/**
 * Forwards these signals to the debugged program (which runs in its own process group, so a
 * terminal's Ctrl-C or a hangup does not reach it by itself). Returns a function that stops.
 */
export function forwardSignals(
  kill: (signal: Deno.Signal) => void,
  signals: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"],
): () => void {
  const handlers = signals.map((signal) => {
    const handler = () => kill(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
  };
}
