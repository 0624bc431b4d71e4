// Two dev servers on one PostgreSQL database and one Redis act as one: codes,
// sessions, single use, attempt counts and rate limits are shared.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startServer, freePort, newUser, lastMessage, uniqueEmail, uniquePassword, SESSION_COOKIE } from "./lib.mjs";
import { createDatabase, psql, redis, assertRedisUp, REDIS_URL } from "./services.mjs";

const ALLOWED_ATTEMPTS = 3; // the dev server's default
let db, A, B;
const servers = [];

/** Two instances A and B sharing the database, Redis and the secret; each trusts the other's origin. */
async function startPair(rateLimit) {
  const ports = [await freePort(), await freePort()];
  const env = {
    KERNIA_DATABASE_URL: db.url,
    KERNIA_REDIS_URL: REDIS_URL,
    KERNIA_RATE_LIMIT: rateLimit,
    KERNIA_SECRET: randomBytes(24).toString("hex"),
    KERNIA_TRUSTED_ORIGINS: ports.map((p) => `http://127.0.0.1:${p}`).join(","),
  };
  const pair = [];
  for (const port of ports) {
    const server = await startServer({ port, env });
    servers.push(server);
    pair.push(server);
  }
  return pair;
}

before(async () => {
  await assertRedisUp();
  db = await createDatabase("two_instances");
  [A, B] = await startPair("off");
});

after(async () => {
  try {
    await Promise.all(servers.map((s) => s.stop()));
  } finally {
    await db?.drop();
  }
});

