// The Notifications settings page (admins) against a real SMTP server on
// loopback (aiosmtpd, from scripts/smtp-sink's virtual environment): the
// mail server is saved and its Send test button delivers a mail; a webhook
// is added with its secret shown once; a matcher routes to it. Then a
// person's own mail preferences on the account page.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, fakeImages, hydrated, launchBrowser, setUp, shot, signIn, startDpe } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let browser;
let sink;
let sinkPort;
let received;

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on('error', fail);
  });
}

function listening(port) {
  return new Promise((ok) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      ok(true);
    });
    socket.on('error', () => ok(false));
  });
}

/** The messages the SMTP server accepted, one JSON object each. */
function mails() {
  if (!existsSync(received)) return [];
  return readFileSync(received, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

before(async () => {
  sinkPort = await freePort();
  received = join(mkdtempSync(join(tmpdir(), 'dpe-smtp-')), 'received.jsonl');
  sink = spawn(join(ROOT, 'scripts/smtp-sink'), [String(sinkPort), received], { stdio: 'inherit' });
  // The first run makes the virtual environment.
  for (let i = 0; i < 1200 && !(await listening(sinkPort)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(await listening(sinkPort), 'the SMTP server never listened');
  // Notifications may go to loopback only, as in every test; one attempt
  // each, so that a failure is given up at once.
  dpe = await startDpe({
    DPE_NOTIFY_LOOPBACK_ONLY: 'true',
    DPE_NOTIFY_ATTEMPTS: '1',
    DPE_STACK_DIR: join(ROOT, 'server/tests/fixtures/stack'),
    DPE_IMAGE_DIR: fakeImages(),
  });
  await setUp(dpe, PASSWORD);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dpe?.stop();
  sink?.kill();
});

test('an admin sets up the mail server, sends a test mail, routes deploys to a webhook and sees it fail', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, dpe, PASSWORD);
  await hydrated(page);
  await page.getByRole('link', { name: 'Notifications', exact: true }).click();
  await page.waitForURL('**/settings/notifications');
  await page.getByRole('heading', { name: 'Mail server' }).waitFor();

  // Unencrypted to another machine is refused, under its field.
  await page.getByLabel('Host', { exact: true }).fill('192.0.2.1');
  await page.getByLabel('Port', { exact: true }).fill(String(sinkPort));
  await page.getByLabel('Security', { exact: true }).selectOption('none');
  await page.getByLabel('Sender address').fill('dpe@example.org');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const hostError = page.locator('#smtp-host-error');
  await hostError.waitFor({ state: 'visible' });
  assert.match(await hostError.innerText(), /not on this machine/);

  await page.getByLabel('Host', { exact: true }).fill('127.0.0.1');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#smtp-saved').waitFor();

  await page.getByLabel('To', { exact: true }).fill('ann@example.org');
  await page.getByRole('button', { name: 'Send test' }).click();
  const outcome = page.locator('#notify-test');
  await outcome.waitFor();
  assert.match(await outcome.innerText(), /Sent to ann@example.org/);
  const got = mails();
  assert.equal(got.length, 1, JSON.stringify(got));
  assert.deepEqual(got[0].rcpt_tos, ['ann@example.org']);
  assert.equal(got[0].mail_from, 'dpe@example.org');

  // A webhook: its secret is shown once.
  await page.locator('#hook-name').fill('ops');
  await page.getByLabel('URL', { exact: true }).fill('http://127.0.0.1:9/hooks/dpe');
  await page.getByRole('button', { name: 'Add webhook' }).click();
  const secret = page.locator('#webhook-secret');
  await secret.waitFor();
  assert.match(await secret.innerText(), /^whsec_[A-Za-z0-9+/=]{40,}$/);
  await page.getByRole('cell', { name: 'http://127.0.0.1:9/hooks/dpe' }).waitFor();

  // A matcher: deploys and backup failures to that webhook.
  await page.locator('#matcher-name').fill('deploys to ops');
  await page.getByLabel('Deploy succeeded', { exact: true }).check();
  await page.getByLabel('Deploy failed', { exact: true }).check();
  await page.getByLabel('Backup failed', { exact: true }).check();
  await page.getByRole('checkbox', { name: 'Webhook ops' }).check();
  await page.getByRole('button', { name: 'Add matcher' }).click();
  const row = page.getByRole('row', { name: /deploys to ops/ });
  await row.waitFor();
  assert.match(await row.innerText(), /Deploy failed/);
  assert.match(await row.innerText(), /Backup failed/);
  assert.match(await row.innerText(), /webhook ops/);

  // Nothing listens at the webhook's address: the deploy's notice fails
  // and, with one attempt allowed here, is given up and shown.
  const deployed = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'told', size: 'tiny', params: { title: 'Told' } },
  });
  assert.equal(deployed.status(), 202, await deployed.text());
  const failed = page.getByRole('row', { name: /Deploy succeeded webhook/ });
  // The deploy, then the worker's next look (every second): on a busy
  // machine this takes a while.
  for (let i = 0; i < 60 && !(await failed.count()); i++) {
    await new Promise((r) => setTimeout(r, 500));
    await page.reload();
  }
  await failed.waitFor();
  assert.match(await failed.innerText(), /failed/);
  assert.match(await failed.innerText(), /could not be reached/);
  assert.match(await page.locator('#deliveries').innerText(), /1 given up/);
  await shot(page, '70-notifications-settings');

  // Saved: after a reload the secret is gone, the rest is there.
  await page.reload();
  await page.getByRole('row', { name: /deploys to ops/ }).waitFor();
  assert.equal(await page.locator('#webhook-secret').count(), 0);
  assert.match(await page.locator('#smtp-password-hint').innerText(), /None set/);
});

test('a person chooses their mail address and which notices they get', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, dpe, PASSWORD);
  await hydrated(page);
  await page.goto(dpe.url + '/account');
  await page.getByRole('heading', { name: 'Notifications by mail' }).waitFor();
  await hydrated(page);
  await page.getByLabel('Mail address').fill('not an address');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#pref-email-error').waitFor({ state: 'visible' });

  await page.getByLabel('Mail address').fill('admin@example.org');
  await page.getByLabel('Deploy succeeded', { exact: true }).uncheck();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#preferences-saved').waitFor();
  await shot(page, '71-account-mail-preferences');

  await page.reload();
  await page.getByRole('heading', { name: 'Notifications by mail' }).waitFor();
  assert.equal(await page.getByLabel('Mail address').inputValue(), 'admin@example.org');
  assert.equal(await page.getByLabel('Deploy succeeded', { exact: true }).isChecked(), false);
  assert.equal(await page.getByLabel('Deploy failed', { exact: true }).isChecked(), true);
});
