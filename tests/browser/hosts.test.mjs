// The Hosts page, for appliance admins: the local host listed with its
// state and instance count, drained and resumed, the two ways to add a
// remote host (TLS with dpe's CA and a server certificate it issues; SSH
// with dpe's public key and a pinned host key), a bad URI refused at its
// field; and a member
// is refused the page and does not see it in the navigation; the host's
// own CPU, memory, storage and network drawn over time, following the
// live feed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hydrated, launchBrowser, setUp, shot, signIn, startDpe } from './harness.mjs';

const PASSWORD = 'amber-Kettle-47-plum';
const MEMBER_PASSWORD = 'quiet-Harbor-28-fig';
let dpe;
let browser;

before(async () => {
  // Readings every second, so the charts have points within seconds.
  dpe = await startDpe({ DPE_USAGE_INTERVAL_MS: '1000' });
  await setUp(dpe, PASSWORD);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await dpe?.stop();
});

test('an admin sees the hosts and is led through adding one over TLS or SSH', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await signIn(page, dpe, PASSWORD);
  await page.getByRole('link', { name: 'Hosts' }).click();
  await page.waitForURL('**/hosts');
  await hydrated(page);

  const row = page.getByRole('table', { name: 'Hosts' }).locator('tbody tr');
  await row.first().waitFor();
  assert.equal(await row.count(), 1);
  assert.equal(await row.first().locator('th code.uri').innerText(), 'test:///default');
  const cells = await row.first().locator('td').allInnerTexts();
  assert.equal(cells[0], 'test driver');
  assert.match(cells[1], /reachable|not checked yet/);
  // What the host offers, once the reconciler has looked at it.
  const offers = row.first().locator('td.versions');
  await offers.getByText(/libvirt \d+\.\d+\.\d+/).waitFor();
  const seen = await row.first().locator('td').allInnerTexts();
  assert.equal(seen[2], 'test driver', 'its acceleration');
  assert.match(seen[3], /^TEST( \d+\.\d+\.\d+)?\nlibvirt \d+\.\d+\.\d+$/, 'its versions');
  assert.match(seen[4], /^\d+( × .+)?$/, 'its CPUs');
  assert.match(seen[5], /^\d+ of \d+ MiB$/, 'its free and total memory');
  assert.equal(seen[6], '0', 'no instances yet');

  // SSH: dpe's public key, one authorized_keys line.
  const key = (await page.locator('#ssh-public-key').innerText()).trim();
  assert.match(key, /^ssh-ed25519 [A-Za-z0-9+/=]+/);
  const api = await page.request.get(`${dpe.url}/api/v1/hosts/credentials`);
  assert.equal((await api.json()).ssh_public_key.trim(), key);
  assert.match(await page.getByRole('region', { name: 'Over SSH (qemu+ssh)' }).innerText(), /authorized_keys/);
  // TLS: dpe's CA, and a server certificate issued for a host.
  assert.match(await page.locator('#ca-certificate').innerText(), /BEGIN CERTIFICATE/);
  await page.getByLabel('Host name or address').fill('kvm2.example.org');
  await page.getByRole('button', { name: 'Issue a server certificate' }).click();
  const bundle = page.locator('#server-certificate');
  await bundle.waitFor();
  assert.match(await bundle.innerText(), /kvm2\.example\.org/);
  assert.match(await bundle.innerText(), /PRIVATE KEY/);
  await shot(page, '60-hosts');

  // Drain and resume: a drained host takes no new instances until resumed.
  const placement = row.first().locator('td.placement');
  assert.match(await placement.innerText(), /takes new instances/);
  await page.getByRole('button', { name: /^Drain / }).click();
  await placement.getByText('drained', { exact: true }).waitFor();
  const drained = await (await page.request.get(`${dpe.url}/api/v1/hosts`)).json();
  assert.equal(drained[0].mode, 'draining');
  await shot(page, '63-hosts-drained');
  await page.getByRole('button', { name: /^Resume / }).click();
  await placement.getByText('takes new instances').waitFor();

  // A URI with parameters is refused at its field, and no host is added.
  await page.getByLabel('URI').fill('qemu+ssh://root@kvm2/system?keyfile=/x');
  await page.getByLabel('Storage folder').fill('/srv/dpe');
  await page.getByRole('button', { name: 'Add host' }).click();
  const error = page.locator('#uri-error');
  await error.waitFor({ state: 'visible' });
  assert.match(await error.innerText(), /parameters/);
  await shot(page, '61-hosts-bad-uri');
  assert.equal((await (await page.request.get(`${dpe.url}/api/v1/hosts`)).json()).length, 1);

  // A member is refused the page, and is not offered it.
  const created = await page.request.post(`${dpe.url}/api/v1/users`, {
    data: { username: 'mo', password: MEMBER_PASSWORD, department_id: null, department_admin: false },
  });
  assert.equal(created.status(), 201, await created.text());
  await page.close();
  const member = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await signIn(member, dpe, MEMBER_PASSWORD, 'mo');
  await hydrated(member);
  assert.equal(await member.getByRole('link', { name: 'Hosts' }).count(), 0);
  await member.goto(dpe.url + '/hosts');
  await hydrated(member);
  await member.getByRole('alert').filter({ hasText: 'not allowed' }).waitFor();
  assert.equal(await member.locator('#ssh-public-key').count(), 0);
  await shot(member, '62-hosts-member-refused');
  await member.close();
});

