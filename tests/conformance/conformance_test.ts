// The engine contract (contract.ts), run against the scripted fake engine (the core alone, no
// Python) and against the Python engine on every CPython 3.8+ found.
import { DebugCore } from "../../core/core.ts";
import { pythonEngine } from "../../engine/python/python_engine.ts";
import type { Message } from "../../protocol/mod.ts";
import { HANG_GUARD_MS } from "../support/inbox.ts";
import { findPythons } from "../support/pythons.ts";
import {
  CONTRACT,
  type ContractLanguage,
  type ContractSession,
  type ContractTarget,
  JAVASCRIPT,
  PYTHON,
} from "./contract.ts";
import { javascriptEngine } from "../../engine/javascript/javascript_engine.ts";
import { FakeEngine } from "./fake_engine.ts";

const PROGRAM = new URL("../../testdata/contract.py", import.meta.url).pathname;
const STOP_LINE = Deno.readTextFileSync(PROGRAM).split("\n")
  .findIndex((l) => l.endsWith("# @contract_stop")) + 1;

/** The core's events, kept in order, with a cursor for `next`. */
function session(
  core: DebugCore,
  program: string,
  close: () => Promise<void>,
  language: ContractLanguage = PYTHON,
): ContractSession {
  const seen: Message[] = [];
  let cursor = 0;
  let wake: (() => void) | undefined;
  let ended = false;
  (async () => {
    for await (const msg of core.events) {
      seen.push(msg);
      wake?.();
    }
    ended = true;
    wake?.();
  })();
  return {
    core,
    program,
    language,
    seen,
    async next(e) {
      const deadline = Date.now() + HANG_GUARD_MS;
      const start = e === "*" ? seen.length : cursor;
      while (true) {
        for (let i = start; i < seen.length; i++) {
          if (e === "*" || seen[i]!.e === e) {
            if (e !== "*") cursor = i + 1;
            return seen[i]!;
          }
        }
        if (ended) {
          throw new Error(`The engine ended before "${e}": ${JSON.stringify(seen.slice(-5))}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`No "${e}" within the hang guard`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            wake = undefined;
            resolve();
          };
        });
      }
    },
    [Symbol.asyncDispose]: close,
  };
}

const fake: ContractTarget = {
  name: "fake engine",
  async start() {
    const engine = new FakeEngine(PROGRAM, await Deno.readTextFile(PROGRAM));
    const s = session(new DebugCore(engine), PROGRAM, () => Promise.resolve(engine.events.end()));
    await s.next("stack");
    return s;
  },
};

const pythonTargets: ContractTarget[] = (await findPythons()).map((python) => ({
  name: `Python ${python.version}`,
  async start() {
    const engine = await pythonEngine.launch({
      program: PROGRAM,
      interpreter: python.path,
      stopOnEntry: false,
      breakpoints: [`${PROGRAM}:${STOP_LINE}`],
    });
    const s = session(new DebugCore(engine), PROGRAM, () => engine.dispose());
    await s.next("stack");
    return s;
  },
}));

const SCRIPT = new URL("../../testdata/contract.js", import.meta.url).pathname;

/** Node, when this machine has it: the JavaScript engine's runtime. */
const node = await new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" })
  .output().then((out) => out.success, () => false);
if (!node) console.log("engine contract: JavaScript skipped: no node on the PATH");

const javascriptTargets: ContractTarget[] = node
  ? [{
    name: "JavaScript (Node)",
    async start() {
      const engine = await javascriptEngine.launch({
        program: SCRIPT,
        stopOnEntry: false,
        breakpoints: [`${SCRIPT}:${STOP_LINE}`],
        stdin: "null",
      });
      const s = session(new DebugCore(engine), SCRIPT, () => engine.dispose(), JAVASCRIPT);
      await s.next("stack");
      return s;
    },
  }]
  : [];

for (const target of [fake, ...pythonTargets, ...javascriptTargets]) {
  Deno.test(`engine contract: ${target.name}`, async (t) => {
    for (const [name, check] of Object.entries(CONTRACT)) {
      await t.step(name, async () => {
        await using s = await target.start();
        await check(s);
      });
    }
  });
}
