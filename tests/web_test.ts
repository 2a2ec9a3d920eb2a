// The web client in a real Chromium (Debian's, driven by playwright-core), against a real server
// and tracer in this process on a Python fixture. Waits are on what the page shows; playwright's
// own timeouts are the hang guard, not a speed test. A screenshot of the stopped session is
// kept in tests/artifacts/.
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { findPythons } from "./support/pythons.ts";
import { serve } from "../server.ts";
import { engineFor, startTracer, type TracerOptions } from "../tracer.ts";
import { pythonEngine } from "../engine/python/python_engine.ts";
import { QdbClient } from "../client.ts";
import { relay } from "./support/relay.ts";

const PROGRAM = new URL("../testdata/web.py", import.meta.url).pathname;
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;
const lines = Deno.readTextFileSync(PROGRAM).split("\n");
const line = (marker: string) => lines.findIndex((l) => l.endsWith(`# @${marker}`)) + 1;
const TOKEN = "web-test-token";

/** Debian's Chromium binary (its /usr/bin/chromium is a shell wrapper), if installed. */
function chromiumPath(): string | undefined {
  for (
    const path of [
      Deno.env.get("QDB_CHROMIUM"),
      "/usr/lib/chromium/chromium",
      "/usr/bin/chromium",
      "/usr/bin/chromium-browser",
    ]
  ) {
    if (!path) continue;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not there.
    }
  }
  return undefined;
}

const pythons = await findPythons();
const chromiumBinary = chromiumPath();
if (!chromiumBinary) console.log("skip: no Chromium (apt-get install chromium, or QDB_CHROMIUM)");

/** Chromium, closed by the test's end. */
async function launchBrowser() {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: chromiumBinary!,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  return Object.assign(browser, { [Symbol.asyncDispose]: () => browser.close() });
}

/** A browser test: skipped, saying why, without a Python or a Chromium. */
function webTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: pythons.length === 0 || chromiumBinary === undefined,
    // playwright's own timers and browser process outlive a failing test otherwise.
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });
}

/** A server with the token, and a tracer running `program` (default the fixture) in `session`. */
async function traced(session: string, options: Partial<TracerOptions> = {}) {
  const server = await serve({ clientPort: 0, tracerPort: 0, token: TOKEN });
  const tracer = await startTracer({
    engine: pythonEngine,
    interpreter: pythons.at(-1)!.path,
    program: PROGRAM,
    server: server.tracerUrl,
    session,
    token: TOKEN,
    stdin: "null",
    ...options,
  });
  return {
    server,
    tracer,
    http: server.clientUrl.replace(/^ws/, "http"),
    async [Symbol.asyncDispose]() {
      await tracer.close();
      await server.close();
    },
  };
}