/** POST an auth endpoint with raw fetch, as a same-origin page of `server`. */
async function post(server, path, body) {
  const res = await fetch(`${server.url}/api/auth${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.url },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

/** How many responses had each "status code" (e.g. "400 INVALID_OTP"). */
function tally(responses) {
  const counts = {};
  for (const r of responses) {
    const key = r.body?.code ? `${r.status} ${r.body.code}` : String(r.status);
    counts[key] = (counts[key] || 0) + 1;
  }
  return counts;
}

/** Sends a sign-in code for a fresh address through `server`; returns {email, otp}. */
async function sendCode(server, tag) {
  const email = uniqueEmail(tag);
  const sent = await post(server, "/email-otp/send-verification-otp", { email, type: "sign-in" });
  assert.equal(sent.status, 200);
  const { otp } = await lastMessage(server.outbox, email, "email");
  return { email, otp };
}

test("an email code sent through A signs in through B", async () => {
  const email = uniqueEmail("two-otp");
  const onA = newUser(A.url);
  const sent = await onA.client.emailOtp.sendVerificationOtp({ email, type: "sign-in" });
  assert.equal(sent.error, null);
  const { otp } = await lastMessage(A.outbox, email, "email");

  const onB = newUser(B.url);
  const { data, error } = await onB.client.signIn.emailOtp({ email, otp });
  assert.equal(error, null);
  assert.equal(data.user.email, email);
  assert.equal(data.user.emailVerified, true);
  assert.equal((await onB.client.getSession()).data.session.token, data.token);
});

test("a session created on A is seen on B, and once revoked on B it is dead on A", async () => {
  const onA = newUser(A.url);
  const email = uniqueEmail("two-session");
  const signUp = await onA.client.signUp.email({ email, password: uniquePassword(), name: "Two Sessions" });
  assert.equal(signUp.error, null);
  const cookie = onA.jar.get(SESSION_COOKIE);

  const onB = newUser(B.url);
  onB.jar.cookies.set(SESSION_COOKIE, cookie);
  const seen = await onB.client.getSession();
  assert.equal(seen.error, null);
  assert.equal(seen.data.session.token, signUp.data.token);
  assert.equal(seen.data.user.email, email);

  const revoked = await onB.client.revokeSession({ token: signUp.data.token });
  assert.equal(revoked.error, null);
  assert.deepEqual(revoked.data, { status: true });

  const replay = newUser(A.url);
  replay.jar.cookies.set(SESSION_COOKIE, cookie);
  const dead = await replay.client.getSession();
  assert.equal(dead.error, null);
  assert.equal(dead.data, null, "the revoked session is dead on A");
});

test("50 parallel verifies of one code, split across A and B: exactly one 200, 49 x 400 INVALID_OTP", async () => {
  const { email, otp } = await sendCode(A, "two-race");
  const responses = await Promise.all(
    Array.from({ length: 50 }, (_, i) => post(i % 2 ? B : A, "/sign-in/email-otp", { email, otp })),
  );
  const counts = tally(responses);
  console.log(`50 parallel verifies of one code (A/B): ${JSON.stringify(counts)}`);
  assert.deepEqual(counts, { 200: 1, "400 INVALID_OTP": 49 });
  assert.deepEqual(await psql(db, `select count(*) from "user" where email = '${email}'`), ["1"]);
});

test("50 parallel wrong guesses split across A and B compare at most allowed_attempts times", async () => {
  const { email, otp } = await sendCode(B, "two-guess");
  const wrong = String((Number(otp) + 1) % 1e6).padStart(otp.length, "0");
  const responses = await Promise.all(
    Array.from({ length: 50 }, (_, i) => post(i % 2 ? B : A, "/sign-in/email-otp", { email, otp: wrong })),
  );
  const counts = tally(responses);
  const tooMany = counts["403 TOO_MANY_ATTEMPTS"] || 0;
  assert.equal(counts[200], undefined, "no wrong guess succeeds");
  assert.ok(tooMany <= 1, "at most one 403");
  assert.equal((counts["400 INVALID_OTP"] || 0) + tooMany, 50, "only 400 INVALID_OTP and 403 TOO_MANY_ATTEMPTS");

  // With Redis the live code is kept there (JSON, value "<stored>:<attempts>"), not in the SQL table.
  const identifier = `email-otp:sign-in:${email}`;
  const stored = await redis("GET", `kernia:v:${identifier}`);
  const sqlRows = await psql(db, `select value from verification where identifier = '${identifier}'`);
  const attempts = stored ? Number(JSON.parse(stored).value.split(":").at(-1)) : null;
  const right = await post(A, "/sign-in/email-otp", { email, otp });
  const rightKey = right.body?.code ? `${right.status} ${right.body.code}` : right.status;
  console.log(
    `50 parallel wrong guesses (A/B): ${JSON.stringify(counts)}; afterwards: ` +
      `redis attempts=${attempts ?? "(no key: burned)"}, sql rows=${sqlRows.length}, right code -> ${rightKey}`,
  );
  assert.equal(sqlRows.length, 0);
  if (tooMany) {
    assert.equal(stored, "", "the 403 burned the code");
    assert.deepEqual([right.status, right.body.code], [400, "INVALID_OTP"]);
  } else {
    assert.ok(attempts >= 1 && attempts <= ALLOWED_ATTEMPTS, `attempts ${attempts} within 1..${ALLOWED_ATTEMPTS}`);
    if (attempts < ALLOWED_ATTEMPTS) assert.equal(right.status, 200);
    else assert.deepEqual([right.status, right.body.code], [403, "TOO_MANY_ATTEMPTS"]);
  }
});

test("with rate limits on, the 4th sign-in within 10 s alternating between two instances gets 429", async () => {
  const [C, D] = await startPair("on");
  const email = uniqueEmail("two-ratelimit");
  const password = uniquePassword();
  assert.equal((await post(A, "/sign-up/email", { email, password, name: "Rate Limited" })).status, 200);
  // Start from an empty window: the counter is keyed by client IP and path.
  await redis("DEL", "kernia:rl:127.0.0.1|/sign-in/email");

  const started = Date.now();
  const responses = [];
  for (const server of [C, D, C, D]) responses.push(await post(server, "/sign-in/email", { email, password }));
  const statuses = responses.map((r) => r.status);
  console.log(`sign-ins alternating C/D/C/D with rate limits on: ${statuses.join(", ")} in ${Date.now() - started} ms; ` +
    `429 body ${JSON.stringify(responses[3].body)}, X-Retry-After ${responses[3].headers.get("x-retry-after")}`);
  assert.deepEqual(statuses, [200, 200, 200, 429]);
  assert.equal(typeof responses[3].body.message, "string");
  assert.ok(Number(responses[3].headers.get("x-retry-after")) > 0);
});
