// Start the dev server for the browser tests and read the codes it delivers.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, "../..");
const SERVER = process.env.KERNIA_SERVER_BIN || path.join(REPO, "target/release/examples/server");
const READY_TIMEOUT_MS = 30_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start the dev server on a free port with an in-memory store and an outbox
 * file, serving the demo page from `web/dist` (or `env.KERNIA_DEMO_DIR`).
 * Its base URL, the only trusted origin the page is loaded from, is
 * `http://127.0.0.1:PORT`. Returns {url, outbox, stop}.
 */
export async function startServer(env = {}) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kernia-browser-"));
  const outbox = path.join(dir, "outbox.jsonl");
  const child = spawn(SERVER, [], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(port),
      KERNIA_BASE_URL: url,
      KERNIA_SECRET: randomBytes(24).toString("hex"),
      KERNIA_OUTBOX: outbox,
      KERNIA_DATABASE_URL: "memory",
      KERNIA_DEMO_DIR: path.join(REPO, "web/dist"),
      ...env,
    },
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exit = new Promise((resolve) => child.on("exit", resolve));
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);

  async function stop() {
    process.off("exit", killOnExit);
    child.kill("SIGTERM");
    if ((await Promise.race([exit.then(() => true), sleep(5000, false)])) === false) child.kill("SIGKILL");
    await exit;
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (child.exitCode === null && Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/api/auth/ok`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return { url, outbox, stop };
    } catch {}
    await sleep(100);
  }
  await stop();
  throw new Error(`dev server ${SERVER} did not become ready; its output:\n${output}`);
}

/** The outbox records (one JSON object per line) sent to `to` on `channel`. */
export function messagesTo(outbox, to, channel) {
  if (!fs.existsSync(outbox)) return [];
  return fs
    .readFileSync(outbox, "utf8")
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line))
    .filter((record) => record.to === to && record.channel === channel);
}

/** The one 6-digit run inside an SMS text. */
export function smsCode(message) {
  const runs = (message.match(/\d+/g) || []).filter((run) => run.length === 6);
  if (runs.length !== 1) throw new Error(`expected one 6-digit run in ${JSON.stringify(message)}`);
  return runs[0];
}