webTest("web client: debug a session from Chromium, beside a terminal client", async () => {
  await using session = await traced("web", { groups: ["backtest"] });
  const { server, tracer } = session;
  const browser = await launchBrowser();
  const page = await browser.newPage();
  try {
    page.setDefaultTimeout(30_000);
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    const http = session.http;

    // The session list asks for the token, then lists the session.
    await page.goto(`${http}/`);
    await page.getByRole("textbox", { name: "Token" }).fill(TOKEN);
    await page.getByRole("button", { name: "Connect" }).click();
    // The groups of the sessions, with their sizes.
    await page.locator(".groups", { hasText: "Groups: backtest (1 member)" }).waitFor();
    await page.getByRole("link", { name: "web" }).click();

    // The program stopped at its first line: the source shows it.
    await page.locator('.line.current[data-line="1"]').waitFor();
    assertMatch(await page.locator("header .status").innerText(), /stopped/);

    // A click in the gutter sets a breakpoint; Continue runs to it.
    await page.getByRole("button", { name: `Breakpoint at line ${line("total")}` }).click();
    await page.locator(`.line.bp[data-line="${line("total")}"]`).waitFor();
    await page.getByRole("button", { name: "Continue (F5)" }).click();
    await page.locator(`.line.current[data-line="${line("total")}"]`).waitFor();
    assertMatch(await page.locator("header .status").innerText(), /stopped \(breakpoint\)/);

    // The output so far, in the output panel.
    await page.locator(".output", { hasText: "starting web.py" }).waitFor();

    // The variables tree: a list of 250, paged by 100.
    await page.getByRole("button", { name: "values (list)" }).click();
    await page.getByRole("button", { name: "Show more (100 of 250)" }).click();
    await page.getByRole("button", { name: "Show more (200 of 250)" }).waitFor();
    assertEquals(await page.locator(".tree .leaf", { hasText: /^\[\d+\] = \d+$/ }).count(), 200);

    // The console evaluates in the selected frame.
    const input = page.getByLabel("Evaluate in the selected frame");
    await input.fill("len(values) * 2");
    await input.press("Enter");
    await page.locator(".console .result", { hasText: /^500$/ }).waitFor();
    // History: the last expression comes back with the up arrow.
    await input.press("ArrowUp");
    assertEquals(await input.inputValue(), "len(values) * 2");
    await input.fill("");

    // A watch is evaluated in the frame selected in the page: the caller has no `values`.
    await page.getByLabel("Add a watch").fill("len(values)");
    await page.getByLabel("Add a watch").press("Enter");
    await page.locator(".watches li", { hasText: "len(values) = 250" }).waitFor();
    await page.getByRole("button", { name: /<module>\s+web\.py:12/ }).click();
    await page.locator(".watches li .error", { hasText: /len\(values\) = .*NameError/ }).waitFor();
    await page.getByRole("button", { name: /total\s+web\.py:6/ }).click();
    await page.locator(".watches li", { hasText: "len(values) = 250" }).waitFor();
    await page.locator(".watches li", { hasText: "len(values)" }).getByRole("button", {
      name: "Remove",
    }).click();
    await page.locator(".watches li", { hasText: "len(values)" }).waitFor({ state: "detached" });
    // Step over, with the key.
    await page.locator("body").press("F10");
    await page.locator(`.line.current[data-line="${line("result")}"]`).waitFor();

    // A terminal client's breakpoint appears in the page.
    const terminal = await QdbClient.connect(server.clientUrl, {
      session: "web",
      auth: TOKEN,
      name: "ana",
    });
    terminal.send("set_break", { file: PROGRAM, line: line("printed") });
    await page.locator(`.line.bp[data-line="${line("printed")}"]`).waitFor();
    await page.locator(".clients", { hasText: "ana" }).waitFor();
    await page.locator(".peers", { hasText: "ana: set_break" }).waitFor();
    // First hour 2, item 14: who is attached, in the Others panel too; "1 hit"; the program's
    // name in the tab's title; one line per variable, the whole value on hover.
    await page.locator(".peers .attached", { hasText: /Attached: .*ana/ }).waitFor();
    await page.locator(".breakpoints", { hasText: "(1 hit)" }).waitFor();
    assertMatch(await page.title(), /^web\.py · web · qdb$/);
    const values = page.getByRole("button", { name: "values (list)" });
    assertMatch((await values.getAttribute("title"))!, /^values = \[0, 1, 2, .*\] \(list\)$/);
    const row = await page.evaluate(
      "(() => { const b = document.querySelector('.tree .toggle'); const s = getComputedStyle(b); " +
        "return [s.whiteSpace, s.textOverflow, b.getBoundingClientRect().height, " +
        "parseFloat(s.lineHeight) || 24]; })()",
    ) as [string, string, number, number];
    assertEquals(row.slice(0, 2), ["pre", "ellipsis"]);
    assert(row[2] < row[3] * 2, `the list's row is one line: ${row}`);
    // Hovering a name of the source at the stop shows its value.
    const doubled = page.locator(`.line[data-line="${line("total")}"] .name`, {
      hasText: /^doubled$/,
    });
    await doubled.hover();
    // (An attribute selector: the page's CSP forbids the string evaluation a poll would use.)
    await page.locator(`.line[data-line="${line("total")}"] .name[title="62250"]`).waitFor();
    // The exception breakpoints are toggles; the other clients see the change.
    const told = (async () => {
      for await (const event of terminal.events) {
        if (event.e === "command" && event.p.e === "set_exception_break") return event.p.p;
      }
    })();
    await page.getByLabel("Raised exceptions").check();
    assertEquals(await told, "raised");
    // A value is changed by a double-click on its line.
    page.once("dialog", (dialog) => void dialog.accept("21"));
    await page.locator(".tree .leaf", { hasText: /^doubled = / }).dblclick();
    await page.locator(".tree .leaf", { hasText: /^doubled = 21$/ }).waitFor();
    await page.getByLabel("Raised exceptions").uncheck();
    // Any file the program loaded opens by the end of its path (the standard library's os.py,
    // here), to set a breakpoint in it.
    await page.getByLabel("Open a file").fill("os.py");
    await page.getByLabel("Open a file").press("Enter");
    await page.locator(".source h2", { hasText: /\/os\.py$/ }).waitFor();
    await page.locator(".line code", { hasText: "import abc" }).first().waitFor();

    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}web-stopped.png`, fullPage: true });
    // Dark, as the system asks.
    await page.emulateMedia({ colorScheme: "dark" });
    assertEquals(
      // Code for the page, as text: this file is not checked with the browser's types.
      await page.evaluate("getComputedStyle(document.body).backgroundColor"),
      "rgb(13, 17, 23)",
    );
    await page.screenshot({ path: `${ARTIFACTS}web-stopped-dark.png`, fullPage: true });
    // The sizes the docs show, in both themes.
    const before = page.viewportSize()!;
    for (const [width, height] of [[1280, 800], [1920, 1080]]) {
      await page.setViewportSize({ width: width!, height: height! });
      for (const scheme of ["light", "dark"] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.screenshot({ path: `${ARTIFACTS}web-${width}x${height}-${scheme}.png` });
      }
    }
    await page.setViewportSize(before);
    await page.emulateMedia({ colorScheme: "light" });
    // At 200% zoom (half the CSS pixels) nothing needs sideways scrolling.
    const size = page.viewportSize()!;
    await page.setViewportSize({ width: size.width / 2, height: size.height / 2 });
    assert(
      await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"),
      "the page scrolls sideways at 200% zoom: " + await page.evaluate(
        "[...document.querySelectorAll('*')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')",
      ),
    );
    await page.setViewportSize(size);

    // On to the terminal's breakpoint, then to the end.
    await page.getByRole("button", { name: "Continue (F5)" }).click();
    await page.locator(`.line.current[data-line="${line("printed")}"]`).waitFor();
    await page.getByRole("button", { name: "Continue (F5)" }).click();
    await page.locator("header .status", { hasText: "ended (exit code 0)" }).waitFor();
    // doubled was changed to 21 on the way.
    assert((await page.locator(".output").innerText()).includes("the total is 21"));
    assertEquals(errors, []);
    terminal.close();
  } catch (error) {
    // What the page showed when it failed, for whoever reads the failure.
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}web-failure.png`, fullPage: true }).catch(
      () => {},
    );
    console.log(
      `page text at the failure:\n${await page.locator("body").innerText().catch(() => "")}`,
    );
    throw error;
  } finally {
    await browser.close();
  }
  assertEquals((await tracer.done).code, 0);
});

