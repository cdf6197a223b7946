// Stateless instances (issue 18), proven with real components: three patd on one
// throwaway PostgreSQL behind a real nginx (the shipped deploy/nginx/patd-load-balancer.conf,
// round-robin, no stickiness), and a headless Chromium session going through it. Every
// request may land on another instance (nginx's $upstream_addr log says where each went);
// one instance is killed with SIGKILL mid-flow; all three restart; a password changed
// through one instance ends a session another serves.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import {
  ADMIN_EMAIL, ADMIN_PASSWORD, addUser, createToken, freePort, launchBrowser, meWith,
  newContext, patdBinary, shot, signIn, waitHealthy,
} from "./harness.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const postgres = process.env.PAT_TEST_POSTGRES_URL;

/** A fresh database on the throwaway server (`psql` comes with it). */
function freshDatabase() {
  const name = `patd_ui_${process.pid}_${Date.now()}`;
  execFileSync("psql", [postgres, "-v", "ON_ERROR_STOP=1", "-qc", `CREATE DATABASE ${name}`]);
  const url = new URL(postgres);
  url.pathname = `/${name}`;
  return url.toString();
}

/** One patd instance with its own data folder and port; it can be killed and restarted. */
class Instance {
  constructor(port, env) {
    this.port = port;
    this.env = env;
    this.dir = mkdtempSync(join(tmpdir(), "patd-instance-"));
    this.log = "";
  }

