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
