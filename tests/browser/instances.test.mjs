// The instances list at department size: a page at a time, searched,
// filtered and sorted from the address bar; and kept up to date by the
// live feed, as is an instance's page, without a reload.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  ROOT, cutOnPurpose, fakeImages, hydrated, launchBrowser, setUp, shot, signIn, startDpe,
} from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let browser;

before(async () => {
  dpe = await startDpe({
    DPE_STACK_DIR: join(ROOT, 'server/tests/fixtures/stack'),
    DPE_IMAGE_DIR: fakeImages(),
    DPE_RECONCILE_INTERVAL_MS: '300',
  });
  await setUp(dpe, PASSWORD);
  // 120 made-up instances (records only): names seed-00000 to seed-00119,
  // one in twenty failed.
  const bin = process.env.DPE_BIN ?? join(ROOT, 'target/debug/dpe');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DPE_')));
  execFileSync(bin, ['dev', 'seed', '--data-dir', dpe.dataDir, '--prefix', 'seed', '--instances', '120'], {
    env, stdio: ['ignore', 'inherit', 'inherit'],
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dpe?.stop();
});

const names = (page) => page.locator('table.instances tbody tr td:first-child a').allInnerTexts();

/** The admin's instance list, hydrated, and how often it has loaded since. */
async function openList() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, dpe, PASSWORD);
  await page.goto(dpe.url + '/instances');
  await hydrated(page);
  let loads = 0;
  page.on('load', () => { loads += 1; });
  return { page, loads: () => loads };
}

test('each page names its own code to preload, once, however many render at a time', async () => {
  // Leptos 0.8.9 registered these links under whichever request the
  // server's thread had last rendered: under load most pages lost them,
  // and others carried several sets (see vendor/leptos_integration_utils).
  const page = await browser.newPage();
  await signIn(page, dpe, PASSWORD);
  const pages = await Promise.all(Array.from({ length: 48 }, async (_, i) => {
    const r = await page.request.get(`${dpe.url}/instances?q=seed-000${i % 10}`);
    assert.equal(r.status(), 200);
    return r.text();
  }));
  const counts = pages.map((html) => html.match(/<link[^>]*__wasm_split[^>]*>/g)?.length ?? 0);
  assert.deepEqual(counts, counts.map(() => 1), 'one set of preloads on each page');
  await page.close();
});

test('a long list comes a page at a time, searched, filtered and sorted', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, dpe, PASSWORD);
  await page.goto(dpe.url + '/instances');
  await hydrated(page);
  const first = await names(page);
  assert.equal(first.length, 50, 'fifty to a page');
  assert.equal(first[0], 'seed-00119', 'newest first');
  await shot(page, '40-instances-first-page');

  await page.getByRole('link', { name: 'Next page' }).click();
  await page.waitForURL(/cursor=/);
  await page.getByRole('link', { name: 'seed-00069' }).waitFor();
  const second = await names(page);
  assert.equal(second.length, 50);
  assert.equal(second[0], 'seed-00069', 'the second page follows the first');
  await page.getByRole('link', { name: 'First page' }).click();
  await page.getByRole('link', { name: 'seed-00119' }).waitFor();

  // Search: the address says what is shown, so it is a link.
  await page.getByRole('searchbox').fill('seed-0004');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/q=seed-0004/);
  await page.getByRole('link', { name: 'seed-00040' }).waitFor();
  assert.deepEqual((await names(page)).sort(), Array.from({ length: 10 }, (_, i) => `seed-0004${i}`));
  assert.equal(await page.getByRole('link', { name: 'Next page' }).count(), 0);
  await shot(page, '41-instances-search');

  // A state and an order: the failed ones, z to a.
  await page.getByRole('link', { name: 'Clear' }).click();
  await page.waitForURL(dpe.url + '/instances');
  await page.locator('#filter-state').selectOption({ label: 'Failed' });
  await page.locator('#filter-sort').selectOption({ label: 'Name, Z to A' });
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/state=failed/);
  await page.getByRole('link', { name: 'seed-00100' }).waitFor();
  assert.deepEqual(await names(page), ['seed-00100', 'seed-00080', 'seed-00060', 'seed-00040', 'seed-00020', 'seed-00000']);
  await shot(page, '42-instances-failed');

  // Nothing found says so, with a way back.
  await page.goto(dpe.url + '/instances?q=no-such-thing');
  await page.getByText('No instance matches.').waitFor();

  // The dashboard counts them, what needs attention first; each count
  // leads to the list of those.
  await page.goto(dpe.url + '/');
  await hydrated(page);
  const attention = page.getByRole('region', { name: 'Needs attention' });
  await attention.getByRole('link', { name: '6 failed deploys' }).waitFor();
  assert.equal(await attention.getByRole('listitem').count(), 5, 'the newest five');
  await shot(page, '45-dashboard-attention');
  await page.getByRole('link', { name: '120 instances' }).waitFor();
  await page.getByRole('link', { name: /^6 failed$/ }).click();
  await page.waitForURL(/\/instances\?state=failed/);
  await page.getByRole('link', { name: 'seed-00100' }).waitFor();
  await page.close();
});

