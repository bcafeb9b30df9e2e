// The first-boot wizard, sign-in, the dashboard and API tokens, in Chromium:
// once with JavaScript (hydrated) and once without.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hydrated, launchBrowser, setupCode, shot, startDpe } from './harness.mjs';

const ADMIN = 'admin';
const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let browser;

before(async () => {
  dpe = await startDpe();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dpe?.stop();
});

test('the wizard sets the appliance up, then the admin signs in', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(dpe.url + '/');
  assert.equal(new URL(page.url()).pathname, '/setup', 'every page leads to the wizard');
  await hydrated(page);
  await shot(page, '01-setup');

  // A wrong setup code is refused, and says where the right one is.
  await page.getByLabel('Setup code').fill('ABCD-EFGH-JKMN-PQRS');
  await page.getByLabel('libvirt URI').fill('test:///default');
  await page.getByRole('button', { name: 'Test connection' }).click();
  await page.locator('#host_probe').getByText('wrong setup code').waitFor();

  await page.getByLabel('Setup code').fill(setupCode(dpe).toLowerCase());
  await page.getByLabel('Appliance name').fill('Physik <Labor> & "Co"');
  await page.getByLabel('User name').fill(ADMIN);
  await page.getByLabel('Password', { exact: true }).fill('password1234');
  await page.getByLabel('Password again').fill('password1234');
  await page.getByLabel('libvirt URI').fill('test:///default');

  await page.getByRole('button', { name: 'Test connection' }).click();
  await page.getByText('libvirt test driver').waitFor();
  assert.match(await page.locator('#host_probe').innerText(), /Connected to/);

  await page.getByRole('button', { name: 'Complete setup' }).click();
  const pwError = page.locator('#admin_password-error');
  await pwError.waitFor({ state: 'visible' });
  assert.match(await pwError.innerText(), /stronger password|guess/i);
  await shot(page, '02-setup-errors');

  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Password again').fill(PASSWORD);
  await page.getByRole('button', { name: 'Complete setup' }).click();
  await page.waitForURL('**/login');
  await hydrated(page);
  await shot(page, '03-login');

  await page.getByLabel('User name').fill(ADMIN);
  await page.getByLabel('Password').fill('wrong password!!');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').filter({ hasText: 'unknown user or wrong password' }).waitFor();
  await shot(page, '04-login-error');

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(dpe.url + '/');
  await page.getByRole('heading', { name: 'Physik <Labor> & "Co"' }).waitFor();
  const host = page.getByRole('article', { name: /Host/ });
  await host.getByText('connected').waitFor();
  assert.match(await host.innerText(), /test driver/);
  await shot(page, '05-dashboard');

  // Setup cannot be run again.
  await page.goto(dpe.url + '/setup');
  assert.equal(new URL(page.url()).pathname, '/');

  await page.getByRole('link', { name: 'API tokens' }).click();
  await page.waitForURL('**/tokens');
  await hydrated(page);
  await page.getByLabel('Token name').fill('ci <script>alert(1)</script>');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = await page.locator('#new-token').innerText();
  assert.match(secret, /^dpe_[A-Za-z0-9_-]{43}$/);
  await page.getByRole('cell', { name: 'ci <script>alert(1)</script>', exact: true }).waitFor();
  await shot(page, '06-tokens');
  const me = await fetch(dpe.url + '/api/v1/me', { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(me.status, 200);

  await page.getByRole('button', { name: /Revoke token/ }).click();
  await page.getByText('You have no tokens.').waitFor();

  // An appliance admin makes a token for Prometheus: /metrics only.
  await page.getByLabel('Token name').fill('prometheus');
  await page.getByLabel('For', { exact: true }).selectOption('metrics');
  await page.getByRole('button', { name: 'Create token' }).click();
  const scraper = await page.locator('#new-token').innerText();
  await page.locator('td.token-scope', { hasText: '/metrics only' }).waitFor();
  await shot(page, '06b-tokens-metrics');
  const auth = { headers: { authorization: `Bearer ${scraper}` } };
  assert.equal((await fetch(dpe.url + '/metrics', auth)).status, 200);
  assert.equal((await fetch(dpe.url + '/api/v1/me', auth)).status, 403);
  await page.getByRole('button', { name: /Revoke token/ }).click();
  await page.getByText('You have no tokens.').waitFor();

  // Dark theme and a phone-sized screen.
  const dark = await browser.newPage({ colorScheme: 'dark', viewport: { width: 390, height: 844 } });
  await dark.context().addCookies(await page.context().cookies());
  await dark.goto(dpe.url + '/');
  await dark.getByText('connected').waitFor();
  await shot(dark, '07-dashboard-dark-mobile');
  await dark.close();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL('**/login');
  await page.goto(dpe.url + '/');
  assert.equal(new URL(page.url()).pathname, '/login', 'signed out for real');
  await page.close();
});

test('sign-in and tokens work with JavaScript off', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(dpe.url + '/login');
  await page.getByLabel('User name').fill(ADMIN);
  await page.getByLabel('Password').fill('wrong password!!');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('unknown user or wrong password').waitFor();
  await page.getByLabel('User name').fill(ADMIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(dpe.url + '/');
  await page.getByText('connected').waitFor();
  await page.goto(dpe.url + '/tokens');
  await page.getByLabel('Token name').fill('no-js');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.getByText('Copy it now').waitFor();
  await shot(page, '08-tokens-no-js');
  await context.close();
});