Deno.test("the web client's bundle is built from its sources (deno task build:web)", async () => {
  const out = await Deno.makeTempFile({ suffix: ".js" });
  try {
    const built = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--platform", "browser", "--minify", "client/web/page/app.ts", "-o", out],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert(built.success, new TextDecoder().decode(built.stderr));
    const committed = await Deno.readTextFile(
      new URL("../client/web/dist/app.js", import.meta.url),
    );
    assert(
      (await Deno.readTextFile(out)) === committed,
      "client/web/dist/app.js is older than its sources: run deno task build:web",
    );
  } finally {
    await Deno.remove(out);
  }
});

webTest(
  "web client: a session page opened without the token asks for it, then attaches",
  async () => {
    await using session = await traced("asks");
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(`${session.http}/s/asks`);
    // Refused without it: the page asks (the client's handshake said why), then attaches.
    await page.getByRole("textbox", { name: "Token" }).fill("not the token");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByRole("textbox", { name: "Token" }).fill(TOKEN);
    await page.getByRole("button", { name: "Connect" }).click();
    await page.locator('.line.current[data-line="1"]').waitFor();
    await page.locator("header .status", { hasText: "stopped" }).waitFor();
    assertEquals(errors, []);
  },
);

webTest(
  "web client: it connects again after a network blip; the breakpoint editor; completion",
  async () => {
    await using session = await traced("blip");
    const { server, tracer } = session;
    // The browser reaches the server through a relay whose connections the test cuts.
    const port = Number(new URL(server.clientUrl.replace(/^ws/, "http")).port);
    const net = relay({ hostname: "127.0.0.1", port });
    await using browser = await launchBrowser();
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    try {
      // The token comes in the link (as qdb run --web prints it), and leaves the address bar.
      await page.goto(`http://127.0.0.1:${net.port}/s/blip#token=${TOKEN}`);
      await page.locator('.line.current[data-line="1"]').waitFor();
      assertEquals(new URL(page.url()).hash, "");

      net.cut();
      await page.locator("header .status", { hasText: "reconnecting" }).waitFor();
      await page.locator("header .status", { hasText: "stopped" }).waitFor();
      await page.locator('.line.current[data-line="1"]').waitFor();

      // A conditional breakpoint, from the editor (right-click on the line number).
      await page.getByRole("button", { name: `Breakpoint at line ${line("result")}` })
        .click({ button: "right" });
      await page.getByLabel("Condition").fill("doubled > 100");
      await page.getByRole("button", { name: "Save" }).click();
      await page.locator(`.line.conditional[data-line="${line("result")}"]`).waitFor();
      await page.locator(".breakpoints", { hasText: "if doubled > 100" }).waitFor();
      await page.getByRole("button", { name: "Continue (F5)" }).click();
      await page.locator(`.line.current[data-line="${line("result")}"]`).waitFor();

      // Tab completes a name of the frame.
      const input = page.getByLabel("Evaluate in the selected frame");
      await input.fill("doub");
      await input.press("Tab");
      // The matches are listed; the input has their common part (set in the same step).
      await page.locator(".completions li", { hasText: "doubled" }).waitFor();
      assertEquals(await input.inputValue(), "doubled");
      await input.press("Enter");
      await page.locator(".console .result", { hasText: /^62250$/ }).waitFor();

      // A watch, for everyone.
      await page.getByLabel("Add a watch").fill("doubled // 2");
      await page.getByLabel("Add a watch").press("Enter");
      await page.locator(".watches", { hasText: "doubled // 2 = 31125" }).waitFor();

      await page.getByRole("button", { name: "Continue (F5)" }).click();
      await page.locator("header .status", { hasText: "ended (exit code 0)" }).waitFor();
    } catch (error) {
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}web-blip-failure.png`, fullPage: true })
        .catch(() => {});
      throw error;
    } finally {
      await net.close();
    }
    assertEquals((await tracer.done).code, 0);
  },
);

webTest("web client: a child process's stop is listed, and its link debugs it", async () => {
  const program = new URL("../testdata/children.py", import.meta.url).pathname;
  const work = Deno.readTextFileSync(program).split("\n").findIndex((l) => l.endsWith("# @work")) +
    1;
  await using session = await traced("kids", {
    program,
    args: ["subprocess"],
    stopOnEntry: false,
    followChildren: true,
    breakpoints: [`${program}:${work}`],
  });
  const { tracer } = session;
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  const http = session.http;
  await page.goto(`${http}/s/kids#token=${TOKEN}`);
  const child = page.locator(".children li", { hasText: `stopped at children.py:${work}` });
  await child.waitFor();
  await child.getByRole("link").click();
  await page.locator(`.line.current[data-line="${work}"]`).waitFor();
  assertMatch(await page.locator("header h1").innerText(), /^kids\/\d+: /);
  await page.getByRole("button", { name: "Continue (F5)" }).click();
  await page.locator("header .status", { hasText: "ended (exit code 3)" }).waitFor();
  assertEquals((await tracer.done).code, 7);
});

