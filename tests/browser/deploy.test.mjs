// Deploying from the portal on libvirt's test driver: the form generated
// from the stack's manifest, inline validation, live progress, the instance
// page with lifecycle buttons, and delete.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, deleteInstance, fakeImages, hydrated, launchBrowser, setUp, shot, signIn, startDpe } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let browser;

before(async () => {
  dpe = await startDpe({
    DPE_STACK_DIR: join(ROOT, 'server/tests/fixtures/stack'),
    DPE_IMAGE_DIR: fakeImages(),
    DPE_RECONCILE_INTERVAL_MS: '300',
    // A reading of what instances use every second, not every 10.
    DPE_USAGE_INTERVAL_MS: '1000',
    // libvirt's test driver runs no guest: a restore drill there fails
    // once this runs out (the sandbox's QEMU tests see one pass).
    DPE_DRILL_TIMEOUT_SECS: '2',
  });
  await setUp(dpe, PASSWORD);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dpe?.stop();
});

test('a user deploys from the portal, watches it, and deletes it', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, dpe, PASSWORD);

  await page.goto(dpe.url + '/instances');
  await page.getByText('Nothing deployed yet.').waitFor();
  await page.getByRole('link', { name: 'Deploy your first instance' }).click();
  await page.waitForURL('**/deploy');
  await hydrated(page);

  // Invalid name: the message sits under the field.
  await page.getByLabel('Instance name').fill('Not A Label!');
  await page.getByLabel('Title').fill('Team <wiki> & "co"');
  await page.getByRole('button', { name: 'Deploy' }).click();
  const nameError = page.locator('#name-error');
  await nameError.waitFor({ state: 'visible' });
  assert.match(await nameError.innerText(), /not allowed/);
  await shot(page, '10-deploy-form-error');

  await page.getByLabel('Instance name').fill('wiki-1');
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.waitForURL(/\/instances\/\d+$/);
  await page.getByRole('heading', { name: 'wiki-1' }).waitFor();
  await shot(page, '11-deploy-progress');
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  // An admin is offered a move; with one host, the page says where to add another.
  const moveNone = page.locator('#move-none');
  await moveNone.waitFor();
  assert.match(await moveNone.innerText(), /No other host takes instances/);
  assert.equal(await page.locator('#move-button').isVisible(), false);
  await shot(page, '12-instance-running');
  const instanceUrl = page.url();

  // Its application's health is not known (the test driver's guests have
  // no address), so the page keeps looking. Without JavaScript it reloads
  // itself...
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  await noJs.addCookies(await page.context().cookies());
  const plain = await noJs.newPage();
  let plainLoads = 0;
  plain.on('load', () => { plainLoads += 1; });
  await plain.goto(instanceUrl);
  for (let i = 0; i < 100 && plainLoads < 2; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(plainLoads >= 2, `a page without JavaScript reloads itself (${plainLoads} loads)`);
  await noJs.close();
  // ...while a hydrated page follows the live feed and never reloads: a shutdown made
  // elsewhere (the API) shows up on it without a navigation.
  let loads = 0;
  page.on('load', () => { loads += 1; });
  const id = instanceUrl.split('/').pop();
  const shutdown = await page.request.post(`${dpe.url}/api/v1/instances/${id}/shutdown`);
  assert.equal(shutdown.status(), 202, await shutdown.text());
  await page.locator('.page-head .badge', { hasText: 'shut off' }).waitFor({ timeout: 15000 });
  assert.equal(loads, 0, 'the hydrated page was not reloaded');
  await page.getByRole('button', { name: 'Start' }).click();
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });

  await page.goto(dpe.url + '/instances');
  await page.getByRole('link', { name: 'wiki-1' }).waitFor();
  await shot(page, '13-instances');

  await page.getByRole('link', { name: 'wiki-1' }).click();
  await page.waitForURL(/\/instances\/\d+$/);
  await hydrated(page);
  await deleteInstance(page);
  await page.waitForURL('**/instances');
  // The delete runs as a task; the list empties once it is done.
  for (let i = 0; i < 50; i++) {
    await page.reload();
    if (await page.getByText('Nothing deployed yet.').isVisible()) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(await page.getByText('Nothing deployed yet.').isVisible(), 'deleted');
  await page.close();
});

