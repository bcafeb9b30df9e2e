// Delegation in the portal on libvirt's test driver: the admin creates a
// department and appoints its admin, who sets its quota and adds a member;
// the member deploys within quota and is refused beyond it with a clear
// message; the audit log shows it all.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hydrated, portalOnTestDriver, shot, signIn, stopAll } from './harness.mjs';

const PASSWORD = 'violet-Tractor-91-mango';
const DANA = 'Quiet-Harbor-62-lantern';
const MIA = 'Amber-Kettle-37-river';
let dpe;
let browser;

before(async () => ({ dpe, browser } = await portalOnTestDriver(PASSWORD)));
after(() => stopAll(browser, dpe));

async function deploy(page, name) {
  await page.goto(dpe.url + '/deploy');
  await hydrated(page);
  await page.getByLabel('Instance name').fill(name);
  await page.getByLabel('Title').fill('Lab notes');
  await page.getByRole('button', { name: 'Deploy' }).click();
}

test('an admin delegates to a department whose admin grants a member within quota', async () => {
  // The appliance admin creates Physics and appoints Dana its admin.
  const admin = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(admin, dpe, PASSWORD);
  await admin.getByRole('link', { name: 'Departments' }).click();
  await admin.waitForURL('**/departments');
  await hydrated(admin);
  await admin.locator('#no-departments').waitFor();
  await admin.getByLabel('Name', { exact: true }).fill('Physics <Lab> & "Co"');
  await admin.getByRole('button', { name: 'Create department' }).click();
  const link = admin.getByRole('link', { name: 'Physics <Lab> & "Co"' });
  await link.waitFor();
  await link.click();
  await admin.waitForURL(/\/departments\/\d+$/);
  await hydrated(admin);
  await admin.getByLabel('User name').fill('dana');
  await admin.getByLabel('Initial password').fill(DANA);
  await admin.getByLabel('Department admin', { exact: true }).check();
  await admin.getByRole('button', { name: 'Add member' }).click();
  await admin.getByRole('cell', { name: 'department admin' }).waitFor();
  await shot(admin, '30-department-admin-appointed');

  // Dana sets the quota to one instance and adds Mia.
  const dana = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(dana, dpe, DANA, 'dana');
  await dana.getByRole('link', { name: 'Departments' }).click();
  await dana.waitForURL('**/departments');
  await dana.getByRole('link', { name: 'Physics <Lab> & "Co"' }).click();
  await dana.waitForURL(/\/departments\/\d+$/);
  await hydrated(dana);
  assert.equal(await dana.getByLabel('Department admin', { exact: true }).count(), 0, 'only appliance admins appoint admins');
  // Dana's own department's quota is set from above: no quota form.
  assert.equal(await dana.getByRole('button', { name: 'Save quota' }).count(), 0);
  await dana.getByLabel('User name').fill('mia');
  await dana.getByLabel('Initial password').fill(MIA);
  await dana.getByRole('button', { name: 'Add member' }).click();
  await dana.getByRole('cell', { name: 'mia', exact: true }).waitFor();
  // Withdraw, then grant the right to deploy.
  await dana.getByRole('button', { name: 'Withdraw the right to deploy for mia' }).click();
  await dana.getByRole('button', { name: 'Grant the right to deploy for mia' }).click();
  await dana.getByRole('button', { name: 'Withdraw the right to deploy for mia' }).waitFor();
  // A personal quota for Mia, inside the department's.
  await dana.getByText('Set quota').last().click();
  const miaQuota = dana.getByRole('form', { name: 'Quota of mia' });
  await miaQuota.getByLabel('Instances').fill('5');
  await miaQuota.getByRole('button', { name: 'Save the quota of mia' }).click();
  await dana.getByRole('cell', { name: /0 of 5 instances/ }).waitFor();
  await shot(dana, '31-department-members');
  // The department's use over time against its quota: recorded every 10 s.
  for (let i = 0; !(await dana.locator('#usage-vcpus polyline').count()); i++) {
    assert.ok(i < 30, 'no use of the quota drawn');
    await new Promise((r) => setTimeout(r, 1000));
    await dana.reload();
  }
  assert.match(await dana.locator('#usage-instances svg').getAttribute('aria-label'), /^Instances: now \d+/);
  await dana.locator('#usage').scrollIntoViewIfNeeded();
  await shot(dana, '31b-department-use');
  // A member added by mistake is taken out in two steps.
  await dana.getByLabel('User name').fill('max');
  await dana.getByLabel('Initial password').fill(MIA);
  await dana.getByRole('button', { name: 'Add member' }).click();
  await dana.getByRole('cell', { name: 'max', exact: true }).waitFor();
  const maxRow = dana.getByRole('row').filter({ has: dana.getByRole('cell', { name: 'max', exact: true }) });
  await maxRow.getByText('Remove…').click();
  await maxRow.getByRole('button', { name: 'Take max out of the department' }).click();
  await dana.getByRole('cell', { name: 'max', exact: true }).waitFor({ state: 'detached' });
  await dana.getByRole('cell', { name: 'mia', exact: true }).waitFor();

  // The admin sets the department's quota: one instance.
  await admin.reload();
  await hydrated(admin);
  await admin.locator('#quota-instances').fill('-3');
  await admin.getByRole('button', { name: 'Save quota' }).click();
  await admin.locator('#quota-instances-error').waitFor({ state: 'visible' });
  await admin.locator('#quota-instances').fill('1');
  await admin.getByRole('button', { name: 'Save quota' }).click();
  await admin.getByText('0 of 1').first().waitFor();

  // Mia deploys one instance, and a second is refused with the reason.
  const mia = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(mia, dpe, MIA, 'mia');
  await deploy(mia, 'mia-1');
  await mia.waitForURL(/\/instances\/\d+$/);
  await deploy(mia, 'mia-2');
  const banner = mia.locator('.banner.error');
  await banner.waitFor();
  assert.match(await banner.innerText(),
    /Deploy refused: the quota of department Physics <Lab> & "Co" allows 1 instance; 1 in use, this deploy needs 1 more: 1 over/);
  await shot(mia, '32-deploy-refused-by-quota');
  await mia.goto(dpe.url + '/');
  await mia.getByRole('heading', { name: 'Quotas' }).waitFor();
  await shot(mia, '33-member-dashboard-quotas');

  // The audit log shows it all; Dana sees her department's part.
  await admin.goto(dpe.url + '/audit');
  await hydrated(admin);
  for (const text of ['department.create', 'user.create', 'user.update', 'instance.deploy', 'sign_in']) {
    await admin.getByRole('cell', { name: text }).first().waitFor();
  }
  await shot(admin, '34-audit-log');
  await admin.getByLabel('Outcome').selectOption('refused');
  await admin.getByRole('button', { name: 'Filter' }).click();
  await admin.waitForURL(/outcome=refused/);
  await admin.getByRole('cell', { name: 'Deploy refused' }).or(admin.getByText(/allows 1 instance;/)).first().waitFor();
  const rows = await admin.locator('table.audit tbody tr').count();
  assert.ok(rows >= 1);
  for (const badge of await admin.locator('table.audit tbody .badge').allInnerTexts()) {
    assert.equal(badge, 'refused');
  }
  await dana.goto(dpe.url + '/audit');
  await dana.getByRole('cell', { name: 'instance.deploy' }).first().waitFor();
  assert.equal(await dana.getByRole('cell', { name: 'department.create' }).count(), 1, 'its own department');
  await shot(dana, '35-audit-department-admin');

  // The directory settings form says what is wrong, at its field.
  await admin.getByRole('link', { name: 'Directory' }).click();
  await admin.waitForURL('**/directory');
  await hydrated(admin);
  await admin.getByLabel('Server URL').fill('http://directory.example.org');
  await admin.getByLabel('User base').fill('ou=people,dc=example,dc=org');
  await admin.getByLabel('Group mappings').fill('cn=physics,ou=groups,dc=example,dc=org | Physics <Lab> & "Co" | user');
  await admin.getByRole('button', { name: 'Save', exact: true }).click();
  const urlError = admin.locator('#dir-url-error');
  await urlError.waitFor({ state: 'visible' });
  assert.match(await urlError.innerText(), /ldap:\/\//);
  await shot(admin, '36-directory-form');
});

test('a department admin shapes the departments below their own and moves accounts between them', async () => {
  const LENA = 'Copper-Meadow-48-violin';
  const admin = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(admin, dpe, PASSWORD);
  await admin.goto(dpe.url + '/departments');
  await hydrated(admin);
  await admin.getByLabel('Name', { exact: true }).fill('Chemistry');
  await admin.getByRole('button', { name: 'Create department' }).click();
  await admin.getByRole('link', { name: 'Chemistry', exact: true }).click();
  await admin.waitForURL(/\/departments\/\d+$/);
  await hydrated(admin);
  await admin.getByLabel('User name').fill('lena');
  await admin.getByLabel('Initial password').fill(LENA);
  await admin.getByLabel('Department admin', { exact: true }).check();
  await admin.getByRole('button', { name: 'Add member' }).click();
  await admin.getByRole('cell', { name: 'lena', exact: true }).waitFor();
  await admin.getByLabel('User name').fill('otto');
  await admin.getByLabel('Initial password').fill(MIA);
  await admin.getByLabel('Department admin', { exact: true }).uncheck();
  await admin.getByRole('button', { name: 'Add member' }).click();
  await admin.getByRole('cell', { name: 'otto', exact: true }).waitFor();

  // Lena may not create a top-level department, nor rename or remove her own.
  const lena = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(lena, dpe, LENA, 'lena');
  await lena.goto(dpe.url + '/departments');
  await hydrated(lena);
  assert.equal(await lena.locator('#department-parent option[value=""]').count(), 0, 'no top level for her');
  await lena.getByRole('link', { name: 'Chemistry', exact: true }).click();
  await lena.waitForURL(/\/departments\/\d+$/);
  const chemistry = lena.url();
  await hydrated(lena);
  assert.equal(await lena.locator('#change-department').count(), 0, 'her own department is shaped from above');

  // She creates Organic below it, and moves Otto there.
  await lena.getByLabel('New sub-department').fill('Organic');
  await lena.getByRole('button', { name: 'Create sub-department' }).click();
  await lena.locator('#sub-departments').getByRole('link', { name: 'Organic' }).click();
  await lena.waitForURL(/\/departments\/\d+$/);
  await hydrated(lena);
  await lena.getByRole('heading', { name: 'Chemistry / Organic' }).waitFor();
  await lena.getByLabel('Account to move').fill('otto');
  await lena.getByRole('button', { name: 'Move here' }).click();
  await lena.getByText('otto moved here.').waitFor();
  await lena.getByRole('cell', { name: 'otto', exact: true }).waitFor();
  // An account of another department is not hers to move.
  await lena.getByLabel('Account to move').fill('dana');
  await lena.getByRole('button', { name: 'Move here' }).click();
  const refused = lena.locator('#move-username-error');
  await refused.waitFor({ state: 'visible' });
  assert.match(await refused.innerText(), /no account dana that you administer/);
  // She renames it.
  await lena.getByLabel('Name', { exact: true }).fill('Organic Chemistry');
  await lena.getByRole('button', { name: 'Rename' }).click();
  await lena.getByRole('heading', { name: 'Chemistry / Organic Chemistry' }).waitFor();
  await shot(lena, '37-sub-department-shaped');

  // Otto goes back up; the empty department is removed, after a confirmation.
  const organic = lena.url();
  await lena.goto(chemistry);
  await hydrated(lena);
  await lena.getByLabel('Account to move').fill('otto');
  await lena.getByRole('button', { name: 'Move here' }).click();
  await lena.getByText('otto moved here.').waitFor();
  await lena.goto(organic);
  await hydrated(lena);
  await lena.getByText('Remove this department…').click();
  await lena.getByRole('button', { name: 'Remove it' }).click();
  await lena.waitForURL('**/departments');
  await lena.getByRole('link', { name: 'Chemistry', exact: true }).waitFor();
  assert.equal(await lena.getByRole('link', { name: /Organic/ }).count(), 0);

  // The audit log has each change, and a member cannot shape anything.
  await admin.goto(dpe.url + '/audit');
  await hydrated(admin);
  for (const text of ['department.create', 'department.update', 'department.delete']) {
    await admin.getByRole('cell', { name: text }).first().waitFor();
  }
  const otto = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(otto, dpe, MIA, 'otto');
  await otto.goto(dpe.url + '/departments');
  await otto.locator('.banner.error').waitFor();
  assert.equal(await otto.getByRole('button', { name: 'Create department' }).count(), 0);
});
