/**
 * What the web client's pages share: making elements (text only, never HTML), panels, and the
 * server's token (kept for the tab).
 *
 * @module
 */

/** The key of the token in the tab's storage. */
export const TOKEN_KEY = "qdb-token";
/** The page's body. */
export const body: HTMLElement = document.body;
/** The server's base path. */
export const base: string = body.dataset.base ?? "/";

/** Makes an element with a class and text (never HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = "",
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A button showing `label`; `name` is what assistive technology says, when it differs. */
export function button(
  label: string,
  title: string,
  onClick: () => void,
  name?: string,
): HTMLButtonElement {
  const b = el("button", "", label);
  b.type = "button";
  b.title = title;
  if (name !== undefined) b.setAttribute("aria-label", name);
  b.addEventListener("click", onClick);
  return b;
}

export function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

/** Asks for the server's token (kept for this tab only), then calls `then`. */
export function askToken(why: string, then: () => void): void {
  const form = el("form", "token");
  form.setAttribute("aria-label", "Server token");
  form.append(el("p", "", why));
  const label = el("label", "", "Token ");
  const input = el("input");
  input.type = "password";
  input.autocomplete = "off";
  input.id = "token";
  label.htmlFor = "token";
  label.append(input);
  const ok = el("button", "", "Connect");
  ok.type = "submit";
  form.append(label, ok);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value);
    form.remove();
    then();
  });
  body.prepend(form);
  input.focus();
}

/** A titled panel: its box, and the body to fill. */
export function panel(name: string): { box: HTMLElement; body: HTMLElement } {
  const box = el("section", "panel");
  box.setAttribute("aria-label", name);
  const b = el("div", "panel-body");
  box.append(el("h2", "", name), b);
  return { box, body: b };
}
