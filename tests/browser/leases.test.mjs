// Leases in the portal: the instance page says when it expires and extends
// it (within the policy, refused beyond it), and the list shows the date.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hydrated, portalOnTestDriver, shot, signIn, stopAll } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let browser;

before(async () => ({ dpe, browser } = await portalOnTestDriver(PASSWORD)));
after(() => stopAll(browser, dpe));

/** The date `days` from now, as a date input holds it (UTC). */
const dayAhead = (days) => new Date(Date.now() + days * 86400000).toISOString().slice(0, 10);

test('an instance page shows its lease and extends it within the policy', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1300 } });
  await signIn(page, dpe, PASSWORD);
  const policy = await page.request.put(`${dpe.url}/api/v1/lease-policy`, {
    data: { lease_days: 30, extendable: true, max_days: 60, grace_days: 7 },
  });
  assert.equal(policy.status(), 200, await policy.text());
  const deployed = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name: 'leased-wiki', size: 'tiny', params: { title: 'Leases' } },
  });
  assert.equal(deployed.status(), 202, await deployed.text());
  const { id } = await deployed.json();

  await page.goto(`${dpe.url}/instances/${id}`);
  await hydrated(page);
  await page.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  const state = page.locator('#lease-state');
  assert.match(await state.innerText(), new RegExp(`Expires ${dayAhead(30)}`));
  assert.equal(await page.getByLabel('Extend until').inputValue(), dayAhead(30));

  // The appliance admin may set any date; so this goes through.
  await page.getByLabel('Extend until').fill(dayAhead(45));
  await page.getByRole('button', { name: 'Extend' }).click();
  await page.locator('#lease-saved').waitFor();
  await page.locator('#lease-state', { hasText: `Expires ${dayAhead(45)}` }).waitFor();
  await shot(page, '60-instance-lease');

  // A date in the past is refused at its field, and changes nothing.
  await page.getByLabel('Extend until').fill('2001-01-01');
  await page.getByRole('button', { name: 'Extend' }).click();
  const error = page.locator('#lease-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.innerText(), /future/);
  assert.match(await state.innerText(), new RegExp(`Expires ${dayAhead(45)}`));
  await shot(page, '61-instance-lease-refused');

  await page.goto(`${dpe.url}/instances`);
  await hydrated(page);
  const row = page.locator('table.instances tr', { hasText: 'leased-wiki' });
  assert.equal(await row.locator('td.lease').innerText(), dayAhead(45));
  await shot(page, '62-instances-expiry');
  await page.close();
});

test('an appliance admin gives a department a lease policy of its own', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1300 } });
  await signIn(page, dpe, PASSWORD);
  const created = await page.request.post(`${dpe.url}/api/v1/departments`, { data: { name: 'Optics' } });
  assert.equal(created.status(), 201, await created.text());
  const { id } = await created.json();
  await page.goto(`${dpe.url}/departments/${id}`);
  await hydrated(page);
  const policy = page.locator('#lease-policy');
  await policy.waitFor();
  assert.match(await policy.innerText(), /inherited from the appliance's default/);

  // Beyond the reach of extensions, a lease is refused; nothing is saved.
  // (The approval policy's card has an Inherit box too.)
  const card = page.locator('section', { has: page.locator('#lease-policy-title') });
  await card.getByLabel('Inherit', { exact: false }).uncheck();
  await page.getByLabel('Lease, days (empty: no lease)').fill('40');
  await page.getByLabel('Extend up to, days ahead').fill('30');
  await page.getByRole('button', { name: 'Save lease policy' }).click();
  await page.locator('#lease-policy-error').waitFor({ state: 'visible' });
  assert.match(await policy.innerText(), /inherited/);

  await page.getByLabel('Lease, days (empty: no lease)').fill('14');
  await page.getByRole('button', { name: 'Save lease policy' }).click();
  await page.locator('#lease-policy', { hasText: 'Instances live 14 days' }).waitFor();
  assert.match(await policy.innerText(), /\(its own\)/);
  await shot(page, '63-department-lease-policy');
  const audit = await (await page.request.get(`${dpe.url}/api/v1/audit?action=lease.policy`)).json();
  assert.equal(audit[0].object, 'department Optics');
  await page.close();
});