test('a user snapshots an instance, reverts to it and deletes the snapshot', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  await signIn(page, dpe, PASSWORD);
  const deployed = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'snap-wiki', size: 'tiny', params: { title: 'Snapshots' } },
  });
  assert.equal(deployed.status(), 202, await deployed.text());
  const { id } = await deployed.json();
  await page.goto(`${dpe.url}/instances/${id}`);
  await hydrated(page);
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  await page.locator('#snapshot-count', { hasText: '0 of 5 snapshots kept.' }).waitFor();

  // A blank name is refused at its field; nothing is taken.
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  const nameError = page.locator('#snapshot-name-error');
  await nameError.waitFor({ state: 'visible' });
  assert.match(await nameError.innerText(), /required/);

  await page.getByLabel('Name', { exact: true }).fill('before the update');
  await page.getByLabel('Description (optional)').fill('plugins as they were');
  await page.getByRole('button', { name: 'Take snapshot' }).click();
  const list = page.locator('#snapshot-list');
  await list.locator('tr', { hasText: 'before the update' }).locator('.badge', { hasText: 'ready' })
    .waitFor({ timeout: 15000 });
  await page.locator('#snapshot-count', { hasText: '1 of 5 snapshots kept.' }).waitFor();
  await shot(page, '17-instance-snapshots');

  // Revert asks first, then runs as the instance's task.
  const row = list.locator('tr', { hasText: 'before the update' });
  await row.locator('summary', { hasText: 'Revert' }).click();
  await row.getByText('What changed since is lost.').waitFor();
  await row.getByRole('button', { name: 'Revert', exact: true }).click();
  // The revert is recorded, and the instance runs again with its snapshot ready.
  for (let i = 0; i < 75; i++) {
    const audit = await (await page.request.get(`${dpe.url}/api/v1/audit`)).json();
    if (audit.some((r) => r.action === 'instance.revert')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const audit = await (await page.request.get(`${dpe.url}/api/v1/audit`)).json();
  assert.ok(audit.some((r) => r.action === 'instance.revert'), 'the revert is in the audit log');
  await page.locator('#take-snapshot:enabled').waitFor({ timeout: 15000 });
  await row.locator('.badge', { hasText: 'ready' }).waitFor({ timeout: 15000 });
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });

  await row.locator('summary', { hasText: 'Delete' }).click();
  await row.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.locator('#snapshot-count', { hasText: '0 of 5 snapshots kept.' })
    .waitFor({ timeout: 15000 });
  await shot(page, '18-instance-snapshot-deleted');
  await page.close();
});

test('a user sees a running instance\'s usage drawn, and looks at the day instead of the hour', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await signIn(page, dpe, PASSWORD);
  const deployed = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'busy-wiki', size: 'tiny', params: { title: 'Usage' } },
  });
  assert.equal(deployed.status(), 202, await deployed.text());
  const { id } = await deployed.json();
  // Two readings make the first point (a rate needs two).
  for (let i = 0; ; i++) {
    const usage = await (await page.request.get(`${dpe.url}/api/v1/instances/${id}/usage`)).json();
    if (usage.points?.length) break;
    assert.ok(i < 60, `no usage point: ${JSON.stringify(usage)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  await page.goto(`${dpe.url}/instances/${id}`);
  await hydrated(page);
  const section = page.locator('#usage');
  for (const chart of ['cpu', 'memory', 'disk', 'network']) {
    await section.locator(`#usage-${chart} polyline`).first().waitFor({ state: 'attached' });
  }
  assert.match(await section.locator('#usage-cpu svg').getAttribute('aria-label'), /^CPU: now \d+ %/);
  assert.equal(await section.getByRole('link', { name: '1 hour' }).getAttribute('aria-current'), 'true');
  await section.scrollIntoViewIfNeeded();
  await shot(page, '18-instance-usage');
  // The hour follows the live feed: the next reading is drawn without a
  // reload (readings come every 10 s).
  const points = () => section.locator('#usage-cpu polyline').evaluateAll(
    (lines) => lines.flatMap((l) => l.getAttribute('points').split(' ')).length);
  const before = await points();
  await page.waitForFunction(
    (was) => [...document.querySelectorAll('#usage-cpu polyline')]
      .flatMap((l) => l.getAttribute('points').split(' ')).length > was,
    before, { timeout: 30_000 });
  assert.ok(await points() > before, 'a point more');

  await section.getByRole('link', { name: '1 day' }).click();
  await page.waitForURL(/usage=day/);
  await section.locator('p.hint', { hasText: 'Means of 300s each' }).waitFor();
  assert.equal(await section.getByRole('link', { name: '1 day' }).getAttribute('aria-current'), 'true');
  await section.locator('#usage-cpu polyline').first().waitFor({ state: 'attached' });
  await deleteInstance(page);
  await page.waitForURL(`${dpe.url}/instances`);
});

