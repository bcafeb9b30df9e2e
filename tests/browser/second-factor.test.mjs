// Two-factor sign-in in the portal: a person sets up an authenticator app
// from their account page (QR code, then a code from the app), is shown
// their recovery codes once, and from then on signs in with a code after
// the password, or with a recovery code. The app's codes are computed
// here (RFC 6238, HMAC-SHA-1, 30 s, six digits) from the key the page shows.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  hydrated, launchBrowser, passwordStep, setUp, shot, signIn, signOut, startDpe,
} from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
const ANN_PASSWORD = 'Quiet-Harbour-Lamp-73';
/** The admin's key, once the first test has enrolled it. */
let adminSecret;
let dpe;
let browser;

before(async () => {
  // Each sign-in here is two attempts (password, code): the per-account
  // budget is raised so that the test meets the lock it means to, not that.
  dpe = await startDpe({ DPE_SIGN_IN_PER_ACCOUNT: '60' });
  await setUp(dpe, PASSWORD);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dpe?.stop();
});

/** The bytes of an RFC 4648 base32 string (no padding). */
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code for `secret`, `steps` 30-second steps from now. */
function totp(secret, steps = 0) {
  const counter = Math.floor(Date.now() / 1000 / 30) + steps;
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', base32(secret)).update(message).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, '0');
}

/**
 * A code of the admin's app for a step not used yet: the first test used
 * the current step and the next, so this waits for the step after.
 */
async function freshCode() {
  const step = () => Math.floor(Date.now() / 1000 / 30);
  const start = step();
  while (step() < start + 1) await new Promise((r) => setTimeout(r, 500));
  return totp(adminSecret, 1);
}

/** Signs in up to the code prompt. */
async function password(page) {
  await passwordStep(page, dpe, PASSWORD);
  await page.getByLabel('Code from your authenticator app').waitFor();
}

