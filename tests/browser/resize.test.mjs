// Resizing in the portal: the instance page offers the stack's other
// sizes with what each gives, resizes as a task it follows live, and then
// shows the sizes it can no longer take (a smaller disk) with why.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hydrated, portalOnTestDriver, shot, signIn, stopAll } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let browser;

before(async () => ({ dpe, browser } = await portalOnTestDriver(PASSWORD)));
after(() => stopAll(browser, dpe));

test('an owner resizes an instance and a smaller disk is then shown as not possible', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
  await signIn(page, dpe, PASSWORD);
  const deployed = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'sized-wiki', size: 'tiny', params: { title: 'Sizes' } },
  });
  assert.equal(deployed.status(), 202, await deployed.text());
  const { id } = await deployed.json();

  await page.goto(`${dpe.url}/instances/${id}`);
  await hydrated(page);
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  const section = page.locator('#resize');
  await section.locator('#resize-hint', { hasText: 'Now tiny' }).waitFor();
  assert.equal(await section.locator('#resize-tiny').count(), 0, 'its own size is not offered');
  const roomy = section.locator('label', { hasText: 'roomy' });
  assert.match(await roomy.innerText(), /2 vCPUs, 384 MiB memory, 2 GiB disk \(reboots it\)/);
  assert.ok(await section.locator('#resize-roomy').isEnabled());
  // More memory than the host has: shown, not possible, with why.
  assert.ok(await section.locator('#resize-huge').isDisabled());
  assert.match(await section.locator('label', { hasText: 'huge' }).innerText(),
    /Not possible: its host vm has no room for/);
  await page.locator('#resize').scrollIntoViewIfNeeded();
  await shot(page, '80-instance-resize');

  await roomy.click();
  await page.locator('#resize-button').click();
  // The page follows the task live and redraws with the new size (on
  // the test driver the task may end before its "started" banner shows).
  await page.locator('#resize-hint', { hasText: 'Now roomy' }).waitFor({ timeout: 30000 });
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  const facts = await page.locator('dl.facts').innerText();
  assert.match(facts, /Size\s+roomy/);

  // Back to tiny would shrink the disk: shown, disabled, with why.
  const tiny = page.locator('#resize label', { hasText: 'tiny' });
  assert.ok(await page.locator('#resize-tiny').isDisabled());
  assert.match(await tiny.innerText(), /Not possible: a disk cannot shrink: the instance has 2 GiB/);
  assert.ok(await page.locator('#resize-wide').isEnabled(), 'a larger disk is possible');
  await page.locator('#resize').scrollIntoViewIfNeeded();
  await shot(page, '81-instance-resized');

  const audit = await page.request.get(`${dpe.url}/api/v1/audit`);
  const records = await audit.json();
  assert.ok(records.some((r) => r.action === 'instance.resize'), JSON.stringify(records.slice(0, 3)));
  await page.close();
});
