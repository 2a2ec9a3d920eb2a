/**
 * What qdb reads of V8's inspector, checked where it comes in: the fields the JavaScript engine
 * uses of CDP's payloads (others ignored). The runtime runs the program qdb debugs, so what it
 * sends is checked as any peer's is, never cast.
 *
 * @module
 */

import {
  any,
  array,
  boolean,
  type Infer,
  integer,
  loose,
  type Schema,
  string,
} from "../../protocol/mod.ts";

/** CDP's `Runtime.ObjectPreview` (a few of an object's properties). */
export const objectPreview = loose({}, {
  overflow: boolean(),
  properties: array(
    loose({ name: string(), type: string() }, { value: string(), subtype: string() }),
  ),
});

const remoteFields = {
  subtype: string(),
  className: string(),
  value: any(),
  unserializableValue: string(),
  description: string(),
  objectId: string(),
  preview: objectPreview,
};

/** CDP's `Runtime.RemoteObject`. */
export const remoteObject = loose({ type: string() }, remoteFields);

/** A value V8 described. */
export type RemoteObject = Infer<typeof remoteObject>;

const location = loose({ scriptId: string(), lineNumber: integer({ min: 0 }) }, {
  columnNumber: integer({ min: 0 }),
});

/** One frame of a pause. */
export const callFrame = loose({
  callFrameId: string(),
  functionName: string(),
  location,
  url: string(),
  scopeChain: array(loose({ type: string(), object: remoteObject }, { name: string() })),
}, { functionLocation: location });

/** One frame of a pause. */
export type CallFrame = Infer<typeof callFrame>;

/** `Debugger.paused`: the frames, why, and at which breakpoints. */
export const pausedEvent = loose({ callFrames: array(callFrame), reason: string() }, {
  // For an exception: the exception, and whether it is uncaught.
  data: loose({}, { ...remoteFields, type: string(), uncaught: boolean() }),
  hitBreakpoints: array(string()),
});

/** What `Runtime.getProperties` answers. */
export const properties = loose({
  result: array(loose({ name: string() }, { value: remoteObject, enumerable: boolean() })),
});

/** What `Debugger.evaluateOnCallFrame` (and `Runtime.evaluate`) answer. */
export const evaluated = loose({ result: remoteObject }, {
  exceptionDetails: loose({}, { text: string(), exception: remoteObject }),
});

/** What `Debugger.setBreakpointByUrl` answers. */
export const breakpointSet = loose({
  breakpointId: string(),
  locations: array(location),
});

/** `Debugger.breakpointResolved`. */
export const breakpointResolved = loose({ breakpointId: string(), location });

/** `Debugger.scriptParsed`. */
export const scriptParsed = loose({ scriptId: string(), url: string() }, {
  sourceMapURL: string(),
});

/** What `Debugger.getScriptSource` answers. */
export const scriptSource = loose({ scriptSource: string() });

/** Checks a payload of the runtime's; undefined (and no throw) when it is not one. */
export function read<T>(schema: Schema<T>, value: unknown, what: string): T | undefined {
  try {
    return schema.check(value, what);
  } catch {
    return undefined;
  }
}