test('a person enrols an authenticator app and signs in with its code or a recovery code', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, dpe, PASSWORD);
  await page.goto(dpe.url + '/account');
  await hydrated(page);
  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const qr = page.getByRole('img', { name: /QR code/ });
  await qr.waitFor();
  const secret = (await page.locator('#totp-secret').innerText()).trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  adminSecret = secret;
  await shot(page, '70-second-factor-enrolment');

  await page.getByLabel('Code shown by the app').fill('000000');
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#code-error').filter({ hasText: /wrong code/ }).waitFor();
  await page.getByLabel('Code shown by the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#recovery-codes').waitFor();
  const codes = await page.locator('#recovery-codes code').allInnerTexts();
  assert.equal(codes.length, 10);
  await page.locator('#second-factor-on').waitFor();
  await shot(page, '71-second-factor-recovery-codes');
  await signOut(page);

  // The password alone no longer signs in: the code is asked for. The
  // confirming code's step is spent, so the next step's code is given.
  await password(page);
  await shot(page, '72-second-factor-code-prompt');
  await page.getByLabel('Code from your authenticator app').fill('123456');
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('alert').filter({ hasText: /Please correct|wrong code/ }).first().waitFor();
  await page.getByLabel('Code from your authenticator app').fill(totp(secret, 1));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(dpe.url + '/');
  await signOut(page);

  // A recovery code signs in once.
  await password(page);
  await page.getByLabel('Code from your authenticator app').fill(codes[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL(dpe.url + '/');
  await page.goto(dpe.url + '/account');
  await page.locator('#second-factor-on').filter({ hasText: 'Recovery codes left: 9.' }).waitFor();
  await signOut(page);
  await password(page);
  await page.getByLabel('Code from your authenticator app').fill(codes[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.getByRole('alert').filter({ hasText: /./ }).first().waitFor();
  assert.equal(new URL(page.url()).pathname, '/login');
  await page.close();
});

test('an account that must use a second factor enrols one right after its password', async () => {
  // The admin (who has an app by now) creates Ann in Physics and requires
  // a second factor of Physics, over the API with the portal's session.
  const admin = await browser.newPage();
  await password(admin);
  await admin.getByLabel('Code from your authenticator app').fill(await freshCode());
  await admin.getByRole('button', { name: 'Verify' }).click();
  await admin.waitForURL(dpe.url + '/');
  const api = (method, path, data) => admin.request.fetch(dpe.url + path, { method, data });
  const physics = await (await api('POST', '/api/v1/departments', { name: 'Physics' })).json();
  const created = await api('POST', '/api/v1/users', {
    username: 'ann', password: ANN_PASSWORD, department_id: physics.id, department_admin: false,
  });
  assert.equal(created.status(), 201);
  const rule = await api('PUT', '/api/v1/settings/second-factor',
    { required_of: 'departments', departments: [physics.id] });
  assert.equal(rule.status(), 200);
  await admin.close();

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await passwordStep(page, dpe, ANN_PASSWORD, 'ann');
  await page.locator('#must-enrol').waitFor();
  // Nothing else first: the portal still sends her to the sign-in.
  const other = await page.context().newPage();
  await other.goto(dpe.url + '/instances');
  assert.equal(new URL(other.url()).pathname, '/login');
  await other.close();

  await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
  const secret = (await page.locator('#totp-secret').innerText()).trim();
  await shot(page, '73-second-factor-enrol-at-sign-in');
  await page.getByLabel('Code shown by the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  await page.locator('#recovery-codes').waitFor();
  assert.equal((await page.locator('#recovery-codes code').allInnerTexts()).length, 10);
  await page.getByRole('link', { name: 'Continue' }).click();
  await page.waitForURL(dpe.url + '/');
  await page.getByRole('link', { name: 'ann', exact: true }).waitFor();
  await page.close();
});

test('admins set who must use a second factor, lift a lock and reset a lost one in the portal', async () => {
  const admin = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await password(admin);
  await admin.getByLabel('Code from your authenticator app').fill(await freshCode());
  await admin.getByRole('button', { name: 'Verify' }).click();
  await admin.waitForURL(dpe.url + '/');

  // The appliance's rule, on the settings page.
  await admin.goto(dpe.url + '/settings/apps');
  await hydrated(admin);
  await admin.getByLabel('Required of').selectOption('everyone');
  await admin.getByRole('button', { name: 'Save', exact: true }).last().click();
  await admin.getByText('Saved: it applies from each account').waitFor();
  await admin.reload();
  await hydrated(admin);
  assert.equal(await admin.getByLabel('Required of').inputValue(), 'everyone');
  await shot(admin, '74-second-factor-rule');
  await admin.getByLabel('Required of').selectOption('departments');
  await admin.getByRole('button', { name: 'Save', exact: true }).last().click();
  await admin.getByText('Saved: it applies from each account').waitFor();

  // Ann locks her second factor with eight wrong codes.
  const ann = await browser.newContext();
  const signedIn = await ann.request.post(dpe.url + '/api/v1/login', { data: { username: 'ann', password: ANN_PASSWORD } });
  assert.equal(signedIn.status(), 401, 'the code is asked for');
  for (let i = 0; i < 8; i++) {
    await ann.request.post(dpe.url + '/api/v1/login/code', { data: { code: '000000' } });
  }
  await ann.close();

  // Physics' own requirement, and Ann's row, on its page.
  await admin.goto(dpe.url + '/departments');
  await admin.getByRole('link', { name: 'Physics', exact: true }).click();
  await admin.waitForURL(/\/departments\/\d+$/);
  await hydrated(admin);
  const state = admin.locator('#department-second-factor-state');
  await state.filter({ hasText: 'must use a second factor' }).waitFor();
  await admin.getByRole('button', { name: 'Stop requiring it' }).click();
  await state.filter({ hasText: 'need no second factor' }).waitFor();
  await admin.getByRole('button', { name: 'Require a second factor' }).click();
  await state.filter({ hasText: 'must use a second factor' }).waitFor();
  const row = admin.getByRole('row').filter({ has: admin.getByRole('cell', { name: 'ann', exact: true }) });
  await row.getByText(/locked until/).waitFor();
  await shot(admin, '75-second-factor-locked-member');
  await row.getByRole('button', { name: 'Lift the second-factor lock of ann' }).click();
  await row.locator('.second-factor').filter({ hasText: /^app$/ }).waitFor();
  await row.getByText('Reset…').click();
  await row.getByRole('button', { name: 'Reset the second factor of ann' }).click();
  await row.locator('.second-factor').filter({ hasText: /^none$/ }).waitFor();

  await admin.goto(dpe.url + '/audit');
  await hydrated(admin);
  for (const action of ['second_factor.policy', 'second_factor.unlock', 'second_factor.reset']) {
    await admin.getByRole('cell', { name: action }).first().waitFor();
  }
  await admin.close();
});