test('an open confirmation stays open while the page redraws for a running task', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  await signIn(page, dpe, PASSWORD);
  const deployed = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'steady-wiki', size: 'tiny', params: { title: 'Steady' } },
  });
  assert.equal(deployed.status(), 202, await deployed.text());
  const { id } = await deployed.json();
  await page.goto(`${dpe.url}/instances/${id}`);
  await hydrated(page);
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  await page.locator('#delete-instance summary').click();
  await page.locator('#delete-instance').getByText('Its backups are kept').waitFor();

  // Someone else takes a snapshot: the page redraws for its task, live.
  const taken = await page.request.post(`${dpe.url}/api/v1/instances/${id}/snapshots`, {
    data: { name: 'meanwhile' },
  });
  assert.equal(taken.status(), 202, await taken.text());
  await page.locator('#snapshot-list tr', { hasText: 'meanwhile' }).locator('.badge', { hasText: 'ready' })
    .waitFor({ timeout: 15000 });
  assert.equal(await page.locator('#delete-instance').evaluate((d) => d.open), true,
    'the confirmation the person opened is still open');
  await page.locator('#delete-instance').getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL('**/instances');
  await page.close();
});

test('a user backs an instance up, deletes it, and restores it from the Backups page', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1300 } });
  await signIn(page, dpe, PASSWORD);
  const deployed = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'kept-wiki', size: 'tiny', params: { title: 'Kept' } },
  });
  assert.equal(deployed.status(), 202, await deployed.text());
  const { id } = await deployed.json();
  await page.goto(`${dpe.url}/instances/${id}`);
  await hydrated(page);
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  await page.locator('#backup-policy', { hasText: 'Backed up daily at 02:00 UTC' }).waitFor();

  // Two backups: the first full, the second incremental.
  const backupsList = page.locator('#backup-list');
  await page.getByRole('button', { name: 'Back up now' }).click();
  await backupsList.locator('tr .badge', { hasText: 'ready' }).first().waitFor({ timeout: 15000 });
  await page.locator('#start-backup:enabled').waitFor({ timeout: 15000 });
  await page.getByRole('button', { name: 'Back up now' }).click();
  await backupsList.locator('tr', { hasText: 'incremental' }).locator('.badge', { hasText: 'ready' })
    .waitFor({ timeout: 15000 });
  await shot(page, '19-instance-backups');

  // The full backup goes back over the instance; the disk it replaces is
  // kept as a snapshot.
  await page.locator('#start-backup:enabled').waitFor({ timeout: 15000 });
  const fullRow = backupsList.locator('tr', { hasText: 'full' });
  await fullRow.locator('summary', { hasText: 'Restore over' }).click();
  await fullRow.getByText('kept as a snapshot to go back to').waitFor();
  await fullRow.getByRole('button', { name: 'Restore over', exact: true }).click();
  const keptRow = page.locator('#snapshot-list tr', { hasText: 'before restore' });
  await keptRow.getByText('disk copy').waitFor({ timeout: 15000 });
  await keptRow.locator('.badge', { hasText: 'ready' }).waitFor({ timeout: 15000 });
  await page.locator('#start-backup:enabled').waitFor({ timeout: 15000 });
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  await shot(page, '19b-restored-over');
  const restoredOver = await (await page.request.get(`${dpe.url}/api/v1/audit?action=instance.restore`)).json();
  assert.equal(restoredOver.length, 1, JSON.stringify(restoredOver));

  // A restore drill, started from the row: it runs, then says how it went.
  const incRow = backupsList.locator('tr', { hasText: 'incremental' });
  await incRow.getByRole('button', { name: 'Test restore' }).click();
  await incRow.locator('.drill.bad', { hasText: 'got no address' }).waitFor({ timeout: 20000 });
  await shot(page, '19c-restore-drill');

  // Delete says the backups stay.
  await page.locator('section.progress').waitFor({ state: 'detached', timeout: 15000 });
  await page.locator('#start-backup:enabled').waitFor({ timeout: 15000 });
  await page.locator('#delete-instance summary').click();
  await page.locator('#delete-instance').getByText('Its backups are kept').waitFor();
  await page.locator('#delete-instance').getByRole('button', { name: 'Delete' }).click();
  await page.waitForURL('**/instances');

  await page.getByRole('link', { name: 'Backups' }).click();
  await page.waitForURL('**/backups');
  await hydrated(page);
  await page.locator('#backup-store').waitFor();
  const row = page.locator('tr.backup-row', { hasText: 'incremental' });
  await row.getByText('kept-wiki (deleted)').waitFor();
  await shot(page, '20-backups-page');
  await row.locator('summary', { hasText: 'Restore' }).click();
  await row.getByLabel("New instance's name").fill('kept-wiki-2');
  await row.getByRole('button', { name: 'Restore', exact: true }).click();
  // It leads to the new instance, which comes up from the backup.
  await page.waitForURL(/\/instances\/\d+$/);
  await hydrated(page);
  await page.getByRole('heading', { name: 'kept-wiki-2' }).waitFor();
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  await shot(page, '21-restored-instance');
  const audit = await (await page.request.get(`${dpe.url}/api/v1/audit?action=backup.restore`)).json();
  assert.equal(audit.length, 1, JSON.stringify(audit));

  // The admin moves the backup store to a directory of their own: a path
  // that is not one is refused at its field, then the store moves.
  await page.goto(`${dpe.url}/backups`);
  await hydrated(page);
  const store = page.locator('#backup-store');
  await store.locator('summary', { hasText: 'Change the store' }).click();
  await store.getByLabel('Store', { exact: true }).selectOption('directory');
  await store.getByLabel('Directory (for a directory)').fill('srv/backups');
  await store.getByRole('button', { name: 'Use this store' }).click();

  await store.locator('#store-path-error', { hasText: 'absolute path' }).waitFor();
  await store.getByLabel('Directory (for a directory)').fill('/srv/dpe-test-backups');
  await store.getByRole('button', { name: 'Use this store' }).click();
  await store.getByText('the directory /srv/dpe-test-backups on each host').waitFor();
  await shot(page, '21b-backup-store');
  await page.close();
});

