// The editor set-ups under editors/, checked without the editors: the VS Code extension run
// against a stand-in of the `vscode` module, its manifest against what the adapter reads.
import { runInNewContext } from "node:vm";
import { assert, assertEquals } from "../tests/support/assert.ts";

const here = (path: string) => new URL(path, import.meta.url);

interface Descriptor {
  command: string;
  args: string[];
}

/** What the stand-ins of `child_process` and the quick pick saw and answer. */
interface PickWorld {
  /** `qdb ps --json`'s output. */
  ps: string;
  /** The command lines run. */
  ran: string[][];
  /** The items offered. */
  offered: { label: string; description: string; detail: string }[];
}

/**
 * Runs extension.js's activate() with a stand-in `vscode` whose qdb.command is `command`
 * (and, for its process picker, a stand-in `child_process`; the quick pick takes the first item).
 */
function activate(command: string[] | undefined, world?: PickWorld) {
  const factories = new Map<string, { createDebugAdapterDescriptor(): Descriptor }>();
  const commands = new Map<string, () => Promise<unknown>>();
  const subscriptions: unknown[] = [];
  const childProcess = {
    execFile(file: string, args: string[], done: (error: Error | null, out: string) => void) {
      world?.ran.push([file, ...args]);
      queueMicrotask(() => done(null, world?.ps ?? "[]"));
    },
  };
  const vscode = {
    commands: {
      registerCommand(name: string, run: () => Promise<unknown>) {
        commands.set(name, run);
        return { dispose() {} };
      },
    },
    window: {
      showQuickPick(items: PickWorld["offered"]) {
        world?.offered.push(...items);
        return Promise.resolve(items[0]);
      },
    },
    workspace: {
      getConfiguration: (section: string) => ({
        get: (key: string, fallback: unknown) =>
          section === "qdb" && key === "command" && command !== undefined ? command : fallback,
      }),
    },
    debug: {
      registerDebugAdapterDescriptorFactory(type: string, factory: never) {
        factories.set(type, factory);
        return { dispose() {} };
      },
    },
    DebugAdapterExecutable: class {
      constructor(readonly command: string, readonly args: string[]) {}
    },
  };
  const module = { exports: {} as { activate(context: unknown): void } };
  const source = Deno.readTextFileSync(here("./vscode/extension.js"));
  runInNewContext(source, {
    module,
    exports: module.exports,
    require: (name: string) => {
      if (name === "vscode") return vscode;
      if (name === "child_process") return childProcess;
      throw new Error(`extension.js requires ${name}: VS Code extensions here have no deps`);
    },
  });
  module.exports.activate({ subscriptions });
  assertEquals(subscriptions.length, 2);
  return { factories, commands };
}

Deno.test("vscode: the extension runs `qdb dap`, or the configured command with dap", () => {
  const plain = activate(undefined).factories.get("qdb")!.createDebugAdapterDescriptor();
  assertEquals([plain.command, [...plain.args]], ["qdb", ["dap"]]);
  const deno = activate(["deno", "run", "-A", "/opt/qdb/mod.ts"]).factories.get("qdb")!
    .createDebugAdapterDescriptor();
  assertEquals([deno.command, [...deno.args]], ["deno", ["run", "-A", "/opt/qdb/mod.ts", "dap"]]);
});

Deno.test("vscode: the manifest declares every attribute its configurations use", () => {
  const manifest = JSON.parse(Deno.readTextFileSync(here("./vscode/package.json")));
  assertEquals(manifest.main, "./extension.js");
  const [debuggerSpec] = manifest.contributes.debuggers;
  assertEquals(debuggerSpec.type, "qdb");
  const attributes = debuggerSpec.configurationAttributes as Record<
    string,
    { properties: Record<string, unknown>; required?: string[] }
  >;
  const common = new Set(["type", "request", "name"]);
  const configs = [
    ...debuggerSpec.initialConfigurations,
    ...debuggerSpec.configurationSnippets.map((s: { body: unknown }) => s.body),
  ] as Record<string, unknown>[];
  for (const config of configs) {
    const declared = attributes[String(config.request)];
    assert(declared, `request ${config.request}`);
    for (const key of Object.keys(config)) {
      assert(common.has(key) || key in declared.properties, `${config.request}: ${key}`);
    }
    for (const key of declared.required ?? []) assert(key in config, `${key} in ${config.name}`);
  }
  // What the adapter reads (dap/adapter.ts, launch and attach).
  for (
    const key of [
      "program",
      "args",
      "cwd",
      "env",
      "python",
      "stopOnEntry",
      "justMyCode",
      "skip",
      "subProcess",
    ]
  ) {
    assert(key in attributes.launch!.properties, `launch: ${key}`);
  }
  for (
    const key of ["server", "session", "token", "workspaceFolder", "pathMappings", "processId"]
  ) {
    assert(key in attributes.attach!.properties, `attach: ${key}`);
  }
});

Deno.test("vscode: the process picker offers what `qdb ps --json` lists, and gives the pid", async () => {
  const world: PickWorld = {
    ps: JSON.stringify([
      { pid: 4242, version: "3.11", argv: ["python3", "service.py"], qdb: false },
      { pid: 4343, version: "3.12", argv: ["python3", "-m", "jobs"], qdb: true },
    ]),
    ran: [],
    offered: [],
  };
  const { commands } = activate(["deno", "run", "-A", "/opt/qdb/mod.ts"], world);
  const manifest = JSON.parse(Deno.readTextFileSync(here("./vscode/package.json")));
  // `${command:pickProcess}` in a configuration runs the command the debugger names for it.
  const named = manifest.contributes.debuggers[0].variables.pickProcess;
  assertEquals(await commands.get(named)!(), "4242");
  assertEquals(world.ran, [["deno", "run", "-A", "/opt/qdb/mod.ts", "ps", "--json"]]);
  assertEquals(world.offered.map((i) => [i.label, i.description, i.detail]), [
    ["4242", "python3 service.py", "Python 3.11"],
    ["4343", "python3 -m jobs", "Python 3.12 (runs under qdb already)"],
  ]);
});
