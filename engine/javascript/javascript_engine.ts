/**
 * The JavaScript and TypeScript engine: Node (or Deno) programs debugged through the V8
 * inspector, which qdb starts on a private address (see inspector.ts) and speaks the Chrome
 * DevTools Protocol to. What it does not do yet is said in the README.
 *
 * @example
 * ```ts ignore
 * import { javascriptEngine } from "./javascript_engine.ts";
 * await using session = await javascriptEngine.launch({ program: "app.js" });
 * ```
 * @module
 */

import type { Engine, EngineSession, EngineTraits, LaunchOptions } from "../engine.ts";
import { launchJavaScript } from "./session.ts";

const TRAITS: EngineTraits = {
  handlesFile: (program) => /\.(m?js|cjs|m?ts|cts)$/.test(program),
  isRuntime: (command) => /(^|\/)(node|nodejs|deno)$/.test(command),
  // `deno run [flags] app.ts`, `node [flags] app.js`: the runtime's own words.
  runtimeWords: (runtime, words) => {
    let n = /(^|\/)deno$/.test(runtime) && words[0] === "run" ? 1 : 0;
    while (words[n]?.startsWith("-")) n++;
    return n;
  },
  defaultRuntime: "node",
  runtimeOption: { name: "node", help: "The JavaScript runtime: node, or deno" },
  sourceMimeType: (path) => /\.[cm]?ts$/.test(path) ? "text/typescript" : "text/javascript",
  // Node's own modules and installed packages are not the user's code.
  libraryPatterns: () => Promise.resolve(["node:*", "*/node_modules/*"]),
};

/** Launches JavaScript programs under the V8 inspector. */
export class JavaScriptEngine implements Engine {
  /** Engine name. */
  readonly name = "javascript";
  /** Its programs, runtimes, sources and libraries. */
  readonly traits: EngineTraits = TRAITS;

  /** Starts `options.program` under its runtime's inspector, stopped until qdb connected. */
  launch(options: LaunchOptions): Promise<EngineSession> {
    return launchJavaScript(options);
  }
}

/** The JavaScript engine. */
export const javascriptEngine: JavaScriptEngine = new JavaScriptEngine();
