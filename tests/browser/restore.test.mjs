// A store restored from a copy, on a real TCG guest (image/test-guest):
// the guest deployed after the copy is kept, not removed, and shown on the
// dashboard; the admin adopts it back as an instance. scripts/test runs
// this inside the private network namespace, with DPE_TEST_GUEST_DIR set;
// elsewhere it is skipped.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hydrated, inherited, portalOnRealGuests, realGuestEnv, runningGuest, shot, signIn, startDpe, stopAll } from './harness.mjs';

const GUEST_DIR = process.env.DPE_TEST_GUEST_DIR;
const PASSWORD = 'amber-Lantern-47-quince';
const ENV = realGuestEnv(GUEST_DIR, 'restore');
let dpe;
let browser;

before(async () => {
  if (!GUEST_DIR) return;
  ({ dpe, browser } = await portalOnRealGuests(PASSWORD, { guestDir: GUEST_DIR, name: 'restore', appliance: 'Restore test' }));
});
after(() => stopAll(browser, dpe));

const dpeCommand = (...args) => execFileSync(dpe.bin, args, {
  env: { ...inherited(), ...ENV, DPE_DATA_DIR: dpe.dataDir },
  encoding: 'utf8',
});

test('after a store restored from an older copy, the guest deployed since is kept on the dashboard and adopted back', { skip: !GUEST_DIR && 'needs DPE_TEST_GUEST_DIR (scripts/test)', timeout: 300_000 }, async () => {
  let page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, dpe, PASSWORD);
  await runningGuest(page, dpe, 'before-copy');
  const copy = join(dpe.dataDir, '..', `dpe-restore-copy-${process.pid}.sqlite3`);
  dpeCommand('backup', copy, '--force');
  await runningGuest(page, dpe, 'after-copy');
  await page.close();

  // The appliance's store is put back from the copy: it never heard of
  // after-copy, whose guest runs on.
  const dataDir = dpe.dataDir;
  await dpe.stop({ keep: true });
  const said = dpeCommand('restore-store', copy, '--force');
  assert.match(said, /kept until an admin decides/);
  dpe = await startDpe(ENV, dataDir);

  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  // A guest's tap device coming up a moment ago makes Chromium report a
  // network change to the page that loads meanwhile: load it again.
  for (let attempt = 1; ; attempt++) {
    try {
      await signIn(page, dpe, PASSWORD);
      break;
    } catch (e) {
      if (attempt === 3 || !String(e.message).includes('ERR_NETWORK_CHANGED')) throw e;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  await hydrated(page);
  const kept = page.locator('#kept-leftovers');
  // The reconciler's first passes find it: the dashboard asks again.
  const started = Date.now();
  while (!(await kept.locator('tr', { hasText: 'after-copy' }).count())) {
    assert.ok(Date.now() - started < 30_000, 'the kept guest is never listed');
    await new Promise((r) => setTimeout(r, 1000));
    await page.reload();
    await hydrated(page);
  }
  await kept.scrollIntoViewIfNeeded();
  await shot(page, '70-kept-after-restore');
  const row = kept.locator('tr', { hasText: 'after-copy' });
  assert.match(await row.innerText(), /guest[\s\S]*admin[\s\S]*running/);

  await row.getByRole('button', { name: 'Adopt' }).click();
  await kept.locator('tr', { hasText: 'after-copy' }).waitFor({ state: 'detached', timeout: 15_000 });
  await page.goto(`${dpe.url}/instances`);
  await hydrated(page);
  const listed = page.locator('tr', { hasText: 'after-copy' });
  await listed.waitFor();
  assert.match(await listed.innerText(), /[Rr]unning/);
  await shot(page, '71-adopted-in-list');

  // What is left (its seed's and disk's volumes were adopted with it) is
  // let go; the section goes.
  await page.goto(dpe.url + '/');
  await hydrated(page);
  if (await page.locator('#kept-leftovers').count()) {
    await page.locator('#release-leftovers').click();
    await page.locator('#kept-leftovers').waitFor({ state: 'detached', timeout: 15_000 });
  }
  const leftovers = await (await page.request.get(`${dpe.url}/api/v1/orphans`)).json();
  assert.equal(leftovers.held_since, null, JSON.stringify(leftovers));
});
