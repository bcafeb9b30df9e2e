// Passkeys as a second factor in the portal: a person adds one on their
// account page (its first second factor: ten recovery codes shown), then
// signs in with the password and the passkey, confirms a new API token
// with it, and removes it again. Chromium's virtual authenticator (DevTools protocol,
// WebAuthn domain) plays the platform's passkey, its user verified, and a
// plain U2F security key with no PIN. The portal is reached as
// https://localhost: a relying party is a name, not an address.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import {
  SHOTS, hydrated, launchBrowser, passwordStep, setUp, shot, signIn, signOut, startDpe,
} from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let site;
let browser;
/** The admin's page the first test leaves signed in. */
let signedInAdmin;
/** The department whose members must use a second factor (the second test's). */
let physics;

before(async () => {
  dpe = await startDpe();
  await setUp(dpe, PASSWORD);
  site = { ...dpe, url: dpe.url.replace('127.0.0.1', 'localhost') };
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dpe?.stop();
});

test('a person adds a passkey and gets recovery codes, signs in with the password and the passkey, confirms a new token with it, and removes it', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const devtools = await page.context().newCDPSession(page);
  await devtools.send('WebAuthn.enable');
  const { authenticatorId } = await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal',
      hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
    },
  });

  await signIn(page, site, PASSWORD);
  await page.goto(site.url + '/account');
  await hydrated(page);
  const card = page.locator('section[aria-labelledby="passkeys-title"]');
  await card.locator('#no-passkeys').waitFor();
  await page.getByLabel('Name of the new key').fill('Laptop');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await card.getByRole('cell', { name: 'Laptop', exact: true }).waitFor();
  const { credentials } = await devtools.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1, 'the authenticator made one credential');
  // The first second factor brings ten recovery codes, shown this once.
  assert.equal(await card.locator('#passkey-recovery-codes li').count(), 10);
  await card.scrollIntoViewIfNeeded();
  await shot(page, '76-passkeys-account');

  // A second key of the same name is refused before the browser is asked.
  await page.getByLabel('Name of the new key').fill('Laptop');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  await card.getByRole('alert').filter({ hasText: 'you have a key of that name' }).waitFor();
  await signOut(page);

  // The password alone no longer signs in: the passkey does.
  await passwordStep(page, site, PASSWORD);
  await page.getByRole('button', { name: 'Use a passkey' }).click();
  await page.waitForURL(site.url + '/');
  await page.getByRole('link', { name: 'admin', exact: true }).waitFor();

  // A token needs the passkey again: refused without, made after it.
  await page.goto(site.url + '/tokens');
  await hydrated(page);
  await page.getByLabel('Token name').fill('backup script');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.locator('#token-code-error').filter({ hasText: 'confirm with one of your passkeys first' }).waitFor();
  await page.getByRole('button', { name: 'Confirm with a passkey' }).click();
  await page.locator('#passkey-confirmed').waitFor();
  await page.getByLabel('Token name').fill('backup script');
  await page.getByRole('button', { name: 'Create token' }).click();
  await page.locator('#new-token').waitFor();
  await shot(page, '77-passkeys-token');

  await page.goto(site.url + '/account');
  await hydrated(page);
  const row = card.getByRole('row').filter({ has: page.getByRole('cell', { name: 'Laptop', exact: true }) });
  assert.equal(await row.locator('time').count(), 2, 'added, and last used');

  // Removing it needs the password.
  await row.getByLabel('Password, to remove Laptop').fill('not-the-password');
  await row.getByRole('button', { name: 'Remove passkey Laptop' }).click();
  await card.locator('#passkey-password-error').filter({ hasText: 'is not your password' }).waitFor();
  await row.getByLabel('Password, to remove Laptop').fill(PASSWORD);
  await row.getByRole('button', { name: 'Remove passkey Laptop' }).click();
  await card.locator('#no-passkeys').waitFor();
  await signOut(page);

  // With no second factor left, the password signs in alone again.
  await passwordStep(page, site, PASSWORD);
  await page.waitForURL(site.url + '/');

  await page.goto(site.url + '/audit');
  await hydrated(page);
  for (const action of ['second_factor.passkey.enrol', 'second_factor.passkey.use', 'second_factor.passkey.remove']) {
    await page.getByRole('cell', { name: action }).first().waitFor();
  }
  // Left signed in for the next test: another password sign-in this soon
  // would be throttled.
  signedInAdmin = page;
});

