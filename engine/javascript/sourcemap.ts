/**
 * Source maps (version 3), enough to debug TypeScript (and other compiled code) by its own
 * lines: which original line a generated line comes from, and the generated line of an
 * original one. Deno maps its TypeScript inline; tsc writes `.js.map` files beside the code.
 *
 * @module
 */

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The numbers of one segment of `mappings` (base64 VLQ). */
function decodeSegment(segment: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of segment) {
    const digit = BASE64.indexOf(ch);
    if (digit < 0) return out;
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

/** One original place: a source's index and its 1-based line. */
interface Place {
  source: number;
  line: number;
}

/** A decoded source map. */
export class SourceMap {
  /** The original sources, as absolute paths (or the URLs the map gives). */
  readonly sources: string[];
  /** Their texts, where the map carries them. */
  readonly contents: (string | null)[];
  /** For each generated line (1-based index - 1), where its first mapped segment comes from. */
  readonly #toOriginal: (Place | undefined)[] = [];

  /** Decodes `json` (a map's text); `base` is the URL relative sources are resolved against. */
  constructor(json: string, base: string) {
    const map = JSON.parse(json) as {
      sources?: string[];
      sourceRoot?: string;
      sourcesContent?: (string | null)[];
      mappings?: string;
    };
    const root = map.sourceRoot ? new URL(map.sourceRoot.replace(/\/?$/, "/"), base).href : base;
    this.sources = (map.sources ?? []).map((s) => pathOrUrl(new URL(s, root).href));
    this.contents = map.sourcesContent ?? [];
    let source = 0;
    let line = 0;
    (map.mappings ?? "").split(";").forEach((text, generated) => {
      let first: Place | undefined;
      for (const segment of text.split(",")) {
        const fields = decodeSegment(segment);
        if (fields.length < 4) continue;
        source += fields[1]!;
        line += fields[2]!;
        first ??= { source, line: line + 1 };
      }
      this.#toOriginal[generated] = first;
    });
  }

  /** The original place of a generated line, if mapped. */
  original(generatedLine: number): { path: string; line: number } | undefined {
    const place = this.#toOriginal[generatedLine - 1];
    return place ? { path: this.sources[place.source]!, line: place.line } : undefined;
  }

  /**
   * The first generated line of an original line of `path` (or of the next line that has
   * code, within a few lines), if any.
   */
  generated(path: string, line: number): number | undefined {
    const source = this.sources.indexOf(path);
    if (source < 0) return undefined;
    let best: { generated: number; line: number } | undefined;
    this.#toOriginal.forEach((place, i) => {
      if (!place || place.source !== source || place.line < line) return;
      if (!best || place.line < best.line || (place.line === best.line && i + 1 < best.generated)) {
        best = { generated: i + 1, line: place.line };
      }
    });
    return best && best.line - line <= 20 ? best.generated : undefined;
  }
}

/** A `file:` URL as its path; any other URL as it is. */
export function pathOrUrl(url: string): string {
  if (!url.startsWith("file://")) return url;
  try {
    return decodeURIComponent(new URL(url).pathname);
  } catch {
    return url;
  }
}

/** The text of a map at `url` (a `data:` URL, or a file beside the script), if readable. */
export async function readSourceMap(url: string, scriptUrl: string): Promise<string | undefined> {
  try {
    const full = new URL(url, scriptUrl);
    if (full.protocol === "data:") {
      const comma = full.href.indexOf(",");
      const meta = full.href.slice(5, comma);
      const body = full.href.slice(comma + 1);
      return meta.endsWith(";base64")
        ? new TextDecoder().decode(Uint8Array.from(atob(body), (c) => c.charCodeAt(0)))
        : decodeURIComponent(body);
    }
    if (full.protocol === "file:") return await Deno.readTextFile(full);
  } catch {
    // No map to read: the script is debugged by its own lines.
  }
  return undefined;
}
