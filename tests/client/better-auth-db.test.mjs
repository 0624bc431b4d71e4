// One PostgreSQL database shared with a real Better Auth 1.7.25 server:
// Better Auth creates the schema and a user, Kernia signs that user in, and a
// user Kernia signed up signs in on Better Auth (same password hash format).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { phoneNumber } from "better-auth/plugins";
import { startServer, newUser, uniqueEmail, uniquePassword, SESSION_COOKIE } from "./lib.mjs";
import { createDatabase, psql } from "./services.mjs";

const secret = randomBytes(24).toString("hex");
let db, pool, auth, server;
let baUser; // signed up through Better Auth before Kernia ever saw the database
let baRow, schemaBefore;

/** Every column of the public schema: table, name, type, nullability, default. */
const columns = (database) =>
  psql(
    database,
    `select table_name, column_name, data_type, is_nullable, coalesce(column_default, '') from information_schema.columns
     where table_schema = 'public' order by table_name, column_name`,
  );
/** Every index and constraint (keys, uniques, foreign keys). */
const indexes = (database) =>
  psql(
    database,
    `select indexdef from pg_indexes where schemaname = 'public' union all
     select conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) from pg_constraint
     where connamespace = 'public'::regnamespace order by 1`,
  );
const userRow = (database, email) => psql(database, `select row_to_json(u) from "user" u where email = '${email}'`);

before(async () => {
  db = await createDatabase("ba_db");
  pool = new pg.Pool({ connectionString: db.url });
  const options = {
    database: pool,
    secret,
    baseURL: "http://127.0.0.1:3000",
    emailAndPassword: { enabled: true },
    plugins: [phoneNumber({ sendOTP: async () => {} })],
    logger: { disabled: true },
  };
  const { runMigrations } = await getMigrations(options);
  await runMigrations();
  auth = betterAuth(options);

  const email = uniqueEmail("ba-made");
  const password = uniquePassword();
  const signUp = await auth.api.signUpEmail({ body: { email, password, name: "Made By Better Auth" } });
  baUser = { email, password, id: signUp.user.id };
  baRow = await userRow(db, email);
  schemaBefore = { columns: await columns(db), indexes: await indexes(db) };
  console.log(`Better Auth schema:\n  ${schemaBefore.columns.join("\n  ")}\n  ${schemaBefore.indexes.join("\n  ")}`);
  console.log(`Better Auth user row: ${baRow}`);

  server = await startServer({ env: { KERNIA_DATABASE_URL: db.url, KERNIA_SECRET: secret } });
});

after(async () => {
  try {
    await server?.stop();
    await pool?.end();
  } finally {
    await db?.drop();
  }
});

test("Kernia leaves Better Auth's schema and rows as they are", async () => {
  assert.deepEqual(await columns(db), schemaBefore.columns);
  assert.deepEqual(await indexes(db), schemaBefore.indexes);
  assert.deepEqual(await userRow(db, baUser.email), baRow);
});

test("a user Better Auth signed up signs in through Kernia and getSession works", async () => {
  const user = newUser(server.url);
  const { data, error } = await user.client.signIn.email({ email: baUser.email, password: baUser.password });
  assert.equal(error, null);
  assert.equal(data.user.id, baUser.id);
  assert.ok(user.jar.get(SESSION_COOKIE));

  const session = await user.client.getSession();
  assert.equal(session.error, null);
  assert.equal(session.data.session.token, data.token);
  assert.equal(session.data.user.id, baUser.id);
  const row = JSON.parse(baRow[0]);
  assert.equal(session.data.user.createdAt.getTime(), new Date(row.createdAt).getTime());

  // ...and Better Auth accepts the session cookie Kernia issued.
  const seen = await auth.api.getSession({ headers: new Headers({ cookie: user.jar.header() }) });
  assert.equal(seen?.session.token, data.token);
  console.log(
    `phoneNumberVerified of this user (NULL in the row): Better Auth says ${seen.user.phoneNumberVerified}, ` +
      `Kernia says ${session.data.user.phoneNumberVerified}`,
  );
  assert.deepEqual(await userRow(db, baUser.email), baRow, "signing in left the row intact");
});

test("a user Kernia signed up signs in on Better Auth", async () => {
  const email = uniqueEmail("kernia-made");
  const password = uniquePassword();
  const signUp = await newUser(server.url).client.signUp.email({ email, password, name: "Made By Kernia" });
  assert.equal(signUp.error, null);
  console.log(`Kernia user row: ${await userRow(db, email)}`);

  const signIn = await auth.api.signInEmail({ body: { email, password } });
  assert.equal(signIn.user.id, signUp.data.user.id);
  assert.equal(typeof signIn.token, "string");
  await assert.rejects(auth.api.signInEmail({ body: { email, password: password + "x" } }), { status: "UNAUTHORIZED" });
});
