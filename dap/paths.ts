/**
 * Paths between the tracer's machine and the editor's, with no configuration in the common case:
 * a remote path that exists here is used as it is; one that does not is looked for in the
 * editor's workspace by its trailing path components and confirmed by content hash; when there
 * is none, the editor gets a source reference and the text comes from the tracer (protocol 2's
 * `source`). `pathMappings` (`localRoot`, `remoteRoot`) may still be given, and win.
 *
 * @module
 */

/** A source as DAP shows it. */
export interface DapSource {
  /** The file's name. */
  name: string;
  /** Its path on the editor's machine (or the remote one, with a reference). */
  path: string;
  /** Above 0: the text comes from the `source` request. */
  sourceReference?: number;
}

/** A `pathMappings` entry, as debugpy and VS Code write it. */
export interface PathMapping {
  /** A directory on the editor's machine. */
  localRoot: string;
  /** The same directory on the tracer's machine. */
  remoteRoot: string;
}

/** Reads a remote file's hash (`sha256:HEX`) from the tracer, or undefined when it cannot. */
export type RemoteHash = (remote: string) => Promise<string | undefined>;

/** Most entries looked at when indexing a workspace. */
const MAX_WORKSPACE_ENTRIES = 50_000;
/** Largest local file hashed to confirm a match. */
const MAX_HASHED_BYTES = 16 * 1024 * 1024;

/** The mapping of one debug session. */
export class PathMapper {
  readonly #workspace: string | undefined;
  readonly #mappings: PathMapping[];
  readonly #remoteHash: RemoteHash;
  readonly #sources = new Map<string, Promise<DapSource>>();
  readonly #known = new Map<string, DapSource>();
  readonly #toRemote = new Map<string, string>();
  readonly #refs: string[] = [];
  #index: Promise<Map<string, string[]>> | undefined;

  /** Maps within `workspace` (the editor's folder), with `mappings` first. */
  constructor(workspace: string | undefined, mappings: PathMapping[], remoteHash: RemoteHash) {
    this.#workspace = workspace;
    this.#mappings = mappings.map((m) => ({
      localRoot: trimSlash(m.localRoot),
      remoteRoot: trimSlash(m.remoteRoot),
    }));
    this.#remoteHash = remoteHash;
  }

  /** How the editor shows a remote file (found once, then remembered). */
  source(remote: string): Promise<DapSource> {
    let found = this.#sources.get(remote);
    if (!found) {
      found = this.#find(remote).then((source) => {
        this.#known.set(remote, source);
        if (!source.sourceReference) this.#toRemote.set(source.path, remote);
        return source;
      });
      this.#sources.set(remote, found);
    }
    return found;
  }

  /** What is known already of a remote file, without looking (for events). */
  known(remote: string): DapSource {
    return this.#known.get(remote) ?? { name: basename(remote), path: remote };
  }

  /** The remote path of a file the editor names (a breakpoint's), as far as it is known. */
  remote(local: string): string {
    const learned = this.#toRemote.get(local);
    if (learned) return learned;
    for (const m of this.#mappings) {
      if (local === m.localRoot || local.startsWith(`${m.localRoot}/`)) {
        return m.remoteRoot + local.slice(m.localRoot.length);
      }
    }
    return local;
  }

  /**
   * The remote path of a file the editor names, looked for on the tracer's machine when it is
   * not known yet (a breakpoint set before the file loads): the file itself, then the same
   * file under another root, by the trailing components of its path in the workspace (two at
   * least, unless it sits at the workspace's top). One match is taken; none or several leave
   * the path as it is.
   */
  async find(local: string, find: (tail: string) => Promise<string[]>): Promise<string> {
    const known = this.remote(local);
    if (known !== local) return known;
    const found = async (tail: string) => {
      try {
        return await find(tail);
      } catch {
        return [];
      }
    };
    if ((await found(local.replace(/^\/+/, ""))).includes(local)) return this.#learn(local, local);
    const root = this.#workspace;
    if (!root || !local.startsWith(`${trimSlash(root)}/`)) return local;
    const parts = local.slice(trimSlash(root).length + 1).split("/");
    for (let i = 0; i < parts.length; i++) {
      if (parts.length - i < 2 && parts.length > 1) break;
      const paths = await found(parts.slice(i).join("/"));
      if (paths.length === 1) return this.#learn(local, paths[0]!);
      if (paths.length > 1) break;
    }
    return local;
  }

  #learn(local: string, remote: string): string {
    this.#toRemote.set(local, remote);
    return remote;
  }

  /** The remote path behind a source reference. */
  reference(ref: number): string | undefined {
    return this.#refs[ref - 1];
  }

  async #find(remote: string): Promise<DapSource> {
    const name = basename(remote);
    for (const m of this.#mappings) {
      if (remote === m.remoteRoot || remote.startsWith(`${m.remoteRoot}/`)) {
        return { name, path: m.localRoot + remote.slice(m.remoteRoot.length) };
      }
    }
    if (await isFile(remote)) return { name, path: remote };
    const candidates = (await this.#candidates(name))
      .map((path) => ({ path, depth: commonTail(path, remote) }))
      .sort((a, b) => b.depth - a.depth);
    if (candidates.length > 0) {
      const want = await this.#remoteHash(remote);
      for (const { path } of want ? candidates : []) {
        if (await sha256Of(path) === want) return { name, path };
      }
    }
    this.#refs.push(remote);
    return { name, path: remote, sourceReference: this.#refs.length };
  }

  /** Files of the workspace with this name. */
  async #candidates(name: string): Promise<string[]> {
    if (!this.#workspace) return [];
    this.#index ??= indexFiles(this.#workspace);
    return (await this.#index).get(name) ?? [];
  }
}

/** The workspace's files by name (hidden directories, node_modules and caches skipped). */
async function indexFiles(root: string): Promise<Map<string, string[]>> {
  const index = new Map<string, string[]>();
  const dirs = [root];
  let seen = 0;
  while (dirs.length > 0 && seen < MAX_WORKSPACE_ENTRIES) {
    const dir = dirs.pop()!;
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (++seen > MAX_WORKSPACE_ENTRIES) break;
        if (entry.name.startsWith(".")) continue;
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory) {
          if (entry.name !== "node_modules" && entry.name !== "__pycache__") dirs.push(path);
        } else if (entry.isFile) {
          const list = index.get(entry.name) ?? [];
          list.push(path);
          index.set(entry.name, list);
        }
      }
    } catch {
      // Unreadable: skipped.
    }
  }
  return index;
}

/** How many trailing path components two paths share. */
function commonTail(a: string, b: string): number {
  const x = a.split("/").reverse();
  const y = b.split("/").reverse();
  let n = 0;
  while (n < x.length && n < y.length && x[n] === y[n]) n++;
  return n;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function sha256Of(path: string): Promise<string | undefined> {
  try {
    const info = await Deno.stat(path);
    if (!info.isFile || info.size > MAX_HASHED_BYTES) return undefined;
    const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
    return `sha256:${
      Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")
    }`;
  } catch {
    return undefined;
  }
}

function basename(path: string): string {
  return path.split("/").at(-1) ?? path;
}

function trimSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}
