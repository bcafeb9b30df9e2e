// The warm pool from the portal, on libvirt's test driver with the warm
// test stack: the dashboard's card shows members booting and ready, an
// admin sets the targets (a bad one is refused at its field), and a deploy
// claims a ready member and runs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hydrated, portalOnTestDriver, shot, signIn, stopAll } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let browser;

before(async () => ({ dpe, browser } = await portalOnTestDriver(PASSWORD, { stack: 'warm-stack' })));
after(() => stopAll(browser, dpe));

/** The dashboard's pool row of `size`: [ready, booting] as numbers. */
async function counts(page, size) {
  const row = page.locator('.pool-table tbody tr', { has: page.locator('th', { hasText: size }) });
  const cells = await row.locator('td').allInnerTexts();
  return [Number(cells[0]), Number(cells[1])];
}

test('an admin sees the warm pool on the dashboard, sizes it, and a deploy claims a member', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await signIn(page, dpe, PASSWORD);
  await page.goto(dpe.url + '/');
  await hydrated(page);
  await page.getByRole('heading', { name: 'Warm pool' }).waitFor();
  // The default keeps one member of the first size; the card follows it
  // from booting to ready by itself.
  assert.equal(await page.getByLabel('Keep ready: tiny').inputValue(), '1');
  for (let i = 0; i < 100; i++) {
    if ((await counts(page, 'tiny'))[0] === 1) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.deepEqual(await counts(page, 'tiny'), [1, 0], 'one member ready');
  await shot(page, '50-dashboard-pool');

  // Too many is refused at the field, and nothing is kept.
  await page.getByLabel('Keep ready: tiny').fill('17');
  await page.getByRole('button', { name: 'Save pool targets' }).click();
  const error = page.locator('#pool-tiny-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.innerText(), /at most 16/);
  await shot(page, '51-pool-error');
  const kept = await page.request.get(`${dpe.url}/api/v1/pool`);
  assert.equal((await kept.json()).targets.tiny, 1);

  await page.getByLabel('Keep ready: tiny').fill('2');
  await page.getByRole('button', { name: 'Save pool targets' }).click();
  await error.waitFor({ state: 'hidden' });
  for (let i = 0; i < 100; i++) {
    const pool = await (await page.request.get(`${dpe.url}/api/v1/pool`)).json();
    if (pool.targets.tiny === 2 && pool.members.filter((m) => m.state === 'ready').length === 2) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await page.reload();
  await hydrated(page);
  assert.equal(await page.getByLabel('Keep ready: tiny').inputValue(), '2');
  assert.deepEqual(await counts(page, 'tiny'), [2, 0], 'two members ready');

  // A deploy claims one and runs; the pool boots another in its place.
  await page.goto(dpe.url + '/deploy');
  await hydrated(page);
  await page.getByLabel('Instance name').fill('warm-wiki');
  await page.getByLabel('Title').fill('Warm');
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.waitForURL(/\/instances\/\d+$/);
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  await shot(page, '52-warm-deploy');
  const claimed = await page.request.get(`${dpe.url}/api/v1/pool`);
  assert.ok((await claimed.json()).members.every((m) => m.state !== 'claiming'));
  await page.close();
});
