// Helpers for the tests that need the local PostgreSQL and Redis: a throwaway
// database per test file, psql queries, and redis-cli commands. Every helper
// throws when its service is unreachable, so those tests fail, never skip.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);
const PG = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"];
export const REDIS_URL = "redis://127.0.0.1:6379";

/**
 * Creates database `kernia_<tag>_<random>`. Returns {name, url, drop}; drop()
 * ends any connection still open to it, so it also works after a failure.
 */
export async function createDatabase(tag) {
  const name = `kernia_${tag}_${randomBytes(4).toString("hex")}`;
  await run("createdb", [...PG, name]);
  return {
    name,
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    drop: () => run("dropdb", [...PG, "--if-exists", "--force", name]),
  };
}

/** Runs one SQL statement with psql; the rows as trimmed text lines. */
export async function psql(db, sql) {
  const { stdout } = await run("psql", [...PG, "-d", db.name, "-v", "ON_ERROR_STOP=1", "-tAc", sql]);
  return stdout.split("\n").filter((l) => l !== "");
}

/** One redis-cli command; its raw reply (a nil reply is ""). */
export async function redis(...args) {
  const { stdout } = await run("redis-cli", ["-u", REDIS_URL, ...args]);
  return stdout.trim();
}

/** Fails unless Redis answers PING. */
export async function assertRedisUp() {
  const reply = await redis("PING");
  if (reply !== "PONG") throw new Error(`Redis at ${REDIS_URL} answered ${JSON.stringify(reply)}`);
}
