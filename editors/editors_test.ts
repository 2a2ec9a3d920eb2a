// The editor set-ups under editors/, checked without the editors: the VS Code extension run
// against a stand-in of the `vscode` module, its manifest against what the adapter reads.
import { runInNewContext } from "node:vm";
import { assert, assertEquals } from "../tests/support/assert.ts";

const here = (path: string) => new URL(path, import.meta.url);

interface Descriptor {
  command: string;
  args: string[];
}

/** Runs extension.js's activate() with a stand-in `vscode` whose qdb.command is `command`. */
function activate(command: string[] | undefined) {
  const factories = new Map<string, { createDebugAdapterDescriptor(): Descriptor }>();
  const subscriptions: unknown[] = [];
  const vscode = {
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
      throw new Error(`extension.js requires ${name}: VS Code extensions here have no deps`);
    },
  });
  module.exports.activate({ subscriptions });
  assertEquals(subscriptions.length, 1);
  return factories;
}

Deno.test("vscode: the extension runs `qdb dap`, or the configured command with dap", () => {
  const plain = activate(undefined).get("qdb")!.createDebugAdapterDescriptor();
  assertEquals([plain.command, [...plain.args]], ["qdb", ["dap"]]);
  const deno = activate(["deno", "run", "-A", "/opt/qdb/mod.ts"]).get("qdb")!
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
  for (const key of ["server", "session", "token", "workspaceFolder", "pathMappings"]) {
    assert(key in attributes.attach!.properties, `attach: ${key}`);
  }
});