test("an admin sees each host's own CPU, memory, storage and network over time", async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await signIn(page, dpe, PASSWORD);
  await page.goto(`${dpe.url}/hosts`);
  await hydrated(page);
  const section = page.locator('#usage');
  const host = section.locator('.host-usage').first();
  const [{ id, name }] = await (await page.request.get(`${dpe.url}/api/v1/hosts`)).json();
  assert.equal(await host.locator('h3').innerText(), name);
  // The first reading gives no rate: the charts may wait for the second,
  // which the live feed brings without a reload.
  for (const chart of ['cpu', 'memory', 'storage', 'network']) {
    await host.locator(`#usage-host-${id}-${chart} polyline`).first()
      .waitFor({ state: 'attached', timeout: 30_000 });
  }
  // libvirt's test driver: CPU counters that stand still, a 3 GiB node.
  assert.match(await host.locator(`#usage-host-${id}-cpu svg`).getAttribute('aria-label'), /^CPU: now 0 %/);
  assert.match(await host.locator(`#usage-host-${id}-memory .chart-now`).innerText(), / of 3\.0 GiB$/);
  assert.equal(await section.getByRole('link', { name: '1 hour' }).getAttribute('aria-current'), 'true');
  // The hour follows the live feed: each reading redraws it without a
  // reload (the range ends at the reading, so the line moves).
  const selector = `#usage-host-${id}-cpu polyline`;
  const drawn = () => page.locator(selector).evaluateAll(
    (lines) => lines.map((l) => l.getAttribute('points')).join('|'));
  const before = await drawn();
  await page.waitForFunction(
    ([selector, was]) => [...document.querySelectorAll(selector)]
      .map((l) => l.getAttribute('points')).join('|') !== was,
    [selector, before], { timeout: 30_000 });
  // A few periods, so the screenshot shows lines.
  await page.waitForFunction(
    (selector) => [...document.querySelectorAll(selector)]
      .flatMap((l) => l.getAttribute('points').split(' ')).length >= 3,
    selector, { timeout: 45_000 });
  await section.scrollIntoViewIfNeeded();
  await shot(page, '64-hosts-usage');

  await section.getByRole('link', { name: '1 month' }).click();
  await page.waitForURL(/usage=month/);
  await page.locator('#usage').getByRole('link', { name: '1 month' }).and(page.locator('[aria-current="true"]')).waitFor();
  await page.locator(`#usage-host-${id}-memory polyline`).first().waitFor({ state: 'attached' });
  await page.close();
});
