// Email-OTP sign-in through the official client, code read from the outbox.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, newUser, lastMessage, uniqueEmail, SESSION_COOKIE } from "./lib.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

test("signIn.emailOtp with a code from sendVerificationOtp signs up a verified user and returns {token, user}", async () => {
  const user = newUser(server.url);
  const email = uniqueEmail("otp");
  const sent = await user.client.emailOtp.sendVerificationOtp({ email, type: "sign-in" });
  assert.equal(sent.error, null);
  assert.deepEqual(sent.data, { success: true });

  const msg = await lastMessage(server.outbox, email, "email");
  assert.deepEqual(Object.keys(msg).sort(), ["channel", "otp", "to", "type"]);
  assert.equal(msg.type, "sign-in");
  assert.match(msg.otp, /^\d{6}$/);

  const { data, error } = await user.client.signIn.emailOtp({ email, otp: msg.otp });
  assert.equal(error, null);
  assert.deepEqual(Object.keys(data).sort(), ["token", "user"]);
  assert.equal(typeof data.token, "string");
  assert.equal(data.user.email, email);
  assert.equal(data.user.emailVerified, true);
  assert.ok(data.user.createdAt instanceof Date);
  assert.ok(user.jar.get(SESSION_COOKIE), "the session cookie is set");

  const session = await user.client.getSession();
  assert.equal(session.data.session.token, data.token);
});
