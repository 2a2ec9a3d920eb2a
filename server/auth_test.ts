import { assertEquals } from "../tests/support/assert.ts";
import { accessOf, type AuthRequest, bothAuth, tokensAuth } from "./auth.ts";

const request = (role: AuthRequest["role"], auth: string): AuthRequest => ({
  role,
  auth,
  session: "s",
  remote: "127.0.0.1:1",
});

Deno.test("tokensAuth: each role its own token; the read-only token grants read-only", async () => {
  const auth = tokensAuth({ tracer: "t", client: "c", readOnly: "r" });
  assertEquals(await auth(request("tracer", "t")), true);
  assertEquals(await auth(request("tracer", "c")), false);
  assertEquals(await auth(request("tracer", "r")), false);
  assertEquals(await auth(request("client", "c")), true);
  assertEquals(await auth(request("client", "r")), { access: "read-only" });
  assertEquals(await auth(request("client", "t")), false);
  assertEquals(await auth(request("client", "")), false);
  assertEquals(await auth(request("list", "r")), { access: "read-only" });
});

Deno.test("tokensAuth: a link without a token of its own is open", async () => {
  const auth = tokensAuth({ tracer: "t" });
  assertEquals(await auth(request("client", "")), true);
  assertEquals(await auth(request("tracer", "")), false);
  // A read-only token alone closes the client door to everyone else.
  const watchOnly = tokensAuth({ readOnly: "r" });
  assertEquals(await watchOnly(request("client", "")), false);
  assertEquals(await watchOnly(request("client", "r")), { access: "read-only" });
});

Deno.test("bothAuth grants the narrower access; accessOf refuses anything unexpected", async () => {
  const full = () => true;
  const readOnly = () => ({ access: "read-only" as const });
  const no = () => false;
  assertEquals(await bothAuth(full, full)(request("client", "")), true);
  assertEquals(await bothAuth(full, readOnly)(request("client", "")), { access: "read-only" });
  assertEquals(await bothAuth(readOnly, no)(request("client", "")), false);
  for (const odd of [1, "yes", null, undefined, {}, { access: "admin" }, [true]]) {
    assertEquals(accessOf(odd), undefined);
  }
  assertEquals(accessOf(true), "full");
  assertEquals(accessOf({ access: "read-only" }), "read-only");
});
