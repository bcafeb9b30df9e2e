// A person's own account: the header's user name leads to it, a wrong
// current password or a weak new one is named under its field, and a
// change keeps this tab signed in while the old password stops working.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hydrated, launchBrowser, setUp, shot, signIn, startDpe } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
const NEW_PASSWORD = 'Fresh-Orchard-Lantern-62';
let dpe;
let browser;

before(async () => {
  dpe = await startDpe();
  await setUp(dpe, PASSWORD);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dpe?.stop();
});

test('a person changes their password from their account page', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await signIn(page, dpe, PASSWORD);
  await hydrated(page);
  await page.getByRole('link', { name: 'admin', exact: true }).click();
  await page.waitForURL('**/account');
  await page.getByRole('heading', { name: 'Change your password' }).waitFor();

  await page.getByLabel('Current password').fill('not-my-Password-1');
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('New password, again').fill(NEW_PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  const wrong = page.locator('#current_password-error');
  await wrong.waitFor({ state: 'visible' });
  assert.match(await wrong.innerText(), /not your current password/);
  await shot(page, '40-account-wrong-password');

  await page.getByLabel('Current password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.locator('#password-changed').waitFor();
  await shot(page, '41-account-password-changed');

  // This tab is still signed in; the old password no longer signs in.
  await page.goto(dpe.url + '/');
  await page.getByRole('link', { name: 'admin', exact: true }).waitFor();
  const other = await browser.newPage();
  await other.goto(dpe.url + '/login');
  await other.getByLabel('User name').fill('admin');
  await other.getByLabel('Password').fill(PASSWORD);
  await other.getByRole('button', { name: 'Sign in' }).click();
  await other.getByRole('alert').filter({ hasText: /./ }).first().waitFor();
  assert.equal(new URL(other.url()).pathname, '/login');
  await signIn(other, dpe, NEW_PASSWORD);
});