test('an account that must use a second factor may add a passkey right after its password', async () => {
  const admin = signedInAdmin;
  const api = (method, path, data) => admin.request.fetch(site.url + path, { method, data });
  physics = await (await api('POST', '/api/v1/departments', { name: 'Physics' })).json();
  const created = await api('POST', '/api/v1/users', {
    username: 'bea', password: PASSWORD, department_id: physics.id, department_admin: false,
  });
  assert.equal(created.status(), 201);
  const rule = await api('PUT', '/api/v1/settings/second-factor',
    { required_of: 'departments', departments: [physics.id] });
  assert.equal(rule.status(), 200);

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const devtools = await page.context().newCDPSession(page);
  await devtools.send('WebAuthn.enable');
  await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal',
      hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
    },
  });
  await passwordStep(page, site, PASSWORD, 'bea');
  await page.locator('#must-enrol').waitFor();
  await page.getByLabel('Name of the key').fill('Phone');
  await page.getByRole('button', { name: 'Add a passkey instead' }).click();
  await page.locator('#passkey-recovery-codes').waitFor();
  assert.equal(await page.locator('#passkey-recovery-codes li').count(), 10);
  await shot(page, '78-passkeys-enrol-at-sign-in');
  await page.getByRole('link', { name: 'Continue' }).click();
  await page.waitForURL(site.url + '/');
  await page.getByRole('link', { name: 'bea', exact: true }).waitFor();
  await page.close();
});

test('a security key with no PIN is added and signs in with a touch, a passkey beside it signs in verifying its holder, and the department page names each member\'s second factor', async () => {
  const admin = signedInAdmin;
  const api = (method, path, data) => admin.request.fetch(site.url + path, { method, data });
  const chemistry = await (await api('POST', '/api/v1/departments', { name: 'Chemistry' })).json();
  for (const username of ['cai', 'dan']) {
    const created = await api('POST', '/api/v1/users', {
      username, password: PASSWORD, department_id: chemistry.id, department_admin: false,
    });
    assert.equal(created.status(), 201);
  }

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const devtools = await page.context().newCDPSession(page);
  await devtools.send('WebAuthn.enable');
  const { authenticatorId } = await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'u2f', transport: 'usb',
      hasResidentKey: false, hasUserVerification: false, automaticPresenceSimulation: true,
    },
  });
  await signIn(page, site, PASSWORD, 'cai');
  await page.goto(site.url + '/account');
  await hydrated(page);
  const card = page.locator('section[aria-labelledby="passkeys-title"]');
  await card.locator('#no-passkeys').waitFor();
  await page.getByLabel('Name of the new key').fill('YubiKey');
  await page.getByRole('button', { name: 'Add a security key (no PIN)' }).click();
  const row = card.getByRole('row').filter({ has: page.getByRole('cell', { name: 'YubiKey', exact: true }) });
  await row.getByRole('cell', { name: 'security key', exact: true }).waitFor();
  assert.equal(await card.locator('#passkey-recovery-codes li').count(), 10);
  const { credentials } = await devtools.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1, 'the key made one credential');
  await card.scrollIntoViewIfNeeded();
  await shot(page, '79-security-key-account');
  await signOut(page);

  // The password, then a touch of the key: no PIN is asked for.
  await passwordStep(page, site, PASSWORD, 'cai');
  await page.getByRole('button', { name: 'Use a passkey or security key' }).click();
  await page.waitForURL(site.url + '/');
  await page.getByRole('link', { name: 'cai', exact: true }).waitFor();

  // A passkey beside it (the key unplugged): one ceremony offers both,
  // and the passkey verifies its holder.
  await devtools.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
  await devtools.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal',
      hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
    },
  });
  await page.goto(site.url + '/account');
  await hydrated(page);
  await page.getByLabel('Name of the new key').fill('Laptop');
  await page.getByRole('button', { name: 'Add a passkey' }).click();
  const laptop = card.getByRole('row').filter({ has: page.getByRole('cell', { name: 'Laptop', exact: true }) });
  await laptop.getByRole('cell', { name: 'passkey', exact: true }).waitFor();
  await signOut(page);
  await passwordStep(page, site, PASSWORD, 'cai');
  await page.getByRole('button', { name: 'Use a passkey or security key' }).click();
  await page.waitForURL(site.url + '/');
  await page.getByRole('link', { name: 'cai', exact: true }).waitFor();
  await page.close();

  // The admin sees each member's second factor on the department page.
  for (const [department, labels] of [
    [physics.id, { bea: 'passkey' }],
    [chemistry.id, { cai: 'passkey', dan: 'none' }],
  ]) {
    await admin.goto(`${site.url}/departments/${department}`);
    await hydrated(admin);
    for (const [username, label] of Object.entries(labels)) {
      const member = admin.getByRole('row').filter({ has: admin.getByRole('cell', { name: username, exact: true }) });
      assert.equal(await member.locator('.second-factor').innerText(), label, `${username}'s second factor`);
    }
  }
  await admin.getByRole('row').filter({ hasText: 'dan' }).scrollIntoViewIfNeeded();
  await admin.locator('table').filter({ hasText: 'Second factor' })
    .screenshot({ path: join(SHOTS, '80-department-second-factors.png') });
  await admin.close();
});
