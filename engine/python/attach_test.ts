/**
 * The Python engine attached to a program that runs already (`pythonEngine.attach`, the
 * engine of `qdb trace --pid`), on every CPython found, with testdata/attach_service.py: a
 * worker thread that prints and a main thread that waits (in `time.sleep(600)` or `input()`).
 * Its output before, during and after is intact and in order on its own stdout, and the session
 * gets what it printed while attached; a breakpoint in the worker hits, a pause reaches the main
 * thread where it waits, an evaluation there captures its own prints and none of the worker's; a second attach while attached is refused, one after the detach works;
 * after the last detach the program's own SIGUSR2 handler ends it, it exits with its own code,
 * and it reports that nothing of qdb is left in it. Skips where gdb or ptrace is not allowed.
 */

import { assert, assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { onEveryPython, type PythonInstall } from "../../tests/support/pythons.ts";
import {
  assertTicksInOrder,
  attachSkipReason,
  SERVICE,
  startService,
  WORK_LINE,
} from "../../tests/support/ptrace.ts";
import type { EngineSession } from "../engine.ts";
import type { Message } from "../../protocol/envelope.ts";
import { AttachError, describePythonProcess } from "./inject.ts";
import { pythonEngine } from "./python_engine.ts";

const skip = await attachSkipReason();
if (skip) console.log(`skip: attaching to a running program: ${skip}`);

/** The session's events, one at a time, with what it printed gathered. */
function eventsOf(session: EngineSession) {
  const iterator = session.events[Symbol.asyncIterator]();
  const seen = { printed: "", log: [] as string[] };
  return {
    seen,
    async until(pred: (msg: Message) => boolean): Promise<Message> {
      while (true) {
        const { value, done } = await iterator.next();
        if (done) throw new Error("The session ended");
        if (value.e === "print") seen.printed += (value.p as { output: string }).output;
        else seen.log.push(JSON.stringify(value).slice(0, 600));
        if (pred(value)) return value;
      }
    },
    async rest(): Promise<Message[]> {
      const out: Message[] = [];
      while (true) {
        const { value, done } = await iterator.next();
        if (done) return out;
        if (value.e === "print") seen.printed += (value.p as { output: string }).output;
        out.push(value);
      }
    },
  };
}

const stoppedEvent = (msg: Message) => msg.e === "stopped";

async function attachSleeping(python: PythonInstall) {
  const service = startService(python, "sleep");
  try {
    await service.readUntil("tick 3\n");
    const session = await pythonEngine.attach({ pid: service.child.pid });
    assertEquals(session.info.pid, service.child.pid);
    assert(session.info.program.endsWith("attach_service.py"), session.info.program);
    const events = eventsOf(session);
    // What it prints while attached reaches the session.
    await events.until((m) => m.e === "print");
    // A second attach meanwhile is refused, and says why.
    const refused = await assertRejects(
      () => pythonEngine.attach({ pid: service.child.pid }),
      AttachError,
    );
    assert(/qdb is attached to process \d+ already/.test(refused.message), refused.message);
    // `qdb ps` shows it debugged meanwhile.
    assertEquals((await describePythonProcess(service.child.pid)).attachedBy, Deno.pid);
    // A breakpoint in the worker thread hits.
    session.send({
      e: "request",
      id: 1,
      p: {
        command: "set_breakpoint",
        args: { breakpoint: { id: 1, file: SERVICE, line: WORK_LINE } },
      },
    });
    const hit = await events.until(stoppedEvent);
    assertEquals((hit.p as { reason: string }).reason, "breakpoint", events.seen.log.join("\n"));
    session.send({ e: "request", id: 2, p: { command: "remove_breakpoints", args: { ids: [1] } } });
    session.send({ e: "continue", id: 3 });
    await events.until((m) => m.e === "running");
    // A pause reaches the main thread, asleep in time.sleep(600).
    session.send({ e: "pause", id: 4 });
    const paused = await events.until(stoppedEvent);
    assertEquals((paused.p as { reason: string }).reason, "pause");
    // An evaluation's prints are its own; a thread that runs meanwhile (the worker, on 3.8,
    // which qdb cannot hold there) prints to the program's output, not into the evaluation's.
    session.send({
      e: "request",
      id: 6,
      p: {
        command: "evaluate",
        args: { expr: "(print('from eval'), __import__('time').sleep(0.3), mode)[2]" },
      },
    });
    const evaluated = await events.until((m) => m.e === "response" && m.id === 6);
    const result = (evaluated.p as { result: { value: string; output?: string } }).result;
    assertEquals([result.value, result.output], ["'sleep'", "from eval\n"]);
    session.send({ e: "continue", id: 5 });
    await events.until((m) => m.e === "running");
    await session.dispose();
    const last = await events.rest();
    assertEquals(last.at(-1)?.e, "disabled");
    assertTicksInOrder(events.seen.printed);
    // Attached again after the detach: a pause, and gone again.
    const again = await pythonEngine.attach({ pid: service.child.pid });
    const events2 = eventsOf(again);
    again.send({ e: "pause", id: 1 });
    await events2.until(stoppedEvent);
    await again.dispose();
    await events2.rest();
    // Its own SIGUSR2 handler ends the wait.
    await service.stopBySignal();
    await service.assertEndedClean();
    assert(service.stdout.startsWith("before\n"), service.stdout.slice(0, 100));
  } catch (error) {
    await service.kill();
    throw error;
  }
}

async function attachReading(python: PythonInstall) {
  const service = startService(python, "input");
  try {
    await service.readUntil("tick 3\n");
    const session = await pythonEngine.attach({ pid: service.child.pid });
    const events = eventsOf(session);
    // A pause reaches the main thread, waiting in input().
    session.send({ e: "pause", id: 1 });
    const paused = await events.until(stoppedEvent);
    assertEquals((paused.p as { reason: string }).reason, "pause");
    session.send({ e: "continue", id: 2 });
    await events.until((m) => m.e === "running");
    await session.dispose();
    await events.rest();
    const writer = service.child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("hello\n"));
    await writer.close();
    await service.assertEndedClean();
    assert(service.stdout.includes("got hello\n"), service.stdout.slice(-300));
  } catch (error) {
    await service.kill();
    throw error;
  }
}

async function refuseTraced(python: PythonInstall) {
  const service = startService(python, "traced");
  try {
    await service.readUntil("tick 1\n");
    const error = await assertRejects(
      () => pythonEngine.attach({ pid: service.child.pid }),
      AttachError,
    );
    assert(/trace function already/.test(error.message), error.message);
    await service.stopBySignal();
    await service.assertEndedClean();
  } catch (error) {
    await service.kill();
    throw error;
  }
}

onEveryPython(
  "attach by pid: a worker's breakpoint, a pause in sleep(600), refused twice, detached twice, nothing left",
  attachSleeping,
  skip !== undefined,
);
onEveryPython(
  "attach by pid: a pause reaches input(), and the program reads its line after the detach",
  attachReading,
  skip !== undefined,
);
onEveryPython(
  "attach by pid: a program that runs its own trace function is refused, and runs on",
  refuseTraced,
  skip !== undefined,
);
