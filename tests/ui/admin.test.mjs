// The admin pages, end to end in headless Chromium against a real patd: the PAT switch
// and limits, users (add, role, deactivate), any user's tokens, the audit log and the
// mail outbox; and that members cannot reach them.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, addUser, assertLabelled, assertNoSidewaysScroll, createToken,
  launchBrowser, meWith, newContext, shot, signIn, startPatd,
} from "./harness.mjs";

describe("admin pages", () => {
  let patd;
  let browser;
  let admin;

  before(async () => {
    patd = await startPatd();
    browser = await launchBrowser();
    const context = await newContext(browser, patd.url);
    admin = await context.newPage();
    await signIn(admin, ADMIN_EMAIL, ADMIN_PASSWORD);
  });

  after(async () => {
    await browser?.close();
    await patd?.stop();
  });

  async function signedIn(user, options = {}) {
    const context = await newContext(browser, patd.url, options);
    const page = await context.newPage();
    await signIn(page, user.email, user.password);
    return { page, context };
  }

  it("sets a user's password: their sessions end and the new password signs in", async () => {
    const member = await addUser(patd.url, "member");
    const { page, context } = await signedIn(member);
    await admin.goto("/admin/users");
    const row = admin.locator(`tr[data-user-email="${member.email}"]`);
    await row.getByLabel(`New password of ${member.email}`).fill("short");
    await row.getByRole("button", { name: `Set password of ${member.email}` }).click();
    await admin.locator("#user-error").waitFor();
    assert.match(await admin.locator("#user-error").textContent(), /8 to 256 characters/);
    const again = admin.locator(`tr[data-user-email="${member.email}"]`);
    await again.getByLabel(`New password of ${member.email}`).fill("set by the admin");
    await again.getByRole("button", { name: `Set password of ${member.email}` }).click();
    await admin.locator("#notice").waitFor();
    assert.match(await admin.locator("#notice").textContent(), /Password set/);
    await shot(admin, "22a-password-set");
    await page.goto("/tokens");
    assert.match(page.url(), /\/login$/, "the user's session ended");
    await signIn(page, member.email, "set by the admin");
    await page.goto("/profile");
    assert.equal(await page.locator("#profile-email").textContent(), member.email);
    assert.equal(await page.locator("#profile-role").textContent(), "member");
    await assertLabelled(page);
    await shot(page, "22b-profile");
    await page.getByLabel("Current password").fill("not it");
    await page.getByLabel(/New password/).fill("another long one");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.locator("#password-error").waitFor();
    assert.match(await page.locator("#password-error").textContent(), /current password is wrong/);
    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    await page.waitForURL("**/login");
    await page.goto("/tokens");
    assert.match(page.url(), /\/login$/, "signed out everywhere");
    await context.close();
  });

  it("the PAT switch hides creation for everyone and stops existing tokens", async () => {
    const member = await addUser(patd.url, "member");
    const { page, context } = await signedIn(member);
    const { secret } = await createToken(page, { name: "before the switch", scopes: ["tokens:read"] });

    await admin.goto("/admin");
    await assertLabelled(admin);
    await shot(admin, "20-admin-settings");
    await admin.getByLabel(/Personal access tokens are enabled/).uncheck();
    await admin.getByRole("button", { name: "Save settings" }).click();
    await admin.locator("#notice").waitFor();
    assert.equal(await admin.getByLabel(/Personal access tokens are enabled/).isChecked(), false);

    await page.goto("/tokens");
    assert.equal(await page.locator("#create-token").count(), 0);
    assert.match(await page.locator("#pats-disabled").textContent(), /turned off/);
    await shot(page, "21-pats-disabled");
    assert.equal((await meWith(patd.url, secret)).status, 401);
    await admin.goto("/tokens");
    assert.equal(await admin.locator("#create-token").count(), 0, "admins cannot create either");

    await admin.goto("/admin");
    await admin.getByLabel(/Personal access tokens are enabled/).check();
    await admin.getByRole("button", { name: "Save settings" }).click();
    await admin.locator("#notice").waitFor();
    await page.goto("/tokens");
    assert.equal(await page.locator("#create-token").count(), 1);
    assert.equal((await meWith(patd.url, secret)).status, 200);
    await context.close();
  });

  it("limits are saved, and out-of-range values are refused with the input kept", async () => {
    await admin.goto("/admin");
    await admin.getByLabel(/Maximum lifetime/).fill("999");
    await admin.getByRole("button", { name: "Save settings" }).click();
    await admin.locator("#settings-error").waitFor();
    assert.equal(await admin.getByLabel(/Maximum lifetime/).inputValue(), "999");
    await shot(admin, "22-admin-settings-error");

    await admin.getByLabel(/Maximum lifetime/).fill("90");
    await admin.getByLabel(/Maximum active tokens/).fill("2");
    await admin.getByRole("button", { name: "Save settings" }).click();
    await admin.locator("#notice").waitFor();

    const member = await addUser(patd.url, "member");
    const { page, context } = await signedIn(member);
    await page.goto("/tokens/new");
    assert.equal(await page.locator("#max-days").textContent(), "90");
    assert.equal(await page.getByLabel("Expires in (days)").inputValue(), "30");
    await createToken(page, { name: "one", scopes: ["tokens:read"] });
    await createToken(page, { name: "two", scopes: ["tokens:read"] });
    await page.goto("/tokens");
    assert.ok(await page.locator("#create-token").isDisabled());
    assert.match(await page.locator("#limit-reason").textContent(), /2 active tokens/);
    await context.close();

    await admin.goto("/admin");
    await admin.getByLabel(/Maximum lifetime/).fill("180");
    await admin.getByLabel(/Maximum active tokens/).fill("5");
    await admin.getByRole("button", { name: "Save settings" }).click();
    await admin.locator("#notice").waitFor();
  });

  it("adds users, changes roles and deactivates (ending their sessions)", async () => {
    await admin.goto("/admin/users");
    await assertLabelled(admin);
    const email = `added-${Date.now()}@example.com`;
    await admin.getByLabel("Email").fill(email);
    await admin.getByLabel("Name").fill("Added Person");
    await admin.getByLabel("Role", { exact: true }).selectOption("member");
    await admin.getByLabel(/Initial password/).fill("short");
    await admin.getByRole("button", { name: "Add user" }).click();
    await admin.locator("#user-error").waitFor();
    assert.equal(await admin.getByLabel("Email").inputValue(), email, "the email is kept");
    await admin.getByLabel(/Initial password/).fill("added-password-1");
    await admin.getByRole("button", { name: "Add user" }).click();
    await admin.locator("#notice").waitFor();
    await shot(admin, "23-admin-users");

    const row = admin.locator(`tr[data-user-email="${email}"]`);
    await row.getByLabel(`Role of ${email}`, { exact: true }).selectOption("collaborator");
    await row.getByRole("button", { name: `Save role of ${email}` }).click();
    await admin.locator("#notice").waitFor();
    assert.equal(await admin.locator(`tr[data-user-email="${email}"] select`).inputValue(), "collaborator");

    const { page, context } = await signedIn({ email, password: "added-password-1" });
    assert.equal(await page.locator("#create-token").count(), 0, "collaborators get no create button");

    await admin.locator(`tr[data-user-email="${email}"]`)
      .getByRole("button", { name: `Deactivate ${email}` }).click();
    await admin.locator("#notice").waitFor();
    await page.goto("/tokens");
    assert.match(page.url(), /\/login$/, "deactivation ends the user's session");
    await context.close();
  });

  it("revokes and deletes another user's token", async () => {
    const member = await addUser(patd.url, "member");
    const { page, context } = await signedIn(member);
    const keep = await createToken(page, { name: "admin revokes me", scopes: ["tokens:read"] });
    const gone = await createToken(page, { name: "admin deletes me", scopes: ["tokens:read"] });
    await context.close();

    await admin.goto("/admin/users");
    await admin.getByRole("link", { name: `Tokens of ${member.email}` }).click();
    await admin.getByRole("button", { name: "Revoke admin revokes me" }).click();
    await admin.locator("#notice").waitFor();
    assert.equal((await meWith(patd.url, keep.secret)).status, 401);
    await shot(admin, "24-admin-user-tokens");
    await admin.getByRole("link", { name: "Delete admin deletes me" }).click();
    await admin.getByRole("button", { name: "Delete this token" }).click();
    await admin.locator("#notice").waitFor();
    assert.equal(await admin.locator(`tr[data-token-id="${gone.id}"]`).count(), 0);
    assert.equal((await meWith(patd.url, gone.secret)).status, 401);
    assert.match(await admin.locator(`tr[data-token-id="${keep.id}"]`).textContent(), /revoked/);
  });

  it("shows the audit log and the mail outbox", async () => {
    await admin.goto("/admin/audit");
    const actions = await admin.locator("#events code").allTextContents();
    for (const action of ["token.created", "token.revoked", "token.deleted", "settings.changed"]) {
      assert.ok(actions.includes(action), `the audit log lists ${action}: ${actions.slice(0, 8)}`);
    }
    await shot(admin, "25-admin-audit");
    await admin.goto("/admin/outbox");
    const rows = await admin.locator("#outbox tbody tr").count();
    assert.ok(rows > 0, "created tokens queue security notices");
    await shot(admin, "26-admin-outbox");
    await admin.setViewportSize({ width: 375, height: 812 });
    for (const path of ["/admin", "/admin/users", "/admin/audit", "/admin/outbox"]) {
      await admin.goto(path);
      await assertNoSidewaysScroll(admin);
    }
    await shot(admin, "27-admin-narrow");
    await admin.setViewportSize({ width: 1280, height: 800 });
  });

  it("members cannot open the admin pages", async () => {
    const member = await addUser(patd.url, "member");
    const { page, context } = await signedIn(member);
    assert.equal(await page.locator("#nav-admin").count(), 0);
    for (const path of ["/admin", "/admin/users", "/admin/audit", "/admin/outbox"]) {
      const reply = await page.goto(path);
      assert.equal(reply.status(), 403, path);
    }
    await context.close();
  });
});
