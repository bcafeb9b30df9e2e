// Two-factor sign-in in the portal: a person sets up an authenticator app
// from their account page (QR code, then a code from the app), is shown
// their recovery codes once, and from then on signs in with a code after
// the password, or with a recovery code. The app's codes are computed
// here (RFC 6238, HMAC-SHA-1, 30 s, six digits) from the key the page shows.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { hydrated, launchBrowser, setUp, shot, signIn, startDpe } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
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

async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL('**/login');
}

/** Signs in up to the code prompt. */
async function password(page) {
  await page.goto(dpe.url + '/login');
  await hydrated(page);
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
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
