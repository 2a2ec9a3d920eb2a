/**
 * JavaScript values as qdb's protocol shows them: a V8 `RemoteObject` becomes a bounded repr,
 * a type name, a reference to its children (valid until the program resumes) and their counts.
 *
 * @module
 */

import type { Value } from "../../protocol/mod.ts";

import type { RemoteObject } from "./cdp_types.ts";

export type { RemoteObject };

/** Longest repr of one value (the protocol's `value`). */
export const MAX_REPR = 10_000;

/** The references handed out at one stop: a number for each V8 object id. */
export class References {
  #next = 1;
  readonly #byId = new Map<number, string>();
  readonly #byObject = new Map<string, number>();

  /** The number of an object id (the same each time at this stop). */
  ref(objectId: string): number {
    const known = this.#byObject.get(objectId);
    if (known !== undefined) return known;
    const n = this.#next++;
    this.#byId.set(n, objectId);
    this.#byObject.set(objectId, n);
    return n;
  }

  /** The object id of a reference, or undefined when it was not handed out at this stop. */
  objectId(ref: number): string | undefined {
    return this.#byId.get(ref);
  }

  /** The program resumed: every reference goes (numbers are never reused). */
  reset(): void {
    this.#byId.clear();
    this.#byObject.clear();
  }
}

function cut(text: string, max = MAX_REPR): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

function previewValue(p: { type: string; value?: string; subtype?: string }): string {
  if (p.type === "string") return JSON.stringify(p.value ?? "");
  if (p.type === "function") return "[Function]";
  return p.value || p.type;
}

/** Most items a repr shows of an array or object (its children are there to page). */
const PREVIEW_ITEMS = 10;

/** A value's repr as JavaScript's REPL would print it, bounded. */
export function repr(obj: RemoteObject): string {
  switch (obj.type) {
    case "undefined":
      return "undefined";
    case "string":
      return cut(JSON.stringify(String(obj.value ?? "")));
    case "number":
    case "bigint":
      return obj.unserializableValue ?? String(obj.value);
    case "boolean":
      return String(obj.value);
    case "symbol":
      return obj.description ?? "Symbol()";
    case "function":
      return cut(
        `[Function: ${
          obj.description?.match(/^(?:async\s+)?function\*?\s*([\w$]*)/)?.[1] || "(anonymous)"
        }]`,
      );
  }
  if (obj.subtype === "null") return "null";
  const props = obj.preview?.properties;
  const more = obj.preview?.overflow || (props?.length ?? 0) > PREVIEW_ITEMS ? ", ..." : "";
  if (props && obj.subtype === "array") {
    return cut(`[${props.slice(0, PREVIEW_ITEMS).map(previewValue).join(", ")}${more}]`);
  }
  if (props && (obj.subtype === undefined || obj.className === "Object")) {
    const body = props.slice(0, PREVIEW_ITEMS).map((p) => `${p.name}: ${previewValue(p)}`)
      .join(", ");
    const name = obj.className && obj.className !== "Object" ? `${obj.className} ` : "";
    return cut(`${name}{${body}${more}}`);
  }
  return cut(obj.description ?? obj.className ?? obj.type);
}

/** A value's type name: `number`, `string`, `Array`, `Map`, a class's name. */
export function typeName(obj: RemoteObject): string {
  if (obj.subtype === "null") return "null";
  if (obj.type === "object" || obj.type === "function") {
    return obj.className ?? (obj.subtype === "array" ? "Array" : obj.type);
  }
  return obj.type;
}

/** A value as the protocol shows it, its children (if any) behind a reference. */
export function toValue(obj: RemoteObject, refs: References): Value {
  const value = repr(obj);
  const type = typeName(obj);
  if (!obj.objectId || obj.subtype === "null" || obj.type === "function") {
    return { value, type, ref: 0, named: 0, indexed: 0 };
  }
  const length = /^\w*\((\d+)\)$/.exec(obj.description ?? "")?.[1];
  const indexed = obj.subtype === "array" || obj.subtype === "typedarray" ? Number(length ?? 0) : 0;
  const named = indexed > 0 ? 0 : Math.max(1, obj.preview?.properties?.length ?? 1);
  return { value, type, ref: refs.ref(obj.objectId), named, indexed };
}
