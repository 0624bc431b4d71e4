// The demo page's logic: every request goes through the official Better Auth
// client, same-origin with the dev server (auth under /api/auth).
import { createAuthClient } from "better-auth/client";
import { emailOTPClient, phoneNumberClient } from "better-auth/client/plugins";

const client = createAuthClient({
  baseURL: window.location.origin,
  plugins: [emailOTPClient(), phoneNumberClient()],
});

const byId = (id) => document.getElementById(id);
const valueOf = (id) => byId(id).value.trim();

function say(text, kind) {
  const status = byId("status");
  status.textContent = text;
  status.dataset.kind = kind;
}

/** The data of a client call, or an Error carrying the server's message. */
async function call(request) {
  const { data, error } = await request;
  if (error) throw new Error(error.message || error.statusText || `HTTP ${error.status}`);
  return data;
}

function identify(user) {
  return user.phoneNumber || user.email;
}

function showSession(session) {
  const user = session?.user;
  byId("session-state").textContent = user ? `Signed in as ${identify(user)}` : "Signed out";
  byId("session-user").textContent = user ? JSON.stringify(user, null, 2) : "";
  byId("session-user").hidden = !user;
  byId("sign-out").hidden = !user;
  document.body.dataset.session = user ? "signed-in" : "signed-out";
}

async function refreshSession() {
  showSession(await call(client.getSession()));
}

/** Run `action` on submit with the form's buttons disabled; show its result or error. */
function onSubmit(formId, pending, action) {
  const form = byId(formId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    say(pending, "pending");
    try {
      say(await action(form), "ok");
    } catch (error) {
      say(`Error: ${error.message}`, "error");
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  });
}

function requirePhone(id) {
  const phoneNumber = valueOf(id);
  if (!phoneNumber) {
    byId(id).focus();
    throw new Error("enter your phone number first");
  }
  return phoneNumber;
}

async function signedIn(form, user) {
  form.reset();
  await refreshSession();
  return `Signed in as ${identify(user)}.`;
}

onSubmit("email-send-form", "Sending code…", async () => {
  const email = valueOf("email");
  await call(client.emailOtp.sendVerificationOtp({ email, type: "sign-in" }));
  return `Code sent to ${email}.`;
});

onSubmit("email-sign-in-form", "Signing in…", async (form) => {
  const { user } = await call(client.signIn.emailOtp({ email: valueOf("email"), otp: valueOf("email-code") }));
  return signedIn(form, user);
});

onSubmit("sms-send-form", "Sending code…", async () => {
  const phoneNumber = valueOf("sms-phone");
  await call(client.phoneNumber.sendOtp({ phoneNumber }));
  return `Code sent to ${phoneNumber}.`;
});

onSubmit("sms-verify-form", "Verifying…", async (form) => {
  const { user } = await call(client.phoneNumber.verify({ phoneNumber: valueOf("sms-phone"), code: valueOf("sms-code") }));
  return signedIn(form, user);
});

onSubmit("password-sign-in-form", "Signing in…", async () => {
  const phoneNumber = requirePhone("password-phone");
  const password = byId("password");
  const { user } = await call(client.signIn.phoneNumber({ phoneNumber, password: password.value }));
  password.value = "";
  await refreshSession();
  return `Signed in as ${identify(user)}.`;
});

onSubmit("reset-send-form", "Sending reset code…", async () => {
  const phoneNumber = requirePhone("password-phone");
  await call(client.phoneNumber.requestPasswordReset({ phoneNumber }));
  return `If ${phoneNumber} has an account, a reset code is on its way.`;
});

onSubmit("reset-form", "Setting password…", async (form) => {
  const phoneNumber = requirePhone("password-phone");
  const newPassword = byId("new-password").value;
  await call(client.phoneNumber.resetPassword({ phoneNumber, otp: valueOf("reset-code"), newPassword }));
  form.reset();
  return "Password set. You can now sign in with it.";
});

byId("sign-out").addEventListener("click", async () => {
  say("Signing out…", "pending");
  try {
    await call(client.signOut());
    await refreshSession();
    say("Signed out.", "ok");
  } catch (error) {
    say(`Error: ${error.message}`, "error");
  }
});

refreshSession().catch((error) => {
  byId("session-state").textContent = "Session unavailable";
  say(`Error: ${error.message}`, "error");
});
