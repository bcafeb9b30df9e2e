// The console page on a real TCG guest (image/test-guest) through the
// portal: the boot arrives, the owner signs in on the serial line and runs
// a command, and a second viewer sees the same line. scripts/test runs this
// inside the private network namespace, with DPE_TEST_GUEST_DIR set;
// elsewhere it is skipped.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hydrated, portalOnRealGuests, runningGuest, shot, signIn, stopAll, terminalShows as shows } from './harness.mjs';

const GUEST_DIR = process.env.DPE_TEST_GUEST_DIR;
const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let browser;

before(async () => {
  if (!GUEST_DIR) return;
  ({ dpe, browser } = await portalOnRealGuests(PASSWORD, { guestDir: GUEST_DIR, name: 'console', appliance: 'Console test' }));
});
after(() => stopAll(browser, dpe));

test('the console of a real guest shows its boot, signs in and runs a command, for two viewers', { skip: !GUEST_DIR && 'needs DPE_TEST_GUEST_DIR (scripts/test)', timeout: 300_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, dpe, PASSWORD);
  const id = await runningGuest(page, dpe, 'console-1');

  await page.goto(`${dpe.url}/instances/${id}`);
  try {
    await hydrated(page);
  } catch (e) {
    // Say what the page showed: this wait has timed out in whole runs.
    await shot(page, 'console-not-hydrated');
    const scripts = await page.evaluate(() => performance.getEntriesByType('resource')
      .map((r) => `${r.name.split('/').pop()} ${Math.round(r.duration)} ms ${r.transferSize} B`).join('\n'));
    throw new Error(`${e.message}\npage: ${await page.locator('main').innerText()}\nloaded:\n${scripts}`);
  }
  await page.locator('#open-console').click();
  await page.waitForURL(`${dpe.url}/instances/${id}/console`);
  await shows(page, 'dpe-guest: ready', 120_000);
  await shows(page, 'login:', 60_000);
  await page.locator('#console .xterm-helper-textarea').focus();
  await page.keyboard.type('root\n');
  await shows(page, 'Password:');
  await page.keyboard.type('dpe-console\n');
  await shows(page, '# ');
  await page.keyboard.type('echo $((6 * 7))-answer\n');
  await shows(page, '42-answer');
  // Copy by selecting (a double click takes the word), paste with the
  // browser's paste: both through the system clipboard.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: dpe.url });
  // (The rows lie under xterm.js's own layer, which takes the mouse.)
  const row = await page.locator('#console .xterm-rows > div', { hasText: /^42-answer/ }).first().boundingBox();
  await page.mouse.dblclick(row.x + 12, row.y + row.height / 2);
  const copied = Date.now();
  while ((await page.evaluate(() => navigator.clipboard.readText())) !== '42-answer') {
    assert.ok(Date.now() - copied < 5_000, `copied: ${await page.evaluate(() => navigator.clipboard.readText())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.evaluate(() => navigator.clipboard.writeText('echo pasted-$((5 + 5))'));
  await page.locator('#console .xterm-helper-textarea').focus();
  await page.keyboard.press('Control+Shift+V');
  await page.keyboard.press('Enter');
  await shows(page, 'pasted-10');
  // 24-bit colour: xterm.js styles it inline, which the page's policy
  // must let through its script (a refusal is a console error).
  await page.keyboard.type("printf '\\033[38;2;255;120;0morange\\033[0m-done\\n'\n");
  await shows(page, 'orange-done');
  assert.match(await page.locator('#console-state').textContent(), /Connected/);
  await shot(page, 'console');

  // A second viewer: the scrollback, then the same line both ways.
  const second = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(second, dpe, PASSWORD);
  await second.goto(`${dpe.url}/instances/${id}/console`);
  await shows(second, '42-answer');
  await second.locator('#console .xterm-helper-textarea').focus();
  await second.keyboard.type('echo second-$((1 + 1))\n');
  await shows(second, 'second-2');
  await shows(page, 'second-2');

  // Asked, the guest's shell takes the terminal's size.
  await page.getByRole('button', { name: 'Tell the guest this size' }).click();
  await page.keyboard.type('stty size\n');
  await shows(second, '30 100');
  await second.close();

  const gone = await page.request.delete(`${dpe.url}/api/v1/instances/${id}`);
  assert.equal(gone.status(), 202, await gone.text());
  // Gone before dpe stops: the sandbox's libvirtd keeps no guest of ours.
  const deleting = Date.now();
  while ((await page.request.get(`${dpe.url}/api/v1/instances/${id}`)).status() !== 404) {
    assert.ok(Date.now() - deleting < 60_000, 'the instance was not deleted');
    await new Promise((r) => setTimeout(r, 300));
  }
  await page.close();
});
