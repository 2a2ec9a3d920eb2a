import { assert, assertEquals } from "../tests/support/assert.ts";
import { RECLAIM_AFTER_BYTES, Reclaimer } from "./memory.ts";

Deno.test("Reclaimer: a slow collection makes the next wait twenty times as long", async () => {
  let clock = 0;
  let collected!: () => void;
  let done = new Promise<void>((resolve) => collected = resolve);
  // A collection that takes 100 ms of the (fake) clock.
  const gc = () => {
    clock += 100;
    collected();
  };
  const reclaimer = new Reclaimer(gc, () => clock);
  // Its timers never keep a process alive: this one does, while the test waits.
  const alive = setInterval(() => {}, 1000);
  try {
    assertEquals(reclaimer.soon(0), 0);
    // Asked again before it ran: one is pending already.
    assertEquals(reclaimer.soon(0), undefined);
    await done;
    done = new Promise<void>((resolve) => collected = resolve);
    // It ended at 100 ms and took 100: the next may not start before 2,100 ms.
    assertEquals(reclaimer.soon(0), 2000);
    reclaimer.close();
    // A quick one (1 ms) leaves the shortest pause, 250 ms.
    clock = 10_000;
    const quick = new Reclaimer(() => {
      clock += 1;
      collected();
    }, () => clock);
    quick.soon(0);
    await done;
    assertEquals(quick.soon(0), 250);
    quick.close();
  } finally {
    reclaimer.close();
    clearInterval(alive);
  }
});

Deno.test("Reclaimer: without gc, nothing is asked for", () => {
  const reclaimer = new Reclaimer(null);
  assertEquals(reclaimer.soon(0), undefined);
  reclaimer.note(1 << 30);
  reclaimer.close();
});

Deno.test("Reclaimer: the reader of large messages waits for the collection they asked for", async () => {
  let clock = 0;
  const collections: number[] = [];
  const reclaimer = new Reclaimer(() => collections.push(clock), () => clock);
  const alive = setInterval(() => {}, 1000);
  try {
    // Under the threshold: nothing to wait for.
    assertEquals(reclaimer.note(RECLAIM_AFTER_BYTES / 2), undefined);
    // At it: a collection is asked for, and the reader waits for it.
    const debt = reclaimer.note(RECLAIM_AFTER_BYTES / 2);
    assert(debt !== undefined, "no wait at the threshold");
    // Two readers past it share one wait.
    assert(reclaimer.note(1) === debt, "a second wait");
    await debt;
    assertEquals(collections.length, 1);
    // The count starts again after a collection.
    assertEquals(reclaimer.note(RECLAIM_AFTER_BYTES / 2), undefined);
    // Closing lets waiting readers go on, with no collection.
    clock = 10_000;
    const pending = reclaimer.note(RECLAIM_AFTER_BYTES);
    assert(pending !== undefined, "no wait at the threshold");
    reclaimer.close();
    await pending;
  } finally {
    reclaimer.close();
    clearInterval(alive);
  }
});
