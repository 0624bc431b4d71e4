// Shared helpers for the client tests: start the server under test, build an
// official Better Auth client that behaves like a same-origin browser page,
// and read OTP codes from the outbox file the server appends to.
import { spawn } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { createAuthClient } from "better-auth/client";
import { emailOTPClient, phoneNumberClient } from "better-auth/client/plugins";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_CMD = `exec '${path.resolve(HERE, "../../target/release/examples/server")}'`;
const READY_TIMEOUT_MS = 60_000;

export const SESSION_COOKIE = "better-auth.session_token";

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start the server from $KERNIA_SERVER_CMD (default: the release example
 * binary) as the leader of its own process group, and wait until
 * GET /api/auth/ok answers 200. Returns {url, outbox, secret, stop}.
 * Options: `port` (default: a free one) and `env`, extra environment that
 * overrides the defaults below (e.g. KERNIA_SECRET, KERNIA_DATABASE_URL).
 */
export async function startServer({ port, env = {} } = {}) {
  port ??= await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kernia-client-"));
  const outbox = path.join(dir, "outbox.jsonl");
  const secret = env.KERNIA_SECRET || randomBytes(24).toString("hex");
  const cmd = process.env.KERNIA_SERVER_CMD || DEFAULT_CMD;
  const child = spawn("bash", ["-c", cmd], {
    cwd: HERE,
    detached: true, // own process group, so stop() reaches grandchildren too
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(port),
      KERNIA_SECRET: secret,
      KERNIA_BASE_URL: url,
      KERNIA_OUTBOX: outbox,
      KERNIA_RATE_LIMIT: "off",
      // Each server its own database (the files run in parallel); an
      // explicit KERNIA_DATABASE_URL from the caller's environment wins, and
      // the `env` option over everything.
      KERNIA_DATABASE_URL: process.env.KERNIA_DATABASE_URL || `sqlite://${path.join(dir, "kernia.db")}`,
      ...env,
      KERNIA_SECRET: secret,
    },
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  let exited = null;
  const exit = new Promise((resolve) => child.on("exit", (code, signal) => resolve((exited = { code, signal }))));
  // Last resort if the test process dies without running `after` hooks.
  const killOnExit = () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  };
  process.on("exit", killOnExit);

  async function stop() {
    process.off("exit", killOnExit);
    // Signal the group even if the leader is gone: it may have left children.
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    if (!(await Promise.race([exit, sleep(5000, false)]))) killOnExit();
    await exit;
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited) break;
    try {
      const res = await fetch(`${url}/api/auth/ok`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return { url, outbox, secret, stop };
    } catch {}
    if (Date.now() > deadline) break;
    await sleep(100);
  }
  await stop();
  const why = exited ? `exited (code ${exited.code}, signal ${exited.signal})` : `not ready within ${READY_TIMEOUT_MS / 1000} s`;
  throw new Error(`server \`${cmd}\` ${why}; its output:\n${output}`);
}

/** Per-user cookie jar (one origin, every cookie Path=/ as Better Auth sets them). */
export class CookieJar {
  cookies = new Map();

  store(setCookies) {
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const maxAge = attrs.map((a) => a.trim().match(/^max-age=(-?\d+)$/i)).find(Boolean);
      if (maxAge && Number(maxAge[1]) <= 0) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name) {
    return this.cookies.get(name);
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

/**
 * A simulated browser user: the official client plus a cookie jar. Its fetch
 * sends the jar's cookies, adds `Origin: <base url>` on non-GET requests (the
 * server rejects cookie-bearing POSTs without it), and stores Set-Cookie.
 * `user.setCookies` holds the raw Set-Cookie lines of the last response.
 */
export function newUser(baseURL) {
  const user = { jar: new CookieJar(), setCookies: [] };
  user.fetch = async (input, init = {}) => {
    const method = (init.method || "GET").toUpperCase();
    const headers = new Headers(init.headers);
    const cookie = user.jar.header();
    if (cookie) headers.set("cookie", cookie);
    if (method !== "GET" && method !== "HEAD") headers.set("origin", new URL(baseURL).origin);
    const res = await fetch(input, { ...init, method, headers, redirect: "manual" });
    user.setCookies = res.headers.getSetCookie();
    user.jar.store(user.setCookies);
    return res;
  };
  user.client = createAuthClient({
    baseURL,
    plugins: [emailOTPClient(), phoneNumberClient()],
    fetchOptions: { customFetchImpl: user.fetch },
  });
  return user;
}

/** All records of the outbox (one JSON object per line). */
export function readOutbox(file) {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

/**
 * The newest outbox record for `to` on `channel`. The contract has the line
 * written before the response, so a short grace period is plenty.
 */
export async function lastMessage(file, to, channel) {
  for (let i = 0; i < 20; i++) {
    const found = readOutbox(file).filter((r) => r.to === to && r.channel === channel);
    if (found.length) return found.at(-1);
    await sleep(50);
  }
  throw new Error(`no ${channel} message for ${to} in ${file}`);
}

/** The 6-digit code inside an SMS text. */
export function smsCode(message) {
  const runs = (message.match(/\d+/g) || []).filter((r) => r.length === 6);
  if (runs.length !== 1) throw new Error(`expected one 6-digit run in ${JSON.stringify(message)}`);
  return runs[0];
}

export function uniqueEmail(tag) {
  return `${tag}-${Date.now().toString(36)}${randomBytes(4).toString("hex")}@example.com`;
}

/** A valid US number in the fictional 555-01XX range, e.g. +12015550137. */
export function uniquePhone() {
  return `+1201555${String(randomInt(100, 200)).padStart(4, "0")}`;
}

export function uniquePassword() {
  return `pw-${randomBytes(6).toString("hex")}-Aa1!`;
}
