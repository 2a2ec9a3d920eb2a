/**
 * Child sessions: a traced program's subprocesses are sessions of their own, in a tree under the
 * session that started them. This part checks that a child belongs where it says (its tree's
 * key, its id under its parent's, the tree's quota), and tells every ancestor's clients what
 * becomes of it (`child`).
 *
 * @module
 */

import { type ChildInfo, ProtocolError, type TracerMessage } from "../protocol/mod.ts";
import { constantTimeEqual } from "./auth.ts";
import type { Session } from "./session.ts";

/** The trees of the sessions in `sessions`. */
export class SessionTree {
  readonly #sessions: ReadonlyMap<string, Session>;
  readonly #maxChildren: number;

  /** The trees of `sessions`, each holding at most `maxChildren` live children. */
  constructor(sessions: ReadonlyMap<string, Session>, maxChildren: number) {
    this.#sessions = sessions;
    this.#maxChildren = maxChildren;
  }

  /**
   * Whether a tracer may start `id` as a child of `parentId`: the parent must be a live session
   * of a tree (or an ancestor of one that is), `key` must be that tree's key (which only its
   * tracers were given), the id must extend the parent's or the tree's (so that whoever may
   * attach to a tree by its ids sees only its own children), a session that exists already may
   * not change tree, and the tree may hold no more. A session of the tree (to take the key and
   * the ancestors from), or why not.
   */
  async check(
    parentId: string,
    id: string,
    key: string | undefined,
    existing: Session | undefined,
  ): Promise<Session | ProtocolError> {
    const refused = (why: string) => new ProtocolError("session", why);
    const member = this.#sessions.get(parentId) ??
      [...this.#sessions.values()].find((s) => s.ancestors.includes(parentId));
    if (!member?.treeKey || parentId === id) {
      return refused(`Session ${JSON.stringify(parentId)} is not a live session a child can join`);
    }
    if (key === undefined || !(await constantTimeEqual(key, member.treeKey))) {
      return refused(
        `A child of ${JSON.stringify(parentId)} must carry its tree's key ("tree", which the ` +
          "tree's tracer got in started)",
      );
    }
    if (existing && (existing.ancestors.length > 0 || existing.treeKey !== undefined)) {
      return refused(`Session ${JSON.stringify(id)} exists already in a tree of its own`);
    }
    const root = member.root;
    if (!id.startsWith(`${parentId}/`) && !id.startsWith(`${root}/`)) {
      return refused(
        `A child session's id must begin with its parent's id and "/" (${
          JSON.stringify(`${parentId}/`)
        }), got ${JSON.stringify(id)}`,
      );
    }
    let live = 0;
    for (const other of this.#sessions.values()) {
      if (other.ancestors.length > 0 && other.root === root) live++;
    }
    if (live < this.#maxChildren) return member;
    return new ProtocolError(
      "limit",
      `Session "${root}" has the most child sessions it takes (${this.#maxChildren})`,
    );
  }

  /** Places `session` under `parentId` in the tree of `member` (from {@linkcode check}). */
  adopt(session: Session, parentId: string, member: Session): void {
    if (session.ancestors.length > 0) return;
    const parent = this.#sessions.get(parentId);
    session.ancestors = [parentId, ...(parent?.ancestors ?? member.ancestorsBelow(parentId))];
    session.treeKey = member.treeKey;
  }

  /** A child's stops and resumes, as its ancestors' clients are told (`child`). */
  watch(session: Session, msg: TracerMessage): void {
    if (msg.e === "stack") {
      const p = msg.p;
      if (p.reason === "select") return;
      const frame = p.stack[p.index] ?? p.stack.at(-1);
      const where = frame
        ? {
          file: frame.file,
          line: frame.line,
          func: frame.func,
          ...(p.reason ? { reason: p.reason } : {}),
          ...(p.thread ? { thread: p.thread.name } : {}),
        }
        : undefined;
      const known = session.childState;
      // The state sent again (a client attached, or the same stop's frames) is no news.
      if (known?.state === "stopped" && (!p.reason || sameWhere(known.where, where))) return;
      this.changed(session, { state: "stopped", ...(where ? { where } : {}) });
    } else if (msg.e === "running" && session.childState?.state === "stopped") {
      this.changed(session, { state: "running" });
    }
  }

  /** Tells the clients of every live ancestor of a child session what became of it. */
  changed(
    session: Session,
    change: Partial<Pick<ChildInfo, "where" | "reason">> & Pick<ChildInfo, "state">,
  ): void {
    const tracer = session.tracer?.info;
    const info: ChildInfo = {
      session: session.id,
      parent: session.ancestors[0]!,
      pid: tracer?.pid ?? session.childState?.pid ?? 0,
      argv: tracer?.argv ?? session.childState?.argv ?? [],
      ...change,
    };
    session.childState = info;
    for (const id of session.ancestors) {
      const ancestor = this.#sessions.get(id);
      if (ancestor && !ancestor.ended) ancestor.sendClients({ e: "child", p: info });
    }
  }

  /** The live descendants of a session, as `attached` lists them. */
  childrenOf(session: Session): ChildInfo[] {
    const out: ChildInfo[] = [];
    for (const other of this.#sessions.values()) {
      if (other.childState && other.ancestors.includes(session.id)) out.push(other.childState);
    }
    return out;
  }

  /** The last client activity in the session's tree (its root, and every descendant). */
  activity(session: Session): number {
    let last = session.lastActivity;
    const root = session.root;
    for (const other of this.#sessions.values()) {
      if (other.root === root) last = Math.max(last, other.lastActivity);
    }
    return last;
  }
}

function sameWhere(a: ChildInfo["where"], b: ChildInfo["where"]): boolean {
  return a?.file === b?.file && a?.line === b?.line && a?.reason === b?.reason &&
    a?.thread === b?.thread;
}
