// What a cold load of each main page transfers, as Chromium counts it (the
// release build over HTTPS, empty cache): scripts/bench-page-weight runs
// this and prints the figures. A figure, not a test of a target.
import { test, after, before } from 'node:test';
import { launchBrowser, setUp, signIn, startDpe, hydrated } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
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

test('cold page weights', async () => {
  const warm = await browser.newPage();
  await signIn(warm, dpe, PASSWORD);
  const cookies = await warm.context().cookies();
  const rows = [];
  for (const path of ['/login', '/', '/instances', '/deploy']) {
    // A new context each time: an empty cache, as on a first visit.
    const page = await browser.newPage();
    if (path !== '/login') await page.context().addCookies(cookies);
    await page.goto(dpe.url + path);
    await hydrated(page);
    await page.waitForLoadState('networkidle');
    const entries = await page.evaluate(() => [
      ...performance.getEntriesByType('navigation'),
      ...performance.getEntriesByType('resource'),
    ].map((e) => ({ name: new URL(e.name).pathname, transfer: e.transferSize, body: e.decodedBodySize })));
    const total = entries.reduce((sum, e) => sum + e.transfer, 0);
    rows.push({ path, total, entries });
    await page.context().close();
  }
  for (const { path, total, entries } of rows) {
    console.log(`page-weight: ${path.padEnd(11)} ${(total / 1024).toFixed(1).padStart(7)} KiB transferred, cold`);
    for (const e of entries) {
      console.log(`page-weight:   ${e.name.slice(0, 40).padEnd(40)} ${(e.transfer / 1024).toFixed(1).padStart(7)} KiB (${(e.body / 1024).toFixed(1)} KiB decoded)`);
    }
  }
});
