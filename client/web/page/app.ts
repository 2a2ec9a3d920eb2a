/**
 * The web client's page: `/` lists the sessions, `/s/SESSION` debugs one. It speaks protocol 2
 * over a WebSocket to the server that served it (same origin), through {@linkcode WebState}.
 * Nothing that comes from the program or from other clients is ever rendered as HTML: every
 * text goes through `textContent`.
 *
 * Bundled for the browser by `deno task build:web` into `dist/app.js`, which the server embeds.
 *
 * @module
 */

import type { Breakpoint, SessionList, Variable } from "../../../protocol/mod.ts";
import { type Change, PAGE, WebState } from "../state.ts";
import { pythonTokens } from "../../highlight.ts";
import { askToken, base, body, button, el, panel, token, TOKEN_KEY } from "./dom.ts";
import { groupPage } from "./group.ts";
import { AttachError } from "../../client.ts";
import { ReconnectingSession } from "../../reconnect.ts";

const sessionId = body.dataset.session;
const groupName = body.dataset.group;

// A link with `#token=...` (as `qdb run --web` prints) gives the token once: kept for this tab,
// and gone from the address bar (the fragment never reaches the server).
const fromLink = /^#token=(.*)$/.exec(location.hash);
if (fromLink) {
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(fromLink[1]!));
  history.replaceState(null, "", location.pathname + location.search);
}

// ---------------------------------------------------------------------------- session list

async function listPage(): Promise<void> {
  document.title = "qdb: sessions";
  const main = el("main");
  main.append(el("h1", "", "qdb sessions"));
  const groups = el("p", "groups");
  const table = el("table", "sessions");
  main.append(groups, table);
  body.append(main);
  const load = async () => {
    if (!token() && body.dataset.auth === "token") {
      return askToken("This server needs a token to list its sessions.", load);
    }
    const headers: HeadersInit = token() ? { authorization: `Bearer ${token()}` } : {};
    const response = await fetch(`${base}sessions`, { headers });
    if (response.status === 401) {
      return askToken("This server needs a token to list its sessions.", load);
    }
    const list = await response.json() as SessionList;
    table.replaceChildren();
    // The groups the sessions are members of, and their sizes (`qdb trace --group`).
    const sizes = new Map<string, number>();
    for (const s of list.sessions) {
      for (const g of s.tracer?.groups ?? []) sizes.set(g, (sizes.get(g) ?? 0) + 1);
    }
    groups.replaceChildren();
    if (sizes.size > 0) {
      groups.append(el("span", "", "Groups: "));
      [...sizes].forEach(([g, n], i) => {
        if (i > 0) groups.append(", ");
        const link = el("a", "", g);
        link.href = `${base}g/${encodeURIComponent(g)}`;
        groups.append(link, ` (${n} member${n === 1 ? "" : "s"})`);
      });
    }
    const head = el("tr");
    for (const h of ["Session", "Program", "Where", "Groups", "Clients"]) {
      head.append(el("th", "", h));
    }
    table.append(head);
    for (const s of list.sessions) {
      const row = el("tr");
      const cell = el("td");
      const depth = s.id.split("/").length - 1;
      cell.style.paddingLeft = `${depth * 1.5}em`;
      const link = el("a", "", s.id);
      link.href = `${base}s/${encodeURIComponent(s.id)}`;
      cell.append(link);
      row.append(
        cell,
        el("td", "", s.tracer ? s.tracer.argv.join(" ") : "(no tracer yet)"),
        el("td", "", s.tracer ? `${s.tracer.host}, pid ${s.tracer.pid}` : ""),
        el("td", "", (s.tracer?.groups ?? []).join(", ")),
        el("td", "", String(s.clients)),
      );
      table.append(row);
    }
    if (list.sessions.length === 0) main.append(el("p", "", "No live sessions."));
  };
  await load();
}

// ---------------------------------------------------------------------------- session page

