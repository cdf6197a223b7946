// Shared helpers for the web UI tests: a real patd on a temporary SQLite file, a real
// headless Chromium (Debian's, driven by playwright-core), and small page checks.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const targetDir = process.env.CARGO_TARGET_DIR
  ? resolve(process.env.CARGO_TARGET_DIR)
  : join(root, "target");

/** The patd binary under test (`cargo build -p patd` makes it). */
export const patdBinary = process.env.PATD_BIN ?? join(targetDir, "debug", "patd");
/** Where every page screenshot goes, for a reviewer to look at. */
export const screenshotDir = process.env.UI_SCREENSHOTS ?? join(targetDir, "ui-screenshots");

export const ADMIN_EMAIL = "admin@example.com";
export const ADMIN_PASSWORD = "admin-password-1";

/** A loopback port nothing listens on right now. */
export function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** Resolves once `${url}/healthz` answers 200; fails if `child` exits first or 30 s pass. */
export async function waitHealthy(url, child, log) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${url}: exited with ${child.exitCode} before serving:\n${log()}`);
    }
    try {
      const reply = await fetch(`${url}/healthz`);
      if (reply.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url}: no answer from /healthz in 30 s:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts patd on a fresh SQLite database; resolves once /healthz answers. */
export async function startPatd(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), "patd-ui-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(patdBinary, ["serve"], {
    cwd: dir,
    env: {
      ...process.env,
      PATD_LISTEN: `127.0.0.1:${port}`,
      PATD_DATABASE_URL: `sqlite://${join(dir, "patd.db")}`,
      PATD_ADMIN_EMAIL: ADMIN_EMAIL,
      PATD_ADMIN_PASSWORD: ADMIN_PASSWORD,
      PATD_LOG_FORMAT: "json",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (chunk) => { log += chunk; });
  child.stderr.on("data", (chunk) => { log += chunk; });
  await waitHealthy(url, child, () => log);
  return {
    url,
    log: () => log,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Launches Debian's chromium headless (never a Playwright-downloaded browser). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    ],
  });
}

/** A fresh browser context (own cookies) whose pages may read and write the clipboard. */
export async function newContext(browser, baseURL, options = {}) {
  const context = await browser.newContext({ baseURL, ...options });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseURL });
  return context;
}

/** Saves a full-page screenshot as `<name>.png` in {@link screenshotDir}. */
export async function shot(page, name) {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

/** Signs in through the login form and lands on the tokens page. */
export async function signIn(page, email, password) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL("**/tokens");
}

/** A REST API session for setting up data (users) outside the browser. */
export async function apiSession(url, email, password) {
  const reply = await fetch(`${url}/api/v1/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  assert.equal(reply.status, 200, `login of ${email} over the API`);
  const cookie = reply.headers.get("set-cookie").split(";")[0];
  const { csrf_token: csrf } = await reply.json();
  return {
    async post(path, body) {
      return fetch(`${url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", cookie, "x-csrf-token": csrf },
        body: JSON.stringify(body),
      });
    },
  };
}

let userCounter = 0;
/** One admin API session per patd, so adding users spends no sign-ins (30 a minute). */
const adminSessions = new Map();

/** Adds a user with `role` through the admin API; returns its email and password. */
export async function addUser(url, role) {
  userCounter += 1;
  const email = `${role}${userCounter}-${Date.now()}@example.com`;
  const password = "user-password-1";
  if (!adminSessions.has(url)) adminSessions.set(url, await apiSession(url, ADMIN_EMAIL, ADMIN_PASSWORD));
  const admin = adminSessions.get(url);
  const reply = await admin.post("/api/v1/admin/users", { email, name: `${role} ${userCounter}`, role, password });
  assert.equal(reply.status, 201, `creating a ${role}`);
  return { email, password };
}

/** `GET /api/v1/me` with `secret` as a Bearer token: status and body. */
export async function meWith(url, secret) {
  const reply = await fetch(`${url}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
  const body = reply.headers.get("content-type")?.includes("json") ? await reply.json() : null;
  return { status: reply.status, body };
}

/** Fails if a visible form control of the page has no accessible label. */
export async function assertLabelled(page) {
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((el) => el.type !== "hidden" && !el.hidden && el.offsetParent !== null)
      .filter((el) => {
        if (el.tagName === "BUTTON") return el.textContent.trim() === "" && !el.getAttribute("aria-label");
        return el.labels.length === 0 && !el.getAttribute("aria-label");
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
  assert.deepEqual(unlabelled, [], `unlabelled controls on ${page.url()}`);
}

/** Fails if the page scrolls sideways (content wider than the viewport). */
export async function assertNoSidewaysScroll(page) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  assert.ok(scroll <= width, `${page.url()} is ${scroll}px wide in a ${width}px viewport`);
}

/** Fills and submits the create form; the response shows the new token's page with its
 * secret (and, with JavaScript, the address bar then says /tokens/<id>). */
export async function createToken(page, { name, days = "30", scopes = [], full = false, description = "" }) {
  await page.goto("/tokens/new");
  await page.getByLabel("Name", { exact: true }).fill(name);
  if (description) await page.getByLabel(/Description/).fill(description);
  await page.getByLabel("Expires in (days)").fill(days);
  if (full) await page.getByLabel(/Full access: every/).check();
  for (const scope of scopes) {
    await page.locator(`input[name="scope"][value="${scope}"]`).check();
  }
  await page.getByRole("button", { name: "Generate token" }).click();
  await page.locator("#new-token").waitFor();
  const canonical = await page.locator("#secret-box").getAttribute("data-canonical-url");
  return {
    id: canonical.split("/").pop(),
    secret: await page.locator("#new-token").inputValue(),
  };
}