  async start() {
    this.child = spawn(patdBinary, ["serve"], {
      cwd: this.dir,
      env: { ...process.env, ...this.env, PATD_LISTEN: `127.0.0.1:${this.port}`, PATD_DATA_DIR: this.dir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout.on("data", (chunk) => { this.log += chunk; });
    this.child.stderr.on("data", (chunk) => { this.log += chunk; });
    await waitHealthy(`http://127.0.0.1:${this.port}`, this.child, () => this.log);
  }

  async stop(signal = "SIGTERM") {
    // A killed process has a signalCode and no exitCode.
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill(signal);
    await exited;
  }
}

/** The shipped load-balancer configuration, its ports and log path replaced. */
function renderLoadBalancer(listen, ports, accessLog) {
  let conf = readFileSync(join(root, "deploy/nginx/patd-load-balancer.conf"), "utf8");
  const substitutions = [
    ["listen 80;", `listen 127.0.0.1:${listen};`],
    ["server 127.0.0.1:8081;", `server 127.0.0.1:${ports[0]};`],
    ["server 127.0.0.1:8082;", `server 127.0.0.1:${ports[1]};`],
    ["server 127.0.0.1:8083;", `server 127.0.0.1:${ports[2]};`],
    ["/var/log/nginx/patd.log", accessLog],
  ];
  for (const [line, replacement] of substitutions) {
    assert.equal(conf.split(line).length, 2, `the shipped file has ${line} exactly once`);
    conf = conf.replace(line, replacement);
  }
  return conf;
}

/** A real nginx in the foreground, in a folder of its own. */
async function startNginx(port, ports) {
  const dir = mkdtempSync(join(tmpdir(), "patd-nginx-"));
  const accessLog = join(dir, "upstream.log");
  writeFileSync(join(dir, "site.conf"), renderLoadBalancer(port, ports, accessLog));
  for (const temp of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, temp));
  writeFileSync(join(dir, "nginx.conf"), `events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`);
  const binary = ["/usr/sbin/nginx", "nginx"].find((b) => {
    try { execFileSync(b, ["-v"], { stdio: "ignore" }); return true; } catch { return false; }
  });
  let log = "";
  const child = spawn(binary, [
    "-p", dir, "-c", join(dir, "nginx.conf"),
    "-g", `daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/error.log info;`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  child.stderr.on("data", (chunk) => { log += chunk; });
  const url = `http://127.0.0.1:${port}`;
  const errorLog = () => {
    try { return readFileSync(join(dir, "error.log"), "utf8"); } catch { return ""; }
  };
  await waitHealthy(url, child, () => `${log}${errorLog()}`);
  return {
    url,
    /** Each proxied request: its request line, status and the instance(s) tried. */
    requests() {
      return readFileSync(accessLog, "utf8").trim().split("\n").map((line) => {
        const match = line.match(/^\S+ (\S+) (\S+) (\d+) (.*)$/);
        return match && { method: match[1], path: match[2], status: Number(match[3]), upstream: match[4] };
      }).filter(Boolean);
    },
    async stop() {
      const exited = new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe("three instances behind nginx", { skip: postgres ? false : "needs PostgreSQL: run ./scripts/test.sh or set PAT_TEST_POSTGRES_URL" }, () => {
  let instances;
  let nginx;
  let browser;

  before(async () => {
    const database = freshDatabase();
    const ports = [await freePort(), await freePort(), await freePort()];
    const env = {
      PATD_DATABASE_URL: database,
      PATD_ADMIN_EMAIL: ADMIN_EMAIL,
      PATD_ADMIN_PASSWORD: ADMIN_PASSWORD,
      PATD_TRUSTED_PROXIES: "127.0.0.1",
      PATD_LOG_FORMAT: "json",
    };
    const nginxPort = await freePort();
    const publicUrl = `http://127.0.0.1:${nginxPort}`;
    instances = ports.map((port) => new Instance(port, { ...env, PATD_PUBLIC_URL: publicUrl }));
    // The first creates the schema, the key and the admin; the others share its key.
    await instances[0].start();
    const key = join(instances[0].dir, "token.key");
    for (const other of instances.slice(1)) {
      other.env.PATD_TOKEN_KEY_FILE = key;
      await other.start();
    }
    instances[0].env.PATD_TOKEN_KEY_FILE = key;
    nginx = await startNginx(nginxPort, ports);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await nginx?.stop();
    for (const instance of instances ?? []) {
      await instance.stop();
      rmSync(instance.dir, { recursive: true, force: true });
    }
  });

  it("serves one browser session from any instance, through a crash and a restart of all", async () => {
    const user = await addUser(nginx.url, "member");
    const context = await newContext(browser, nginx.url);
    const page = await context.newPage();
    await signIn(page, user.email, user.password);

    // Create: the secret is shown once, whichever instance answers.
    const first = await createToken(page, { name: "through nginx", scopes: ["tokens:read"] });
    assert.equal((await meWith(nginx.url, first.secret)).status, 200);
    await page.reload();
    assert.equal(await page.locator("#new-token").count(), 0, "shown once, on any instance");
    await shot(page, "30-instances-token");

    // Change scopes.
    await page.getByLabel("Resource", { exact: true }).fill("jobs");
    await page.getByLabel("Operation", { exact: true }).selectOption("list");
    await page.getByRole("button", { name: "Add scope" }).click();
    await page.locator("#notice").waitFor();
    const scopes = await page.locator("#scope-list code").allTextContents();
    assert.deepEqual(scopes.sort(), ["jobs:list", "tokens:read"]);

    // One instance dies mid-flow: the flow goes on through the other two.
    await instances[1].stop("SIGKILL");
    await page.getByRole("button", { name: "Revoke" }).click();
    await page.locator("#notice").waitFor();
    assert.equal(await page.locator("#token-status").textContent(), "revoked");
    assert.equal((await meWith(nginx.url, first.secret)).status, 401);
    const second = await createToken(page, { name: "rotated", scopes: ["tokens:read"] });
    await page.getByLabel(/New expiry in days/).fill("7");
    await page.getByLabel(/Keep the old secret working/).fill("10");
    await page.getByRole("button", { name: "Regenerate token" }).click();
    await page.locator("#new-token").waitFor();
    const fresh = await page.locator("#new-token").inputValue();
    // Whichever instance answers: the new secret, and the old one in its grace period.
    for (let n = 0; n < 3; n += 1) {
      assert.equal((await meWith(nginx.url, fresh)).body.token.generation, 2);
      assert.equal((await meWith(nginx.url, second.secret)).body.token.generation, 1);
    }
    for (let n = 0; n < 4; n += 1) {
      await page.goto("/tokens");
      assert.equal(await page.locator("#signed-in-as").textContent(), user.email);
    }

    // Restart all three: the browser is still signed in.
    for (const instance of instances) await instance.stop();
    for (const instance of instances) await instance.start();
    for (let n = 0; n < 3; n += 1) {
      await page.goto("/tokens");
      assert.equal(await page.locator("#signed-in-as").textContent(), user.email, "signed in after a restart of all");
    }

    // A second browser of the same user; a password change (through whichever instance)
    // ends it on its next request (through whichever other instance).
    const other = await newContext(browser, nginx.url);
    const otherPage = await other.newPage();
    await signIn(otherPage, user.email, user.password);
    await page.goto("/profile");
    await page.getByLabel("Current password").fill(user.password);
    await page.getByLabel(/New password/).fill("a changed password");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.locator("#notice").waitFor();
    await shot(page, "31-instances-password-changed");
    for (let n = 0; n < 3; n += 1) {
      await page.goto("/tokens");
      assert.equal(await page.locator("#signed-in-as").textContent(), user.email, "this session stays");
    }
    await otherPage.goto("/tokens");
    assert.match(otherPage.url(), /\/login$/, "the other session ended");

    // Where the browser's page requests went: every instance served some, and
    // successive ones landed on different instances.
    const pages = nginx.requests().filter((r) => r.path.startsWith("/tokens") || r.path.startsWith("/profile"));
    const served = pages.map((r) => r.upstream.split(", ").pop());
    assert.equal(new Set(served).size, 3, `all three instances served pages: ${served.join(" ")}`);
    const switches = served.filter((addr, i) => i > 0 && addr !== served[i - 1]).length;
    console.log(`page requests by instance, in order: ${served.join(" ")} (${switches} switches)`);
    assert.ok(switches >= 3, `successive requests switch instances: ${served.join(" ")}`);
    const retried = pages.filter((r) => r.upstream.includes(", "));
    assert.ok(
      retried.every((r) => r.upstream.startsWith(`127.0.0.1:${instances[1].port}`)),
      `only requests first sent to the killed instance were retried: ${JSON.stringify(retried)}`,
    );
    assert.ok(pages.every((r) => r.status < 500), "no request failed");
    await context.close();
    await other.close();
  });
});
