// Stack versions in the portal: an admin finds a newly built version and
// makes it current on the Versions page; an instance on the older one then
// says "Update available" in the list and on its page, with what the
// update changes.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fakeImages, hydrated, portalOnTestDriver, shot, signIn, stopAll } from './harness.mjs';

const PASSWORD = 'amber-Kettle-47-river';
let dpe;
let browser;
const images = fakeImages();

before(async () => ({ dpe, browser } = await portalOnTestDriver(PASSWORD, {
  env: { DPE_IMAGE_DIR: images },
})));
after(() => stopAll(browser, dpe));

/** A second image built next to the first, as build-image writes one. */
function buildSecondVersion() {
  const dir = join(images, 'v2');
  mkdirSync(dir);
  writeFileSync(join(dir, 'disk.qcow2'), Buffer.from('QFI\xfb\0\0\0\x03second', 'latin1'));
  writeFileSync(join(dir, 'vmlinuz'), 'kernel 2');
  writeFileSync(join(dir, 'initrd.img'), 'initrd 2');
  writeFileSync(join(dir, 'version'), 'app=dokuwiki 2025-05-14a\nos=Debian 12.11\n');
  writeFileSync(join(dir, 'packages'), 'dokuwiki 0.0.20250514a-1\nnginx 1.22.1-9+deb12u2\n');
}

test('an admin makes a newly built version current on the Versions page, and an instance on the older one says an update is available, with what it changes', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await signIn(page, dpe, PASSWORD);
  const deployed = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'old-wiki', size: 'tiny', params: { title: 'Old' } },
  });
  assert.equal(deployed.status(), 202, await deployed.text());
  const { id } = await deployed.json();

  await page.goto(`${dpe.url}/instances/${id}`);
  await hydrated(page);
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  assert.match(await page.locator('#version').innerText(), /\(current\)/);
  assert.equal(await page.locator('#update-available').count(), 0);

  // A new image is built; the admin finds it and makes it current on the
  // Versions page, as the README tells.
  buildSecondVersion();
  await page.goto(`${dpe.url}/settings/versions`);
  await hydrated(page);
  const rows = page.locator('#versions tbody tr');
  assert.equal(await rows.count(), 1);
  assert.equal(await rows.first().locator('.badge.current').count(), 1);
  await page.click('#scan-versions');
  const newer = page.locator('#versions tbody tr', { hasText: 'dokuwiki 2025-05-14a on Debian 12.11' });
  await newer.waitFor();
  await page.locator('#scan-done').waitFor();
  assert.equal(await newer.locator('.badge.current').count(), 0, 'not current until made so');
  const changes = await newer.locator('ul.changes').innerText();
  assert.match(changes, /\+ dokuwiki 0\.0\.20250514a-1/);
  await shot(page, '89-versions-found');
  await newer.locator('summary', { hasText: 'Make current' }).click();
  await newer.locator('button[type=submit]', { hasText: 'Make current' }).click();
  await page.locator('#version-made-current').waitFor();
  await newer.locator('.badge.current').waitFor();
  const older = page.locator('#versions tbody tr', { hasNotText: '2025-05-14a' });
  assert.equal(await older.locator('.badge.current').count(), 0);
  assert.equal(await older.locator('td').first().innerText(), '1', 'old-wiki still runs the older one');
  await shot(page, '89-versions-made-current');

  await page.goto(`${dpe.url}/instances`);
  await hydrated(page);
  const row = page.locator('table.instances tr', { hasText: 'old-wiki' });
  await row.locator('.badge.update', { hasText: 'Update available' }).waitFor();
  await shot(page, '90-instances-update-available');

  await page.goto(`${dpe.url}/instances/${id}`);
  await hydrated(page);
  const banner = page.locator('#update-available');
  await banner.waitFor();
  const text = await banner.innerText();
  assert.match(text, /Update available/);
  assert.match(text, /\+ dokuwiki 0\.0\.20250514a-1/);
  assert.match(text, /\+ nginx 1\.22\.1-9\+deb12u2/);
  assert.match(await page.locator('#version').innerText(), /Update available/);
  await shot(page, '91-instance-update-available');
  await page.close();
});
