// The "Personal Access Tokens" pages, end to end in headless Chromium against a real
// patd: sign in, create (with field errors), the secret shown once and copied, using
// it against the REST API, revoke, regenerate, scopes, tabs, search, limits, deletes,
// and the same without JavaScript.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, addUser, apiSession, assertLabelled, assertNoSidewaysScroll,
  createToken, launchBrowser, meWith, newContext, shot, signIn, startPatd,
} from "./harness.mjs";

describe("personal access token pages", () => {
  let patd;
  let browser;

  before(async () => {
    patd = await startPatd();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await patd?.stop();
  });

  async function memberPage(options = {}) {
    const user = await addUser(patd.url, "member");
    const context = await newContext(browser, patd.url, options);
    const page = await context.newPage();
    await signIn(page, user.email, user.password);
    return { page, context, user };
  }

  it("signs in, refusing a wrong password with the email kept", async () => {
    const user = await addUser(patd.url, "member");
    const context = await newContext(browser, patd.url);
    const page = await context.newPage();
    await page.goto("/tokens");
    assert.match(page.url(), /\/login$/, "signed-out visitors are sent to the login page");
    await assertLabelled(page);
    await shot(page, "01-login");
    await page.getByLabel("Email").fill(user.email);
    await page.getByLabel("Password").fill("wrong-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await assert.doesNotReject(page.locator("#login-error").waitFor());
    assert.equal(await page.locator("#login-error").textContent(), "Incorrect email or password.");
    assert.equal(await page.getByLabel("Email").inputValue(), user.email);
    await shot(page, "02-login-refused");
    await signIn(page, user.email, user.password);
    assert.equal(await page.locator("#signed-in-as").textContent(), user.email);
    assert.match(await page.locator("#empty-state").textContent(), /no active tokens/);
    await assertLabelled(page);
    await shot(page, "03-tokens-empty");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL("**/login");
    await page.goto("/tokens");
    assert.match(page.url(), /\/login$/, "signing out ends the session");
    await context.close();
  });

  it("creates a token, copies the secret once, and the secret calls the API", async () => {
    const { page, context, user } = await memberPage();
    await page.goto("/tokens/new");
    assert.equal(await page.locator("#max-days").textContent(), "180");
    assert.equal(await page.getByLabel("Expires in (days)").inputValue(), "30");
    await assertLabelled(page);
    await shot(page, "04-create-form");
    const { id, secret } = await createToken(page, {
      name: "ci deploy",
      description: "used by the deploy job",
      scopes: ["tokens:read", "tokens:list"],
    });
    assert.match(secret, /^pat_[0-9A-Za-z]{49}$/);
    assert.ok(!page.url().includes(secret), "the secret is in no URL");
    assert.match(await page.locator("#secret-box").textContent(), /will not be able to see it again/);
    await page.getByRole("button", { name: "Copy" }).click();
    await page.locator("#copy-status", { hasText: "Copied" }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    await shot(page, "05-secret-shown-once");

    const reply = await page.request.get(page.url());
    assert.equal(reply.headers()["cache-control"], "no-store");

    const me = await meWith(patd.url, secret);
    assert.equal(me.status, 200);
    assert.equal(me.body.user.email, user.email);

    await page.reload();
    assert.equal(await page.locator("#new-token").count(), 0, "reload does not show the secret again");
    await page.goto("/tokens");
    await page.goBack();
    assert.equal(await page.locator("#new-token").count(), 0, "back does not show the secret again");
    assert.ok(!(await page.content()).includes(secret));
    await shot(page, "06-token-page");

    await page.goto("/tokens");
    const row = page.locator(`tr[data-token-id="${id}"]`);
    assert.match(await row.textContent(), /ci deploy/);
    assert.match(await row.textContent(), /tokens:list/);
    assert.match(await row.locator(".expires-phrase").textContent(), /^in (29|30) days$/);
    assert.match(await row.textContent(), /active/);
    await shot(page, "07-tokens-list");
    await context.close();
  });

  it("shows create errors next to their fields and keeps what was typed", async () => {
    const { page, context } = await memberPage();
    await page.goto("/tokens/new");
    await page.getByLabel("Name", { exact: true }).fill("too long");
    await page.getByLabel(/Description/).fill("kept description");
    await page.getByLabel("Expires in (days)").fill("181");
    await page.locator('input[name="scope"][value="tokens:read"]').check();
    await page.getByRole("button", { name: "Generate token" }).click();
    await page.locator("#expires-error").waitFor();
    assert.match(await page.locator("#expires-error").textContent(), /180/);
    assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "too long");
    assert.equal(await page.getByLabel(/Description/).inputValue(), "kept description");
    assert.equal(await page.getByLabel("Expires in (days)").inputValue(), "181");
    assert.ok(await page.locator('input[name="scope"][value="tokens:read"]').isChecked());
    assert.equal(await page.getByLabel("Expires in (days)").getAttribute("aria-invalid"), "true");
    await shot(page, "08-create-errors");

    await page.getByLabel("Expires in (days)").fill("30");
    await page.getByLabel("Name", { exact: true }).fill("");
    await page.getByRole("button", { name: "Generate token" }).click();
    await page.locator("#name-error").waitFor();

    await page.getByLabel("Name", { exact: true }).fill("no scopes");
    await page.locator('input[name="scope"][value="tokens:read"]').uncheck();
    await page.getByRole("button", { name: "Generate token" }).click();
    await page.locator("#scopes-error").waitFor();
    assert.match(await page.locator("#scopes-error").textContent(), /at least one scope/);

    await page.locator('input[name="scope"][value="tokens:read"]').check();
    await page.getByRole("button", { name: "Generate token" }).click();
    await page.waitForURL(/\/tokens\/[0-9a-f-]{36}$/);
    await createToken(page, { name: "dup", scopes: ["tokens:read"] });
    await page.goto("/tokens/new");
    await page.getByLabel("Name", { exact: true }).fill("DUP");
    await page.locator('input[name="scope"][value="tokens:read"]').check();
    await page.getByRole("button", { name: "Generate token" }).click();
    await page.locator("#name-error").waitFor();
    assert.match(await page.locator("#name-error").textContent(), /already have a token named/);
    await context.close();
  });

  it("revokes: the next API call fails, and the token moves to the revoked tab", async () => {
    const { page, context } = await memberPage();
    const { id, secret } = await createToken(page, { name: "to revoke", full: true });
    assert.equal((await meWith(patd.url, secret)).status, 200);
    await page.getByRole("button", { name: "Revoke" }).click();
    await page.locator("#notice").waitFor();
    assert.equal(await page.locator("#token-status").textContent(), "revoked");
    assert.equal((await meWith(patd.url, secret)).status, 401);
    await shot(page, "09-revoked");
    await page.goto("/tokens?status=revoked");
    assert.equal(await page.locator(`tr[data-token-id="${id}"]`).count(), 1);
    await page.goto("/tokens?status=active");
    assert.equal(await page.locator(`tr[data-token-id="${id}"]`).count(), 0);
    await context.close();
  });

  it("brings back a token its owner revoked, but not one an administrator revoked", async () => {
    const { page, context } = await memberPage();
    const { id, secret } = await createToken(page, { name: "revived", scopes: ["tokens:read"] });
    await page.getByRole("button", { name: "Revoke" }).click();
    await page.locator("#notice").waitFor();
    assert.equal(await page.locator("#revoked-by").textContent(), "by you");
    await page.getByLabel(/New expiry in days/).fill("5");
    await page.getByRole("button", { name: "Regenerate token" }).click();
    await page.locator("#new-token").waitFor();
    const fresh = await page.locator("#new-token").inputValue();
    assert.equal(await page.locator("#token-status").textContent(), "active");
    assert.equal((await meWith(patd.url, secret)).status, 401, "the old secret stays dead");
    assert.equal((await meWith(patd.url, fresh)).status, 200);
    await shot(page, "10a-revived");

    const admin = await apiSession(patd.url, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert.equal((await admin.post(`/api/v1/admin/tokens/${id}/revoke`, {})).status, 200);
    await page.goto(`/tokens/${id}`);
    assert.equal(await page.locator("#revoked-by").textContent(), "by an administrator");
    assert.equal(await page.getByRole("button", { name: "Regenerate token" }).count(), 0);
    assert.match(await page.locator("#no-regenerate").textContent(), /cannot be brought back/);
    await shot(page, "10b-revoked-by-admin");
    await context.close();
  });

  it("regenerates with a grace period, and a reused old secret revokes until an admin lifts it", async () => {
    const { page, context } = await memberPage();
    const { id, secret: old } = await createToken(page, { name: "rotating", scopes: ["tokens:read"] });
    await page.reload();
    assert.equal(await page.locator("#previous-secret").count(), 0, "no previous secret yet");
    await page.getByLabel(/New expiry in days/).fill("7");
    await page.getByLabel(/Keep the old secret working/).fill("30");
    await assertLabelled(page);
    await page.getByRole("button", { name: "Regenerate token" }).click();
    await page.locator("#new-token").waitFor();
    const fresh = await page.locator("#new-token").inputValue();
    assert.notEqual(fresh, old);
    assert.match(await page.locator("#expires-phrase").textContent(), /in (6|7) days/);
    assert.match(await page.locator("#previous-secret").textContent(), /valid until .* \(generation 1\)/);
    const during = await meWith(patd.url, old);
    assert.equal(during.status, 200, "the old secret works during its grace period");
    assert.equal(during.body.token.generation, 1);
    assert.equal((await meWith(patd.url, fresh)).body.token.generation, 2);
    await shot(page, "10-regenerated-with-grace");

    await page.reload();
    await page.getByLabel(/New expiry in days/).fill("400");
    await page.getByRole("button", { name: "Regenerate token" }).click();
    await page.locator("#regenerate-error").waitFor();
    await page.getByLabel(/Keep the old secret working/).fill("99999");
    await page.getByLabel(/New expiry in days/).fill("7");
    await page.getByRole("button", { name: "Regenerate token" }).click();
    await page.locator("#regenerate-error", { hasText: "grace_minutes must be a whole number between 0 and 1440" }).waitFor();
    assert.equal((await meWith(patd.url, fresh)).status, 200, "a refused regenerate keeps the secret");

    // Regenerated again without grace: the previous secret is retired at once, and a
    // later use of it is a leak.
    await page.reload();
    await page.getByRole("button", { name: "Regenerate token" }).click();
    await page.locator("#new-token").waitFor();
    const third = await page.locator("#new-token").inputValue();
    assert.equal((await meWith(patd.url, fresh)).status, 401, "the reused secret is refused");
    assert.equal((await meWith(patd.url, third)).status, 401, "and its token revoked");
    await page.goto(`/tokens/${id}`);
    assert.match(await page.locator("#reuse-banner").textContent(), /it has leaked[\s\S]*An administrator must review it/);
    assert.match(await page.locator("#no-regenerate").textContent(), /administrator has reviewed it/);
    assert.equal(await page.getByRole("button", { name: "Regenerate token" }).count(), 0);
    await shot(page, "10b-revoked-for-reuse");
    await page.goto("/tokens?status=revoked");
    assert.equal(await page.locator(`tr[data-token-id="${id}"] .reuse-marker`).textContent(), "old secret reused");

    const adminContext = await newContext(browser, patd.url);
    const admin = await adminContext.newPage();
    await signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD);
    await admin.goto(`/admin/users/${during.body.user.id}/tokens?status=all`);
    assert.equal(await admin.locator(`tr[data-token-id="${id}"] .reuse-marker`).textContent(), "old secret reused");
    await admin.getByRole("button", { name: "Lift the reuse revocation of rotating" }).click();
    await admin.locator("#notice", { hasText: "reuse revocation was lifted" }).waitFor();
    await shot(admin, "10c-reuse-lifted");
    await adminContext.close();

    await page.goto(`/tokens/${id}`);
    assert.equal(await page.locator("#token-status").textContent(), "active");
    await page.getByRole("button", { name: "Regenerate token" }).click();
    await page.locator("#new-token").waitFor();
    const own = await page.locator("#new-token").inputValue();
    assert.equal((await meWith(patd.url, own)).status, 200, "the owner's new secret works");
    await context.close();
  });

  it("adds, removes and removes all scopes", async () => {
    const { page, context } = await memberPage();
    await createToken(page, { name: "scoped", scopes: ["tokens:read"] });
    await page.getByLabel("Resource", { exact: true }).fill("jobs");
    await page.getByLabel("Operation", { exact: true }).selectOption("list");
    await page.getByLabel(/Only these ids/).fill("7, 9");
    await page.getByRole("button", { name: "Add scope" }).click();
    await page.locator("#notice").waitFor();
    const scopes = () => page.locator("#scope-list code").allTextContents();
    assert.deepEqual((await scopes()).sort(), ["jobs:list:7,9", "tokens:read"]);
    await shot(page, "11-scopes");

    await page.getByLabel("Resource", { exact: true }).fill("no spaces allowed");
    await page.getByRole("button", { name: "Add scope" }).click();
    await page.locator("#scope-error").waitFor();

    await page.getByRole("button", { name: "Remove scope jobs:list:7,9" }).click();
    await page.locator("#notice").waitFor();
    assert.deepEqual(await scopes(), ["tokens:read"]);
    await page.getByRole("button", { name: "Remove all scopes" }).click();
    await page.locator("#no-scopes").waitFor();
    await context.close();
  });

  it("searches by name and pages through the tabs", async () => {
    const { page, context } = await memberPage();
    await createToken(page, { name: "alpha build", scopes: ["tokens:read"] });
    await createToken(page, { name: "beta deploy", scopes: ["tokens:read"] });
    await page.goto("/tokens");
    await page.getByLabel("Search by name").fill("BUILD");
    await page.getByRole("button", { name: "Search" }).click();
    const names = await page.locator("tr[data-token-name]").evaluateAll((rows) =>
      rows.map((r) => r.dataset.tokenName));
    assert.deepEqual(names, ["alpha build"]);
    await page.getByRole("link", { name: "All", exact: true }).click();
    assert.match(page.url(), /status=all&q=BUILD/);
    await page.getByLabel("Search by name").fill("nothing-like-this");
    await page.getByRole("button", { name: "Search" }).click();
    assert.match(await page.locator("#empty-state").textContent(), /nothing-like-this/);
    await context.close();
  });

  it("at the active limit the create button is disabled and says why", async () => {
    const { page, context } = await memberPage();
    for (let i = 1; i <= 5; i += 1) {
      await createToken(page, { name: `limit ${i}`, scopes: ["tokens:read"] });
    }
    await page.goto("/tokens");
    assert.ok(await page.locator("#create-token").isDisabled());
    assert.match(await page.locator("#limit-reason").textContent(), /5 active tokens, the most allowed/);
    await shot(page, "12-at-limit");
    await page.goto("/tokens/new");
    assert.match(await page.locator("#error-detail").textContent(), /5 active tokens/);
    await context.close();
  });

  it("deletes one token and then all, each after a confirmation", async () => {
    const { page, context } = await memberPage();
    const { id, secret } = await createToken(page, { name: "short lived", scopes: ["tokens:read"] });
    await createToken(page, { name: "other", scopes: ["tokens:read"] });
    await page.goto(`/tokens/${id}`);
    await page.getByRole("link", { name: "Delete…" }).click();
    assert.match(await page.locator("#confirm-message").textContent(), /short lived/);
    await shot(page, "13-confirm-delete");
    await page.getByRole("button", { name: "Delete this token" }).click();
    await page.locator("#notice").waitFor();
    assert.equal(await page.locator(`tr[data-token-id="${id}"]`).count(), 0);
    assert.equal((await meWith(patd.url, secret)).status, 401);
    await page.getByRole("link", { name: "Delete all tokens…" }).click();
    await page.getByRole("button", { name: "Delete all my tokens" }).click();
    await page.locator("#notice").waitFor();
    assert.match(await page.locator("#empty-state").textContent(), /no tokens yet/);
    await context.close();
  });

  it("works without JavaScript, except that there is no Copy button", async () => {
    const { page, context } = await memberPage({ javaScriptEnabled: false });
    const { secret } = await createToken(page, { name: "no js", scopes: ["tokens:read"] });
    assert.equal((await meWith(patd.url, secret)).status, 200);
    assert.ok(await page.locator("#copy-token").isHidden(), "the Copy button needs JavaScript");
    await page.getByRole("button", { name: "Revoke" }).click();
    await page.locator("#notice").waitFor();
    assert.equal((await meWith(patd.url, secret)).status, 401);
    await context.close();
  });

  it("refuses a form post without the CSRF token", async () => {
    const { page, context } = await memberPage();
    const reply = await page.request.post("/tokens/new", {
      form: { name: "forged", expires_in_days: "30", scope: "tokens:read" },
    });
    assert.equal(reply.status(), 403);
    await page.goto("/tokens?status=all");
    assert.equal(await page.locator("tr[data-token-name]").count(), 0);
    await context.close();
  });

  it("is usable at 375 px and by keyboard", async () => {
    const { page, context } = await memberPage({ viewport: { width: 375, height: 812 } });
    const { id } = await createToken(page, { name: "narrow screen", scopes: ["tokens:read", "tokens:list"] });
    await assertNoSidewaysScroll(page);
    await shot(page, "14-narrow-secret");
    for (const path of ["/tokens", "/tokens/new", `/tokens/${id}`]) {
      await page.goto(path);
      await assertNoSidewaysScroll(page);
      await assertLabelled(page);
    }
    await page.goto("/tokens");
    await shot(page, "15-narrow-list");

    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    let reached = false;
    for (let i = 0; i < 15 && !reached; i += 1) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement.id === "create-token");
    }
    assert.ok(reached, "the create link is reachable by Tab");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.equal(outline, "solid", "focus is visible");
    await page.keyboard.press("Enter");
    await page.waitForURL("**/tokens/new");
    await context.close();
  });

  it("a collaborator sees no create button", async () => {
    const user = await addUser(patd.url, "collaborator");
    const context = await newContext(browser, patd.url);
    const page = await context.newPage();
    await signIn(page, user.email, user.password);
    assert.equal(await page.locator("#create-token").count(), 0);
    assert.match(await page.locator("#role-note").textContent(), /collaborator/);
    await shot(page, "16-collaborator");
    await page.goto("/tokens/new");
    assert.equal(await page.locator("#error-detail").count(), 1);
    assert.equal(await page.locator("form[action='/tokens/new']").count(), 0);
    await context.close();
  });

  it("the admin's session can sign in here too", async () => {
    const context = await newContext(browser, patd.url);
    const page = await context.newPage();
    await signIn(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    assert.equal(await page.locator("#nav-admin").count(), 1);
    await context.close();
  });
});