test('a new instance appears on an open list, and its page follows it, with no reload', async () => {
  const { page, loads } = await openList();
  // Deployed elsewhere (the API, with the same session).
  const r = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'live-one', size: 'tiny', params: { title: 'Live' } },
  });
  assert.equal(r.status(), 202, await r.text());
  const { id } = await r.json();
  const row = page.locator('table.instances tbody tr', { has: page.getByRole('link', { name: 'live-one' }) });
  await row.waitFor({ timeout: 15000 });
  await row.locator('.badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  assert.equal(loads(), 0, 'the list was not reloaded');
  await shot(page, '43-instances-live');

  await page.getByRole('link', { name: 'live-one' }).click();
  await page.waitForURL(`**/instances/${id}`);
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor();
  const shutdown = await page.request.post(`${dpe.url}/api/v1/instances/${id}/shutdown`);
  assert.equal(shutdown.status(), 202, await shutdown.text());
  await page.locator('.page-head .badge', { hasText: 'shut off' }).waitFor({ timeout: 15000 });
  assert.equal(loads(), 0, 'the instance page was not reloaded');
  await page.close();
});

test('a list whose feed was cut catches up from its last event when it comes back', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const feeds = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/v1/events') feeds.push(r);
  });
  await signIn(page, dpe, PASSWORD);
  await page.goto(dpe.url + '/instances');
  await hydrated(page);
  let loads = 0;
  page.on('load', () => { loads += 1; });
  const deploy = async (name) => {
    const r = await page.request.post(`${dpe.url}/api/v1/instances`, {
      data: { name, size: 'tiny', params: { title: name } },
    });
    assert.equal(r.status(), 202, await r.text());
  };
  const running = (name) => page
    .locator('table.instances tbody tr', { has: page.getByRole('link', { name, exact: true }) })
    .locator('.badge', { hasText: 'running' });

  // An event with an id has arrived, so the feed has a place to resume from.
  await deploy('before-cut');
  await running('before-cut').waitFor({ timeout: 15000 });
  const opened = feeds.length;

  // The network goes away: the connections drop (killed in the kernel,
  // as a pulled cable or a restarted proxy would), and no new one can be
  // made. Meanwhile an instance is deployed and starts: the page cannot
  // hear of it.
  await page.context().setOffline(true);
  execFileSync('ss', ['-K', 'dst', '127.0.0.1', 'dport', '=', new URL(dpe.url).port], { stdio: 'ignore' });
  await deploy('while-away');
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(await page.getByRole('link', { name: 'while-away', exact: true }).count(), 0);

  // Back online, the browser reconnects saying where it was, and the
  // list catches up by itself.
  await page.context().setOffline(false);
  await running('while-away').waitFor({ timeout: 20000 });
  assert.equal(loads, 0, 'the list was not reloaded');
  const again = feeds.slice(opened);
  assert.ok(again.length >= 1, 'the feed reconnected');
  const resumedFrom = await again[again.length - 1].headerValue('last-event-id');
  assert.match(resumedFrom ?? '', /^\d+$/, 'it resumed from the last event it had');
  await shot(page, '44-instances-caught-up');
  await page.close();
});

test('a list whose reload fails keeps what it showed, says so, and tries again by itself', async () => {
  const { page, loads } = await openList();
  const shown = (await names(page)).length;
  assert.ok(shown > 0);

  // The feed stays up, but the list's own reloads fail (a proxy in
  // trouble): a deploy elsewhere is told, and the reload it starts fails.
  // A second feed on the page, to know when the appliance is quiet.
  await page.evaluate(() => {
    window.dpeEvents = [];
    const feed = new EventSource('/api/v1/events');
    for (const name of ['instance', 'instance_removed', 'task', 'reset']) {
      feed.addEventListener(name, () => window.dpeEvents.push(Date.now()));
    }
  });
  const mend = await cutOnPurpose(page, '/fn/instances');
  const r = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'during-blip', size: 'tiny', params: { title: 'Blip' } },
  });
  assert.equal(r.status(), 202, await r.text());
  const { id } = await r.json();
  const stale = page.locator('.banner.stale');
  await stale.waitFor({ timeout: 15000 });
  assert.match(await stale.innerText(), /Not up to date: could not reach the appliance/);
  assert.equal((await names(page)).length, shown, 'what was shown is still shown');
  await shot(page, '46-instances-stale');

  // Once the deploy is over and nothing more changes, the network mends:
  // the page tries again by itself and catches up.
  for (let i = 0; ; i++) {
    const now = await (await page.request.get(`${dpe.url}/api/v1/instances/${id}`)).json();
    if (now.state === 'running' && now.task_id === null) break;
    assert.ok(i < 150, `the deploy did not end: ${JSON.stringify(now)}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  // Quiet for 3 s: no change is on its way that would reload the list.
  for (let i = 0; ; i++) {
    const last = await page.evaluate(() => window.dpeEvents.at(-1) ?? 0);
    if (Date.now() - last > 3000) break;
    assert.ok(i < 300, 'the appliance never went quiet');
    await new Promise((ok) => setTimeout(ok, 100));
  }
  const mended = Date.now();
  await mend();
  await page.getByRole('link', { name: 'during-blip', exact: true }).waitFor({ timeout: 35000 });
  await stale.waitFor({ state: 'detached' });
  const told = await page.evaluate((since) => window.dpeEvents.filter((t) => t >= since).length, mended);
  assert.equal(told, 0, 'no change came meanwhile: the page tried again by itself');
  console.log(`figures: caught up ${Date.now() - mended} ms after the network mended`);
  assert.equal(loads(), 0, 'the list was not reloaded');
  await page.close();
});