test('an admin sets up the outside zone and a deploy lands on it', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, dpe, PASSWORD);
  await page.goto(dpe.url + '/deploy');
  await hydrated(page);
  await page.getByText('not set up by an admin yet').waitFor();

  await page.getByRole('link', { name: 'Networks' }).click();
  await page.waitForURL('**/networks');
  await hydrated(page);
  await page.locator('#outside-none').waitFor();
  // A router inside the pool is refused at its field; nothing is saved.
  await page.getByLabel('Bridge').fill('br-lan');
  await page.getByLabel('First address').fill('127.0.0.10');
  await page.getByLabel('Last address').fill('127.0.0.20');
  await page.getByLabel('Prefix length').fill('8');
  await page.getByLabel('Router (optional)').fill('127.0.0.15');
  await page.getByRole('button', { name: 'Save outside zone' }).click();
  const gatewayError = page.locator('#gateway-error');
  await gatewayError.waitFor({ state: 'visible' });
  assert.match(await gatewayError.innerText(), /inside the pool/);
  await shot(page, '14-networks-error');
  await page.getByLabel('Router (optional)').fill('127.0.0.1');
  await page.getByLabel('Name servers (optional)').fill('127.0.0.53, ::1');
  await page.getByRole('button', { name: 'Save outside zone' }).click();
  await page.locator('#outside-usage').waitFor();
  assert.equal(await page.locator('#outside-usage').innerText(), '0 of 11 addresses');
  await shot(page, '15-networks');

  await page.goto(dpe.url + '/deploy');
  await hydrated(page);
  await page.getByLabel('Instance name').fill('lan-wiki');
  await page.getByLabel('Title').fill('On the LAN');
  await page.getByLabel(/Outside: on the LAN \(br-lan\), 11 of 11 addresses free/).check();
  await shot(page, '16-deploy-outside');
  await page.getByRole('button', { name: 'Deploy' }).click();
  await page.waitForURL(/\/instances\/\d+$/);
  await page.getByText('127.0.0.10').first().waitFor();
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  page.once('dialog', (d) => d.accept());
  await deleteInstance(page);
  await page.waitForURL('**/instances');
  await page.close();
});
