// The demo page in headless Chromium: every sign-in method, through the
// official Better Auth client bundled into the page, against the dev server.
import { test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { REPO, messagesTo, smsCode, startServer } from "./server.mjs";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const ARTIFACTS = path.join(REPO, "target/browser-artifacts");

let server;
let browser;
let context;
let page;
let pageErrors;

before(async () => {
  server = await startServer();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

// A fresh context per test: its own cookie jar, as a new visitor.
beforeEach(async () => {
  context = await browser.newContext({ viewport: { width: 900, height: 800 } });
  page = await context.newPage();
  pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));
});
afterEach(async () => {
  await context?.close();
  assert.deepEqual(pageErrors, [], "the page threw no uncaught errors");
});

/** Click `buttonId` and return the status line once the action settled. */
async function act(buttonId) {
  await page.evaluate(() => {
    const status = document.getElementById("status");
    status.textContent = "";
    delete status.dataset.kind;
  });
  await page.click(`#${buttonId}`);
  await page.waitForSelector('#status[data-kind="ok"], #status[data-kind="error"]');
  return page.textContent("#status");
}

/** Load the page from `srv` and return what it shows of the session. */
async function open(srv = server) {
  await page.goto(`${srv.url}/`);
  return loadedSession();
}

async function reload() {
  await page.reload();
  return loadedSession();
}

async function loadedSession() {
  await page.waitForSelector("body[data-session]");
  return shownSession();
}

async function shownSession() {
  const state = await page.textContent("#session-state");
  const userText = await page.textContent("#session-user");
  return {
    state,
    user: userText ? JSON.parse(userText) : null,
    userVisible: await page.isVisible("#session-user"),
    signOutVisible: await page.isVisible("#sign-out"),
  };
}

function assertSignedOut(shown) {
  assert.deepEqual(shown, { state: "Signed out", user: null, userVisible: false, signOutVisible: false });
}

async function sessionCookie() {
  return (await context.cookies()).find((c) => c.name === "better-auth.session_token");
}

async function signOut() {
  assert.equal(await act("sign-out"), "Signed out.");
  assertSignedOut(await shownSession());
  assert.equal(await sessionCookie(), undefined, "the session cookie is gone");
  assertSignedOut(await reload());
}

/** A code other than `code`, of the same length. */
function wrongCode(code) {
  return String((Number(code) + 1) % 10 ** code.length).padStart(code.length, "0");
}

const usedPhones = new Set();
function uniquePhone() {
  for (;;) {
    const phone = `+1201555${String(randomInt(100, 200)).padStart(4, "0")}`;
    if (!usedPhones.has(phone)) return usedPhones.add(phone) && phone;
  }
}

/** Sign `phone` in (signing it up) with the code `srv` texts to it. */
async function signInBySms(srv, phone) {
  await page.fill("#sms-phone", phone);
  assert.equal(await act("sms-send"), `Code sent to ${phone}.`);
  const sms = messagesTo(srv.outbox, phone, "sms");
  assert.equal(sms.length, 1, "one SMS sent");
  await page.fill("#sms-code", smsCode(sms[0].message));
  assert.equal(await act("sms-verify"), `Signed in as ${phone}.`);
}

test("without a built bundle, / explains how to build it and the API still answers", async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "kernia-no-demo-"));
  const bare = await startServer({ KERNIA_DEMO_DIR: empty });
  try {
    const res = await fetch(`${bare.url}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(await res.text(), /Build it with <code>web\/build\.sh<\/code>/);
    assert.equal((await fetch(`${bare.url}/demo.js`)).status, 404);
    assert.equal((await fetch(`${bare.url}/api/auth/ok`)).status, 200);
  } finally {
    await bare.stop();
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

test("the demo files are served with their content types, and only they", async () => {
  const cases = [
    ["/", 200, "text/html; charset=utf-8", "web/dist/index.html"],
    ["/demo.js", 200, "text/javascript; charset=utf-8", "web/dist/demo.js"],
    ["/demo.css", 200, "text/css; charset=utf-8", "web/dist/demo.css"],
  ];
  for (const [route, status, type, file] of cases) {
    const res = await fetch(`${server.url}${route}`);
    assert.equal(res.status, status, route);
    assert.equal(res.headers.get("content-type"), type, route);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", route);
    assert.equal(await res.text(), fs.readFileSync(path.join(REPO, file), "utf8"), route);
  }
  for (const route of ["/index.html", "/..%2fCargo.toml", "/Cargo.toml", "/dist/demo.js", "/web/dist/demo.js"]) {
    assert.equal((await fetch(`${server.url}${route}`)).status, 404, route);
  }
  const hello = await fetch(`${server.url}/hello`);
  assert.equal(hello.status, 200);
  assert.equal(await hello.text(), "hello");
});

test("email code sign-in shows the user, survives a reload, and signs out", async () => {
  assertSignedOut(await open());
  const email = `browser-${randomBytes(5).toString("hex")}@example.com`;

  await page.fill("#email", email);
  assert.equal(await act("email-send"), `Code sent to ${email}.`);
  const mails = messagesTo(server.outbox, email, "email");
  assert.equal(mails.length, 1, "one email sent");
  assert.equal(mails[0].type, "sign-in");

  await page.fill("#email-code", wrongCode(mails[0].otp));
  assert.equal(await act("email-sign-in"), "Error: Invalid OTP");
  assertSignedOut(await shownSession());

  await page.fill("#email-code", mails[0].otp);
  assert.equal(await act("email-sign-in"), `Signed in as ${email}.`);
  const shown = await shownSession();
  assert.equal(shown.state, `Signed in as ${email}`);
  assert.equal(shown.user.email, email);
  assert.equal(shown.user.emailVerified, true);
  assert.equal(shown.user.phoneNumber ?? null, null);
  assert.equal(shown.userVisible, true);
  assert.equal(shown.signOutVisible, true);
  assert.equal(await page.inputValue("#email-code"), "", "the used code is cleared");
  const cookie = await sessionCookie();
  assert.equal(cookie.httpOnly, true, "the session cookie is out of the page's reach");
  assert.equal(await page.evaluate(() => document.cookie.includes("session_token")), false);

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, "signed-in.png"), fullPage: true });

  assert.deepEqual(await reload(), shown, "still signed in after a reload");
  await signOut();
});

test("SMS code sign-in signs a new number up, survives a reload, and signs out", async () => {
  assertSignedOut(await open());
  const phone = uniquePhone();
  await signInBySms(server, phone);

  const shown = await shownSession();
  assert.equal(shown.state, `Signed in as ${phone}`);
  assert.equal(shown.user.phoneNumber, phone);
  assert.equal(shown.user.phoneNumberVerified, true);
  assert.equal(shown.signOutVisible, true);
  assert.ok(await sessionCookie(), "the session cookie is set");

  assert.deepEqual(await reload(), shown, "still signed in after a reload");
  await signOut();
});

// Its own server without rate limits: the reset code is the second SMS to the
// number within a minute, which the default per-number limit refuses.
test("a password set by SMS reset signs the phone user in; a wrong one does not", async () => {
  const srv = await startServer({ KERNIA_RATE_LIMIT: "off" });
  try {
    await passwordFlow(srv);
  } finally {
    await srv.stop();
  }
});

async function passwordFlow(srv) {
  await open(srv);
  const phone = uniquePhone();
  await signInBySms(srv, phone);
  const { user } = await shownSession();
  await signOut();

  await page.fill("#password-phone", phone);
  assert.equal(await act("reset-send"), `If ${phone} has an account, a reset code is on its way.`);
  const sms = messagesTo(srv.outbox, phone, "sms");
  assert.equal(sms.length, 2, "the reset code is the second SMS to the number");
  const password = `pw-${randomBytes(6).toString("hex")}-Aa1!`;
  await page.fill("#reset-code", smsCode(sms[1].message));
  await page.fill("#new-password", password);
  assert.equal(await act("reset-password"), "Password set. You can now sign in with it.");
  assertSignedOut(await shownSession());

  await page.fill("#password", `${password}-wrong`);
  assert.equal(await act("password-sign-in"), "Error: Invalid phone number or password");
  assertSignedOut(await shownSession());

  await page.fill("#password", password);
  assert.equal(await act("password-sign-in"), `Signed in as ${phone}.`);
  assert.equal(await page.inputValue("#password"), "", "the password field is cleared");
  const shown = await shownSession();
  assert.equal(shown.state, `Signed in as ${phone}`);
  assert.equal(shown.user.id, user.id, "the same user as the SMS sign-up");
  assert.equal(shown.user.phoneNumber, phone);

  assert.deepEqual(await reload(), shown, "still signed in after a reload");
  await signOut();
}