function sessionPage(id: string): void {
  document.title = `qdb: ${id}`;
  /** The session's client: it tracks replies and attaches again after a network blip. */
  let session: ReconnectingSession | undefined;
  let ended = false;
  let retry = 500;
  const state = new WebState(() => session);

  // Layout.
  const header = el("header");
  const title = el("h1", "", id);
  const status = el("span", "status", "connecting");
  status.setAttribute("role", "status");
  const controls = el("nav", "controls");
  controls.setAttribute("aria-label", "Debugging");
  const clients = el("span", "clients");
  header.append(title, status, controls, clients);

  const source = el("section", "source");
  source.setAttribute("aria-label", "Source");
  const sourceTitle = el("h2", "", "Source");
  const sourceLines = el("div", "lines");
  // Any file the program loaded (or near its main file): its path, or the end of it.
  const openForm = el("form", "open-file");
  const openInput = el("input");
  openInput.setAttribute("aria-label", "Open a file");
  openInput.placeholder = "Open a file: its path or the end of it (pkg/mod.py)";
  const openFound = el("ul", "found");
  openForm.append(openInput, openFound);
  openForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const wanted = openInput.value.trim();
    if (wanted === "") return;
    const paths = wanted.startsWith("/") ? [wanted] : await state.findSource(wanted);
    openFound.replaceChildren();
    if (paths.length === 1) return void openFile(paths[0]!);
    if (paths.length === 0) {
      return void openFound.append(el("li", "error", `No file of the program ends with ${wanted}`));
    }
    openFound.append(...paths.map((path) => {
      const item = el("li");
      item.append(button(path, `Open ${path}`, () => {
        openFound.replaceChildren();
        void openFile(path);
      }));
      return item;
    }));
  });
  source.append(sourceTitle, openForm, sourceLines);
  // Hover over a name in the source at a stop: its value, in the name's title.
  sourceLines.addEventListener("mouseover", async (event) => {
    const target = event.target as HTMLElement;
    if (!target.classList?.contains("name") || target.dataset.asked === "1") return;
    if (state.model.running || state.frame?.file !== shownFile) return;
    target.dataset.asked = "1";
    target.title = await state.hover(target.textContent ?? "");
  });

  const side = el("aside");
  const stackBox = panel("Call stack");
  const threadSelect = el("select");
  threadSelect.setAttribute("aria-label", "Thread");
  const frameList = el("ol", "frames");
  stackBox.body.append(threadSelect, frameList);
  const varsBox = panel("Variables");
  const varTree = el("ul", "tree");
  varTree.setAttribute("role", "tree");
  varsBox.body.append(varTree);
  const watchBox = panel("Watches");
  const watchList = el("ul", "watches");
  const watchForm = el("form");
  const watchInput = el("input");
  watchInput.setAttribute("aria-label", "Add a watch");
  watchInput.placeholder = "Add a watch";
  watchForm.append(watchInput);
  watchBox.body.append(watchList, watchForm);
  const bpBox = panel("Breakpoints");
  const bpList = el("ul", "breakpoints");
  // Exception breakpoints, as DevTools' and VS Code's toggles.
  const exceptions = el("div", "exceptions");
  const raised = checkbox("Raised exceptions");
  const uncaught = checkbox("Uncaught exceptions");
  uncaught.input.checked = true;
  const sendExceptions = () =>
    state.command(
      "set_exception_break",
      raised.input.checked ? "raised" : uncaught.input.checked ? "uncaught" : "never",
    );
  raised.input.addEventListener("change", sendExceptions);
  uncaught.input.addEventListener("change", sendExceptions);
  exceptions.append(raised.label, uncaught.label);
  bpBox.body.append(bpList, exceptions);
  const peerBox = panel("Others");
  const peerList = el("ul", "peers");
  peerBox.body.append(peerList);
  const childBox = panel("Child processes");
  const childSessions = el("ul", "children");
  childBox.body.append(childSessions);
  side.append(stackBox.box, varsBox.box, watchBox.box, bpBox.box, peerBox.box, childBox.box);

  const bottom = el("section", "bottom");
  const outputBox = panel("Output");
  const output = el("pre", "output");
  output.setAttribute("role", "log");
  output.tabIndex = 0;
  outputBox.body.append(output);
  const consoleBox = panel("Console");
  const consoleLog = el("div", "console");
  consoleLog.setAttribute("role", "log");
  const consoleForm = el("form");
  const consoleInput = el("input");
  consoleInput.setAttribute("aria-label", "Evaluate in the selected frame");
  consoleInput.placeholder = "Evaluate in the selected frame (Tab completes, ↑ ↓ history)";
  consoleInput.autocomplete = "off";
  consoleInput.spellcheck = false;
  consoleForm.append(consoleInput);
  const completions = el("ul", "completions");
  consoleBox.body.append(consoleLog, completions, consoleForm);
  bottom.append(outputBox.box, consoleBox.box);

  const main = el("main");
  main.append(source, side);
  body.append(header, main, bottom);

  const dialog = el("dialog", "bp-editor");
  body.append(dialog);

  // Controls.
  const resume = (e: string) => () => state.command(e);
  const actions: [string, string, string, () => void][] = [
    ["Continue", "Continue (F5)", "F5", resume("continue")],
    ["Pause", "Pause (F6)", "F6", resume("pause")],
    ["Step over", "Step over (F10)", "F10", resume("next")],
    ["Step into", "Step into (F11)", "F11", resume("step")],
    ["Step out", "Step out (Shift+F11)", "Shift+F11", resume("return")],
    ["Until", "Run until a line past this one (F9)", "F9", resume("until")],
    ["Up", "Select the calling frame (Alt+↑)", "Alt+ArrowUp", () => moveFrame(1)],
    ["Down", "Select the called frame (Alt+↓)", "Alt+ArrowDown", () => moveFrame(-1)],
  ];
  const keys = new Map<string, () => void>();
  for (const [label, help, key, run] of actions) {
    controls.append(button(label, help, run, help));
    keys.set(key, run);
  }
  document.addEventListener("keydown", (event) => {
    const key = `${event.shiftKey ? "Shift+" : ""}${event.altKey ? "Alt+" : ""}${event.key}`;
    const run = keys.get(key);
    if (!run) return;
    event.preventDefault();
    run();
  });

  function moveFrame(by: number): void {
    const i = state.frames.findIndex((f) => f.id === state.frame?.id);
    const next = state.frames[i + by];
    if (next) void state.selectFrame(next.id);
  }

  threadSelect.addEventListener("change", () => {
    void state.selectThread(Number(threadSelect.value));
  });

  watchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (watchInput.value.trim()) state.command("set_watch", [watchInput.value.trim()]);
    watchInput.value = "";
  });

  let historyAt = -1;
  consoleForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const expr = consoleInput.value;
    consoleInput.value = "";
    historyAt = -1;
    completions.replaceChildren();
    void state.evaluate(expr);
  });
  consoleInput.addEventListener("keydown", async (event) => {
    const history = state.history;
    if (event.key === "ArrowUp" && history.length > 0) {
      event.preventDefault();
      historyAt = historyAt < 0 ? history.length - 1 : Math.max(0, historyAt - 1);
      consoleInput.value = history[historyAt]!;
    } else if (event.key === "ArrowDown" && historyAt >= 0) {
      event.preventDefault();
      historyAt = historyAt + 1 < history.length ? historyAt + 1 : -1;
      consoleInput.value = historyAt < 0 ? "" : history[historyAt]!;
    } else if (event.key === "Tab" && consoleInput.value) {
      event.preventDefault();
      const text = consoleInput.value;
      const matches = await state.complete(text);
      completions.replaceChildren(...matches.slice(0, 50).map((m) => el("li", "", m)));
      const common = commonPrefix(matches);
      if (common.length > 0) consoleInput.value = replaceWord(text, common);
    }
  });

  // Rendering.
  const render: Record<Change, () => void> = {
    session: renderSession,
    stop: () => {
      // A stop, or another frame: its source again.
      viewing = undefined;
      renderSession();
      renderStack();
      renderSource();
      renderVariables();
    },
    source: renderSource,
    variables: renderVariables,
    breakpoints: () => {
      renderBreakpoints();
      renderSource();
    },
    output: renderOutput,
    console: renderConsole,
    peers: renderPeers,
    watches: renderWatches,
  };
  state.onChange = (change) => render[change]();

  function renderSession(): void {
    const model = state.model;
    const tracer = model.tracer;
    title.textContent = tracer ? `${id}: ${tracer.argv.join(" ")}` : id;
    // The program's name first: tabs of several sessions are told apart by it, not by a UUID.
    document.title = tracer ? `${basename(tracer.program)} · ${id} · qdb` : `${id} · qdb`;
    status.textContent = ended
      ? model.exit ? `ended (exit code ${model.exit.code ?? model.exit.signal})` : "ended"
      : !tracer
      ? "waiting for the program"
      : model.running
      ? "running"
      : model.stop
      ? `stopped (${model.stop.reason ?? "stop"})`
      : "connected";
    body.dataset.state = ended ? "ended" : model.running ? "running" : "stopped";
    const names = [...model.clients.values()].map((c) =>
      c.id === model.you ? `${c.name} (you)` : c.readOnly ? `${c.name} (read-only)` : c.name
    );
    clients.textContent = names.length ? `Attached: ${names.join(", ")}` : "";
    renderPeers();
    // The program's child processes, each a session of its own (a link opens it).
    childBox.box.hidden = model.children.size === 0;
    childSessions.replaceChildren(...[...model.children.values()].map((child) => {
      const item = el("li");
      const link = el("a", "", `${child.pid}: ${child.argv.join(" ")}`);
      link.href = `${base}s/${encodeURIComponent(child.session)}`;
      const where = child.where ? ` at ${basename(child.where.file)}:${child.where.line}` : "";
      item.append(link, el("span", "", ` ${child.state}${where}`));
      return item;
    }));
  }

  function renderStack(): void {
    threadSelect.replaceChildren(
      ...state.threads.map((t) => {
        const option = el("option", "", `${t.name} (${t.state})`);
        option.value = String(t.id);
        option.selected = t.id === state.thread;
        return option;
      }),
    );
    frameList.replaceChildren(...state.frames.map((f) => {
      const item = el("li");
      const b = button(`${f.func}  ${basename(f.file)}:${f.line}`, `${f.file}:${f.line}`, () => {
        void state.selectFrame(f.id);
      });
      if (f.id === state.frame?.id) b.setAttribute("aria-current", "true");
      item.append(b);
      return item;
    }));
  }

  let shownFile: string | undefined;
  /** A file opened by hand, shown until the next stop. */
  let viewing: string | undefined;

  async function openFile(path: string): Promise<void> {
    viewing = path;
    await state.loadSource(path);
    renderSource();
  }
  function renderSource(): void {
    const frame = state.frame;
    const file = viewing ?? frame?.file ?? shownFile;
    if (!file) {
      sourceTitle.textContent = "Source";
      sourceLines.replaceChildren(el("p", "", state.model.running ? "Running…" : ""));
      return;
    }
    const text = state.sources.get(file);
    sourceTitle.textContent = file;
    if (!text) {
      sourceLines.replaceChildren(el("p", "", "Loading…"));
      return;
    }
    if ("error" in text) {
      sourceLines.replaceChildren(el("p", "error", text.error));
      return;
    }
    const current = frame?.file === file && !state.model.running ? frame.line : undefined;
    const python = state.model.tracer?.engine === "python";
    const rows = text.lines.map((code, i) => {
      const line = i + 1;
      const row = el("div", "line");
      row.dataset.line = String(line);
      const bps = state.breakpointsAt(file, line);
      const gutter = button(
        String(line),
        "Toggle a breakpoint (right-click: condition, hit count, log message)",
        () => state.toggleBreakpoint(file, line),
        `Breakpoint at line ${line}`,
      );
      gutter.className = "gutter";
      gutter.setAttribute("aria-pressed", String(bps.length > 0));
      gutter.addEventListener("contextmenu", (event) => {
        event.preventDefault();
        editBreakpoint(file, line, bps[0]);
      });
      if (bps.length > 0) {
        row.classList.add(bps[0]!.log ? "logpoint" : bps[0]!.cond ? "conditional" : "bp");
      }
      if (line === current) {
        row.classList.add("current");
        row.setAttribute("aria-current", "true");
      }
      const text = el("code");
      // Python's keywords, strings, comments and numbers, as spans (never HTML).
      if (python) {
        for (const t of pythonTokens(code)) {
          if (t.kind !== "text") {
            text.append(el("span", t.kind, t.text));
            continue;
          }
          // Names (and dotted names) are spans: hovering one at a stop shows its value.
          let at = 0;
          for (const m of t.text.matchAll(/[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*/g)) {
            text.append(
              document.createTextNode(t.text.slice(at, m.index)),
              el("span", "name", m[0]),
            );
            at = m.index! + m[0].length;
          }
          text.append(document.createTextNode(t.text.slice(at)));
        }
      } else text.textContent = code;
      row.append(gutter, text);
      return row;
    });
    sourceLines.replaceChildren(...rows);
    if (shownFile !== file || current !== undefined) {
      sourceLines.querySelector(".current")?.scrollIntoView({ block: "center" });
    }
    shownFile = file;
  }

  function editBreakpoint(file: string, line: number, bp: Breakpoint | undefined): void {
    dialog.replaceChildren();
    const form = el("form");
    form.method = "dialog";
    form.append(el("h2", "", `Breakpoint at ${basename(file)}:${line}`));
    const field = (label: string, value: string | null | undefined) => {
      const l = el("label", "", label);
      const input = el("input");
      input.value = value ?? "";
      l.append(input);
      form.append(l);
      return input;
    };
    const cond = field("Condition", bp?.cond);
    const hits = field("Hit count (>= 5, % 10)", bp?.hit_condition);
    const log = field("Log message (a logpoint: {expression} is evaluated)", bp?.log);
    const save = el("button", "", "Save");
    save.value = "save";
    const cancel = el("button", "", "Cancel");
    cancel.value = "cancel";
    form.append(save, cancel);
    dialog.append(form);
    dialog.onclose = () => {
      if (dialog.returnValue !== "save") return;
      state.editBreakpoint(file, line, {
        cond: cond.value.trim() || null,
        hit_condition: hits.value.trim() || null,
        log: log.value.trim() || null,
      });
    };
    dialog.showModal();
    cond.focus();
  }

  function variableRow(v: Variable, depth: number, parent: number): HTMLLIElement {
    const item = el("li");
    item.setAttribute("role", "treeitem");
    item.style.paddingLeft = `${depth}em`;
    const label = `${v.name} = ${v.value}`;
    if (v.ref > 0) {
      const open = state.expanded.has(v.ref);
      item.setAttribute("aria-expanded", String(open));
      const toggle = button(`${open ? "▾" : "▸"} ${label}`, `${v.name} (${v.type})`, () => {
        if (open) state.collapse(v.ref);
        else void state.expand(v.ref, v.named + v.indexed);
      }, `${v.name} (${v.type})`);
      toggle.className = "toggle";
      toggle.title = `${label} (${v.type})`;
      item.append(toggle, el("span", "type", v.type));
      if (open) item.append(childList(v.ref, depth + 1));
    } else {
      const leaf = el("span", "leaf", label);
      // One line each, cut with an ellipsis: the whole value on hover.
      leaf.title = `${label} (${v.type}); double-click to change it`;
      leaf.addEventListener("dblclick", () => {
        const value = prompt(`New value of ${v.name} (a Python expression)`, v.value);
        if (value !== null && value.trim() !== "") void state.setVariable(parent, v.name, value);
      });
      item.append(leaf, el("span", "type", v.type));
    }
    return item;
  }

  function childList(ref: number, depth: number): HTMLUListElement {
    const list = el("ul");
    list.setAttribute("role", "group");
    const known = state.children.get(ref);
    for (const child of known?.items ?? []) list.append(variableRow(child, depth, ref));
    if (known && known.items.length < known.total) {
      const more = el("li");
      more.append(
        button(
          `Show more (${known.items.length} of ${known.total})`,
          `Show ${Math.min(PAGE, known.total - known.items.length)} more`,
          () => void state.more(ref),
        ),
      );
      list.append(more);
    }
    return list;
  }

  function renderVariables(): void {
    varTree.replaceChildren(...state.scopes.map((scope) => {
      const item = el("li");
      item.setAttribute("role", "treeitem");
      const open = scope.kind !== "globals" || state.expanded.has(scope.ref);
      item.setAttribute("aria-expanded", String(open));
      item.append(button(`${open ? "▾" : "▸"} ${scope.name}`, scope.name, () => {
        if (open) state.collapse(scope.ref);
        else void state.expand(scope.ref, scope.named);
      }));
      if (open && !state.children.has(scope.ref)) void state.expand(scope.ref, scope.named);
      if (open) item.append(childList(scope.ref, 1));
      return item;
    }));
  }

  function renderBreakpoints(): void {
    bpList.replaceChildren(...state.breakpoints.map((b) => {
      const item = el("li");
      const what = `${basename(b.file)}:${b.line}${b.cond ? ` if ${b.cond}` : ""}` +
        `${b.hit_condition ? ` hits ${b.hit_condition}` : ""}${b.log ? ` log ${b.log}` : ""}`;
      item.append(
        el("span", "", `${b.id}. ${what} (${b.hits} hit${b.hits === 1 ? "" : "s"})`),
        button("Edit", `Edit breakpoint ${b.id}`, () => editBreakpoint(b.file, b.line, b)),
        button(
          "Remove",
          `Remove breakpoint ${b.id}`,
          () => state.command("clear_break", { id: b.id }),
        ),
      );
      return item;
    }));
  }

  function renderWatches(): void {
    watchList.replaceChildren(...(state.frameWatches ?? state.model.watches).map((w) => {
      const item = el("li");
      item.append(
        el("span", w.exc ? "error" : "", `${w.expr} = ${w.value}`),
        button("Remove", `Remove watch ${w.expr}`, () => state.command("clear_watch", [w.expr])),
      );
      return item;
    }));
  }

  function renderOutput(): void {
    const atEnd = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    output.replaceChildren(...state.output.map((o) => el("span", o.stream, o.text)));
    if (atEnd) output.scrollTop = output.scrollHeight;
  }

  function renderConsole(): void {
    consoleLog.replaceChildren(...state.console.map((c) => el("div", c.kind, c.text)));
    consoleLog.scrollTop = consoleLog.scrollHeight;
  }

  function renderPeers(): void {
    const model = state.model;
    const attached = [...model.clients.values()].map((c) =>
      c.id === model.you ? `${c.name} (you)` : c.readOnly ? `${c.name} (read-only)` : c.name
    );
    peerList.replaceChildren(
      el("li", "attached", `Attached: ${attached.join(", ") || "nobody"}`),
      ...state.peers.slice(-20).map((p) => el("li", "", p)),
    );
  }

  /** Whether this page was attached once (a link after that is a reconnection). */
  let linked = false;
  /** Attaches, then takes the session's events until it ends for this page. */
  async function connect(): Promise<void> {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    try {
      session = await ReconnectingSession.connect(`${scheme}://${location.host}${base}`, {
        session: id,
        auth: token(),
        name: "web",
        // A page just opened shows the program's last output, as a terminal's scrollback
        // would (not again after a blip: it has it).
        history: !linked,
        // A page stays until it is closed: it keeps trying.
        retryFor: Number.POSITIVE_INFINITY,
      });
    } catch (error) {
      if (error instanceof AttachError && error.type === "auth") {
        askToken("The server needs a token.", () => void connect());
      } else if (error instanceof AttachError) {
        ended = true; // The session is gone (or this page may not attach).
        renderSession();
        status.textContent = `ended: ${error.message}`;
      } else {
        status.textContent = `reconnecting in ${Math.round(retry / 100) / 10} s`;
        setTimeout(() => void connect(), retry);
        retry = Math.min(retry * 2, 5000);
      }
      return;
    }
    retry = 500;
    linked = true;
    const link = session;
    state.receive({ e: "attached", p: link.attached });
    for await (const msg of link.events) {
      if (msg.e === "link") {
        if (msg.p.state === "lost") status.textContent = "reconnecting";
        else if (msg.p.state === "back") renderSession();
        continue;
      }
      if (msg.e === "disable") ended = true;
      state.receive(msg);
    }
    session = undefined;
    if (ended) return renderSession();
    // Given up by the link (refused on coming back: a new token?): attach from the start.
    void connect();
  }
  renderSession();
  void connect();
}

/** A labelled checkbox. */
function checkbox(text: string): { label: HTMLLabelElement; input: HTMLInputElement } {
  const label = el("label");
  const input = el("input");
  input.type = "checkbox";
  label.append(input, ` ${text}`);
  return { label, input };
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function commonPrefix(words: string[]): string {
  if (words.length === 0) return "";
  let prefix = words[0]!;
  for (const w of words) while (!w.startsWith(prefix)) prefix = prefix.slice(0, -1);
  return prefix;
}

/** `text` with its last word completed to `word`. */
function replaceWord(text: string, word: string): string {
  const m = /[\w.]*$/.exec(text);
  const start = m ? text.length - m[0].length : text.length;
  const tail = text.slice(start);
  return word.startsWith(tail) || word.includes(".") ? text.slice(0, start) + word : text + word;
}

if (sessionId) sessionPage(sessionId);
else if (groupName) groupPage(groupName);
else void listPage();
