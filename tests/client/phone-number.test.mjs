// Phone-number verification through the official client, code read from the outbox SMS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, newUser, lastMessage, smsCode, uniquePhone, SESSION_COOKIE } from "./lib.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

test("phoneNumber.verify with the texted code returns {status:true, token, user} with the verified number", async () => {
  const user = newUser(server.url);
  const phoneNumber = uniquePhone();
  const sent = await user.client.phoneNumber.sendOtp({ phoneNumber });
  assert.equal(sent.error, null);
  assert.deepEqual(sent.data, { message: "code sent" });

  const msg = await lastMessage(server.outbox, phoneNumber, "sms");
  assert.deepEqual(Object.keys(msg).sort(), ["channel", "message", "to"]);
  const code = smsCode(msg.message);

  const { data, error } = await user.client.phoneNumber.verify({ phoneNumber, code });
  assert.equal(error, null);
  assert.equal(data.status, true);
  assert.equal(typeof data.token, "string");
  assert.equal(data.user.phoneNumber, phoneNumber);
  assert.equal(data.user.phoneNumberVerified, true);
  assert.ok(user.jar.get(SESSION_COOKIE), "the session cookie is set");

  const session = await user.client.getSession();
  assert.equal(session.data.session.token, data.token);
});
