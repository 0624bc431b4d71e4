// Core email+password flows and the pass-through routes, through the official client.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { startServer, newUser, uniqueEmail, uniquePassword, SESSION_COOKIE } from "./lib.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** A fresh user signed up through the client (so holding a session cookie). */
async function signedUp(tag) {
  const user = newUser(server.url);
  const email = uniqueEmail(tag);
  const password = uniquePassword();
  const { data, error } = await user.client.signUp.email({ email, password, name: "Ada Lovelace" });
  assert.equal(error, null);
  return { user, email, password, data };
}

function assertUser(u, expect) {
  assert.equal(typeof u.id, "string");
  assert.ok(u.createdAt instanceof Date, "createdAt arrives as a Date");
  assert.ok(u.updatedAt instanceof Date, "updatedAt arrives as a Date");
  for (const [k, v] of Object.entries(expect)) assert.deepEqual(u[k], v, `user.${k}`);
}

function assertError(res, status, code) {
  assert.equal(res.data, null);
  assert.equal(res.error.status, status);
  assert.equal(res.error.code, code);
  assert.equal(typeof res.error.message, "string");
}

async function raw(path, user) {
  const headers = user ? { cookie: user.jar.header() } : {};
  const res = await fetch(server.url + path, { headers });
  return { status: res.status, text: await res.text() };
}

test("sign-up returns {token, user} with the lower-cased email and sets a 7-day HttpOnly Lax session cookie", async () => {
  const user = newUser(server.url);
  const email = uniqueEmail("Sign-Up").replace("@example.com", "@Example.COM");
  const { data, error } = await user.client.signUp.email({ email, password: uniquePassword(), name: "Ada Lovelace" });
  assert.equal(error, null);
  assert.deepEqual(Object.keys(data).sort(), ["token", "user"]);
  assert.equal(typeof data.token, "string");
  assertUser(data.user, { email: email.toLowerCase(), name: "Ada Lovelace", emailVerified: false });

  const line = user.setCookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  assert.ok(line, `sets ${SESSION_COOKIE}`);
  const [pair, ...attrs] = line.split(";").map((s) => s.trim());
  assert.deepEqual(attrs.map((a) => a.toLowerCase()).sort(), ["httponly", "max-age=604800", "path=/", "samesite=lax"]);
  // Value is "<token>.<base64 HMAC-SHA256(secret, token)>", URL-encoded, as Better Auth signs it.
  const signature = createHmac("sha256", server.secret).update(data.token).digest("base64");
  assert.equal(pair, `${SESSION_COOKIE}=${encodeURIComponent(`${data.token}.${signature}`)}`);
});

test("getSession returns {session, user} for the signed-in user and data null without cookies", async () => {
  const { user, email, data: signUp } = await signedUp("session");
  const { data, error } = await user.client.getSession();
  assert.equal(error, null);
  assert.deepEqual(Object.keys(data).sort(), ["session", "user"]);
  assertUser(data.user, { id: signUp.user.id, email });
  assert.equal(data.session.token, signUp.token);
  assert.equal(data.session.userId, signUp.user.id);
  assert.ok(data.session.expiresAt instanceof Date);

  const anon = await newUser(server.url).client.getSession();
  assert.equal(anon.error, null);
  assert.equal(anon.data, null);
});

test("signOut returns {success:true} and the session is dead, even for a replayed cookie", async () => {
  const { user } = await signedUp("signout");
  const oldCookie = user.jar.header();
  const { data, error } = await user.client.signOut();
  assert.equal(error, null);
  assert.deepEqual(data, { success: true });
  assert.equal(user.jar.get(SESSION_COOKIE), undefined, "sign-out clears the cookie");
  assert.equal((await user.client.getSession()).data, null);

  const replay = await fetch(`${server.url}/api/auth/get-session`, { headers: { cookie: oldCookie } });
  assert.equal(replay.status, 200);
  assert.equal(await replay.text(), "null");
});

test("signIn.email returns {redirect:false, token, user} for the right password", async () => {
  const { email, password, data: signUp } = await signedUp("signin");
  const device = newUser(server.url);
  const { data, error } = await device.client.signIn.email({ email, password });
  assert.equal(error, null);
  assert.deepEqual(Object.keys(data).sort(), ["redirect", "token", "user"]);
  assert.equal(data.redirect, false);
  assert.equal(typeof data.token, "string");
  assert.notEqual(data.token, signUp.token, "a new session per sign-in");
  assertUser(data.user, { id: signUp.user.id, email });
  assert.ok(device.jar.get(SESSION_COOKIE));
});

test("signIn.email with a wrong password fails with 401 INVALID_EMAIL_OR_PASSWORD", async () => {
  const { email, password } = await signedUp("wrongpw");
  const device = newUser(server.url);
  assertError(await device.client.signIn.email({ email, password: password + "x" }), 401, "INVALID_EMAIL_OR_PASSWORD");
  assert.equal(device.jar.get(SESSION_COOKIE), undefined);
});

test("a duplicate sign-up fails with 422 USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", async () => {
  const { email } = await signedUp("dup");
  const other = newUser(server.url);
  const res = await other.client.signUp.email({ email, password: uniquePassword(), name: "Other" });
  assertError(res, 422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
  assert.equal(other.jar.get(SESSION_COOKIE), undefined);
});

test("GET /hello passes through and answers 200 hello", async () => {
  assert.deepEqual(await raw("/hello"), { status: 200, text: "hello" });
});

test("GET /api/me answers 401 without a session and 200 {user} with the session cookie", async () => {
  assert.equal((await raw("/api/me")).status, 401);
  const { user, email, data } = await signedUp("me");
  const me = await raw("/api/me", user);
  assert.equal(me.status, 200);
  const body = JSON.parse(me.text);
  assert.deepEqual(Object.keys(body), ["user"]);
  assert.equal(body.user.id, data.user.id);
  assert.equal(body.user.email, email);
});
