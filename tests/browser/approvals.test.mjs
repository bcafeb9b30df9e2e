// Approvals in the portal: an appliance admin asks a department for
// approval of every deploy, a member requests one from the deploy form and
// sees it wait, the department admin finds it behind the navigation's count,
// approves it with a comment, and it deploys.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hydrated, portalOnTestDriver, shot, signIn, stopAll } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
const MEMBER_PASSWORD = 'amber-Lantern-37-quince';
let dpe;
let browser;

before(async () => ({ dpe, browser } = await portalOnTestDriver(PASSWORD)));
after(() => stopAll(browser, dpe));

test('a member requests a deploy, the department admin approves it, and it deploys', async () => {
  const admin = await browser.newPage({ viewport: { width: 1280, height: 1500 } });
  await signIn(admin, dpe, PASSWORD);
  const created = await admin.request.post(`${dpe.url}/api/v1/departments`, { data: { name: 'Chemistry' } });
  assert.equal(created.status(), 201, await created.text());
  const { id: chemistry } = await created.json();
  for (const [username, departmentAdmin] of [['carla', true], ['max', false]]) {
    const member = await admin.request.post(`${dpe.url}/api/v1/users`, {
      data: { username, password: MEMBER_PASSWORD, department_id: chemistry, department_admin: departmentAdmin },
    });
    assert.equal(member.status(), 201, await member.text());
  }

  // The appliance admin asks approval of every deploy on the department's page.
  await admin.goto(`${dpe.url}/departments/${chemistry}`);
  await hydrated(admin);
  const policy = admin.locator('#approval-policy');
  await policy.waitFor();
  assert.match(await policy.innerText(), /need no approval/);
  const card = admin.locator('section', { has: admin.locator('#approval-policy-title') });
  await card.getByLabel('Inherit', { exact: false }).uncheck();
  await card.getByLabel('Every deploy').check();
  await card.getByRole('button', { name: 'Save approval policy' }).click();
  await admin.locator('#approval-policy', { hasText: 'Every deploy waits for approval' }).waitFor();
  await shot(admin, '70-department-approval-policy');

  // Max deploys from the form: it waits, its quota held.
  const max = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(max, dpe, MEMBER_PASSWORD, 'max');
  await max.goto(`${dpe.url}/deploy`);
  await hydrated(max);
  await max.getByLabel('Instance name').fill('asked-wiki');
  await max.getByLabel('Title').fill('Lab notes');
  await max.getByRole('button', { name: 'Deploy' }).click();
  await max.waitForURL(/\/instances\/\d+$/);
  await max.locator('.page-head .badge', { hasText: 'pending approval' }).waitFor();
  assert.match(await max.locator('#approval-state').innerText(), /waits for a department admin's approval/);
  await shot(max, '71-instance-pending-approval');

  // Carla sees the count in the navigation, and approves with a comment.
  const carla = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(carla, dpe, MEMBER_PASSWORD, 'carla');
  await hydrated(carla);
  await carla.locator('#to-act', { hasText: 'asked-wiki' }).waitFor();
  assert.equal(await carla.locator('#approvals-count').innerText(), '1');
  await shot(carla, '72-dashboard-waiting-for-you');
  await carla.getByRole('link', { name: /Approvals/ }).click();
  await carla.waitForURL('**/approvals');
  await hydrated(carla);
  const row = carla.locator('table.approvals tr', { hasText: 'asked-wiki' });
  await row.getByLabel('Comment').fill('Fine for the lab course');
  await shot(carla, '73-approvals-page');
  await row.getByRole('button', { name: 'Approve' }).click();
  await row.locator('.badge', { hasText: 'approved' }).waitFor();
  assert.match(await row.innerText(), /carla: “Fine for the lab course”/);
  await carla.locator('#approvals-count').waitFor({ state: 'detached' });
  await shot(carla, '74-approvals-approved');

  // Max's page follows: it deploys, and says who approved it.
  await max.locator('.page-head .badge', { hasText: 'running' }).waitFor({ timeout: 15000 });
  assert.match(await max.locator('#approval-state').innerText(), /Approved by carla: “Fine for the lab course”/);
  await shot(max, '75-instance-approved-running');

  const audit = await (await admin.request.get(`${dpe.url}/api/v1/audit?action=approval.`)).json();
  assert.deepEqual(audit.map((e) => e.action).sort(), ['approval.approve', 'approval.policy', 'approval.request']);
  for (const page of [admin, max, carla]) await page.close();
});