webTest(
  "web client: a group's page: its members, a snapshot rule set on all of them from a form, their values as one table",
  async () => {
    const worker = new URL("../testdata/fleet_worker.py", import.meta.url).pathname;
    const milestone = Deno.readTextFileSync(worker).split("\n")
      .findIndex((l) => l.includes("# @milestone")) + 1;
    const dir = await Deno.makeTempDir({ prefix: "qdb-web-group-" });
    const server = await serve({ clientPort: 0, tracerPort: 0, token: TOKEN });
    const tracers = await Promise.all([1, 2].map((n) =>
      startTracer({
        engine: pythonEngine,
        interpreter: pythons.at(-1)!.path,
        program: worker,
        args: [String(n), dir],
        server: server.tracerUrl,
        session: `w-${n}`,
        token: TOKEN,
        groups: ["pool"],
        stopOnEntry: false,
        stdin: "null",
      })
    ));
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(30_000);
      // First hour 2, item 14: a normal load (with the token) has no failed request, no error.
      const failures: string[] = [];
      page.on("response", (r) => r.status() >= 400 && failures.push(`${r.status()} ${r.url()}`));
      page.on("console", (m) => m.type() === "error" && failures.push(m.text()));
      page.on("pageerror", (error) => failures.push(String(error)));
      const http = server.clientUrl.replace(/^ws/, "http");
      // From the session list, the group's link.
      await page.goto(`${http}/#token=${TOKEN}`);
      await page.getByRole("link", { name: "pool" }).click();
      for (const id of ["w-1", "w-2"]) {
        await page.locator("table.members tr", { hasText: id }).waitFor();
      }
      await page.getByLabel("Location (file:line or function)").fill(`${worker}:${milestone}`);
      await page.getByRole("button", { name: "Add to every member" }).click();
      await page.locator(".said", { hasText: "pool#1 set on 2 of 2 members" }).waitFor();
      await page.locator("ul.rules li", { hasText: "pool#1: snapshot at" }).waitFor();
      await Deno.writeTextFile(`${dir}/go`, "");
      await page.locator("table.snapshots td.values", { hasText: "worker=2" }).waitFor();
      await page.getByRole("button", { name: /^Snapshot \d+ of w-1$/ }).click();
      await page.locator("pre.snapshot", { hasText: "worker = 1" }).waitFor();
      await Deno.mkdir(ARTIFACTS, { recursive: true });
      await page.setViewportSize({ width: 1200, height: 700 });
      await page.screenshot({ path: `${ARTIFACTS}web-group.png` });
      assertEquals(failures, []);
      // Cleared from the page, cleared on every member.
      await page.getByRole("button", { name: "Clear pool#1" }).click();
      await page.locator(".said", { hasText: "pool#1 cleared on 2 of 2 members" }).waitFor();
      await Deno.writeTextFile(`${dir}/stop`, "");
      const codes = await Promise.all(tracers.map((t) => t.done));
      assertEquals(codes.map((s) => s.code), [1, 2]);
    } finally {
      await browser.close();
      await Deno.writeTextFile(`${dir}/stop`, "").catch(() => {});
      await Promise.all(tracers.map((t) => t.close()));
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

webTest(
  "web client: a tokenless first load asks for the token with no failed request; a page opened beside a terminal shows the output so far",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "qdb-web-scrollback-" });
    const program = `${dir}/talk.py`;
    await Deno.writeTextFile(
      program,
      'import os, time\nfor i in range(3):\n    print("said", i, flush=True)\n' +
        `while not os.path.exists(${JSON.stringify(`${dir}/stop`)}):\n    time.sleep(0.05)\n`,
    );
    const server = await serve({ clientPort: 0, tracerPort: 0, token: TOKEN });
    const tracer = await startTracer({
      engine: pythonEngine,
      interpreter: pythons.at(-1)!.path,
      program,
      server: server.tracerUrl,
      session: "talk",
      token: TOKEN,
      stdin: "null",
      stopOnEntry: false,
    });
    // A terminal's client was there first: the output was its (the server keeps nothing for
    // a next client when one saw it).
    const first = await QdbClient.connect(server.clientUrl, { session: "talk", auth: TOKEN });
    let seen = "";
    for await (const event of first.events) {
      if (event.e === "print") seen += event.p.output;
      if (seen.includes("said 2")) break;
    }
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(30_000);
      const failures: string[] = [];
      page.on("response", (r) => r.status() >= 400 && failures.push(`${r.status()} ${r.url()}`));
      page.on("console", (m) => m.type() === "error" && failures.push(m.text()));
      const http = server.clientUrl.replace(/^ws/, "http");
      await page.goto(`${http}/`);
      await page.getByRole("textbox", { name: "Token" }).fill(TOKEN);
      await page.getByRole("button", { name: "Connect" }).click();
      await page.getByRole("link", { name: "talk" }).click();
      await page.locator("pre.output", { hasText: "said 0\nsaid 1\nsaid 2" }).waitFor();
      assertEquals(failures, []);
    } finally {
      await browser.close();
      first.close();
      await Deno.writeTextFile(`${dir}/stop`, "");
      await tracer.done;
      await tracer.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const HAVE_NODE = await new Deno.Command("node", { args: ["--version"], stdout: "null" }).output()
  .then((o) => o.success, () => false);

webTest(
  "web client: one server, a Python session and a JavaScript one: the same page debugs both",
  async () => {
    if (!HAVE_NODE) return console.log("skip: no node on the PATH");
    const dir = await Deno.makeTempDir({ prefix: "qdb-web-js-" });
    const script = `${dir}/app.js`;
    await Deno.writeTextFile(
      script,
      "function visit(items, n) {\n  const label = `visit ${n}`;\n  return items.length + n;\n}\n" +
        'let total = 0;\nfor (let n = 0; n < 2; n++) total += visit([1, 2, 3], n);\nconsole.log("total", total);\n',
    );
    await using python = await traced("py");
    const js = await startTracer({
      engine: engineFor({ program: script }),
      program: script,
      server: python.server.tracerUrl,
      session: "js",
      token: TOKEN,
      stdin: "null",
    });
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(30_000);
      await page.goto(`${python.http}/#token=${TOKEN}`);
      // Both on the list, each with its own runtime's program.
      await page.getByRole("link", { name: "py" }).waitFor();
      await page.getByRole("link", { name: "js" }).click();
      await page.locator('.line.current[data-line="5"]').waitFor();
      await page.getByRole("button", { name: "Breakpoint at line 3" }).click();
      await page.locator('.line.bp[data-line="3"]').waitFor();
      await page.getByRole("button", { name: "Continue (F5)" }).click();
      await page.locator('.line.current[data-line="3"]').waitFor();
      const input = page.getByLabel("Evaluate in the selected frame");
      await input.fill("label + '!'");
      await input.press("Enter");
      await page.locator(".console .result", { hasText: '"visit 0!"' }).waitFor();
      await page.getByRole("button", { name: "items (Array)" }).waitFor();
      await page.getByRole("button", { name: "Continue (F5)" }).click();
      // The second stop there (the current line is 3 before it too: the hits tell them apart).
      await page.locator(".breakpoints", { hasText: "(2 hits)" }).waitFor();
      await page.locator('.line.current[data-line="3"]').waitFor();
      await page.getByRole("button", { name: "Continue (F5)" }).click();
      await page.locator(".output", { hasText: "total 7" }).waitFor();
      assertEquals((await js.done).code, 0);
    } finally {
      await browser.close();
      await js.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
