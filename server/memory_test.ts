import { assertEquals } from "../tests/support/assert.ts";
import { Reclaimer } from "./memory.ts";

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
