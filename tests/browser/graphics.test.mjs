// The graphics page on a real TCG guest (image/test-guest) through the
// portal: noVNC, vendored from npm, speaks RFB over the portal's WebSocket
// to the guest's display and draws its screen (the VGA text of the boot)
// on a canvas, under the page's Content-Security-Policy, and what is typed
// into it runs in the guest. scripts/test runs
// this inside the private network namespace, with DPE_TEST_GUEST_DIR set;
// elsewhere it is skipped.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { portalOnRealGuests, runningGuest, shot, signIn, stopAll, terminalShows as shows } from './harness.mjs';

const GUEST_DIR = process.env.DPE_TEST_GUEST_DIR;
const PASSWORD = 'violet-Tractor-91-mango';
let dpe;
let browser;

before(async () => {
  if (!GUEST_DIR) return;
  ({ dpe, browser } = await portalOnRealGuests(PASSWORD, { guestDir: GUEST_DIR, name: 'graphics', appliance: 'Graphics test' }));
});
after(() => stopAll(browser, dpe));

/// How many colours the viewer's canvas shows (a blank screen has one).
const coloursDrawn = (page) => page.evaluate(() => {
  const canvas = document.querySelector('#screen canvas');
  if (!canvas || canvas.width === 0 || canvas.height === 0) return 0;
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  const colours = new Set();
  for (let i = 0; i < data.length && colours.size < 16; i += 4) {
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  return colours.size;
});

// The US keyboard's shifted characters, by the key that gives them.
const SHIFTED = {
  '!': 'Digit1', '@': 'Digit2', '#': 'Digit3', $: 'Digit4', '%': 'Digit5', '^': 'Digit6',
  '&': 'Digit7', '*': 'Digit8', '(': 'Digit9', ')': 'Digit0', _: 'Minus', '+': 'Equal',
  '{': 'BracketLeft', '}': 'BracketRight', '|': 'Backslash', ':': 'Semicolon', '"': 'Quote',
  '<': 'Comma', '>': 'Period', '?': 'Slash', '~': 'Backquote',
};

/// Types as a person does, holding Shift for a shifted character. The
/// viewer sends the guest physical keys (QEMU's extended key events, so
/// no keymap is set anywhere), and Playwright's own type() sends "$" as
/// the key Digit4 without Shift: the guest would get "4", as it would
/// from a person who did not hold Shift.
async function typeAsAPerson(page, text) {
  for (const c of text) {
    if (c === '\n') await page.keyboard.press('Enter');
    else if (SHIFTED[c]) await page.keyboard.press(`Shift+${SHIFTED[c]}`);
    else if (/[A-Z]/.test(c)) await page.keyboard.press(`Shift+Key${c}`);
    else await page.keyboard.type(c);
  }
}

test('the display of a real guest is drawn by noVNC over the portal, within the page policy', { skip: !GUEST_DIR && 'needs DPE_TEST_GUEST_DIR (scripts/test)', timeout: 300_000 }, async () => {
  const first = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(first, dpe, PASSWORD);
  const id = await runningGuest(first, dpe, 'graphics-1');

  // The instance page links the display, next to the serial console.
  // The test then loads it itself: a click would race the instance
  // page's own loads, which the guest's new network interfaces cut short
  // in Chromium (ERR_NETWORK_CHANGED) when it lands early.
  await first.goto(`${dpe.url}/instances/${id}`);
  assert.equal(
    await first.locator('#open-display').getAttribute('href', { timeout: 60_000 }),
    `/instances/${id}/graphics`,
  );
  // (Closing the first page would close the session's context with it.)
  await first.goto('about:blank');
  // A page of its own (the same session), so that its errors are its own.
  const page = await first.context().newPage();
  // What the page's policy refused, and the page's own errors: none may
  // be, but for the network changes above, which may still come.
  const refused = [];
  const networkChanged = (text) => /net::ERR_NETWORK_CHANGED/.test(text);
  page.on('console', (m) => {
    if (m.type() === 'error' && !networkChanged(m.text())) refused.push(m.text());
  });
  page.on('pageerror', (e) => refused.push(e.message));
  let opened;
  for (let attempt = 1; ; attempt++) {
    let changed = false;
    const onChange = (m) => { changed ||= networkChanged(m.text()); };
    page.on('console', onChange);
    try {
      // Not waiting for "load": that waits for the wasm of the page's
      // hydration too, which the viewer does not need.
      opened = Date.now();
      await page.goto(`${dpe.url}/instances/${id}/graphics`, { waitUntil: 'commit' });
      await page.locator('#graphics-state', { hasText: 'Connected.' }).waitFor({ timeout: 30_000 });
      break;
    } catch (e) {
      if (attempt < 3 && (changed || networkChanged(e.message))) {
        console.log(`graphics: attempt ${attempt} cut short by a network change in the namespace`);
        continue;
      }
      await shot(page, 'graphics-not-connected');
      const said = await page.locator('main').innerText().catch(() => '?');
      throw new Error(`${e.message}\npage: ${said}\nerrors: ${refused.join('\n')}`);
    } finally {
      page.off('console', onChange);
    }
  }
  const connected = Date.now() - opened;
  let colours = 0;
  while ((colours = await coloursDrawn(page)) < 2) {
    assert.ok(Date.now() - opened < 120_000, `the canvas stayed blank (${colours} colours)`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const drawn = Date.now() - opened;
  const size = await page.evaluate(() => {
    const canvas = document.querySelector('#screen canvas');
    return `${canvas.width}x${canvas.height}`;
  });
  console.log(`graphics: connected after ${connected} ms, a drawn screen (${size}, ${colours}+ colours) after ${drawn} ms`);
  // The guest's boot text is on the screen by now; let it settle for the picture.
  await new Promise((r) => setTimeout(r, 2_000));
  await shot(page, 'graphics');

  // Keys reach the guest: typed into the viewer, they go to a shell on
  // the screen's tty1 (image/test-guest), shifted characters and all
  // (QEMU's extended key events: no keymap), and what it runs writes to
  // the serial line, which the serial console shows.
  const serial = await first.context().newPage();
  await serial.goto(`${dpe.url}/instances/${id}/console`);
  const typed = Date.now();
  for (let attempt = 1; ; attempt++) {
    await page.locator('#screen canvas').click();
    await typeAsAPerson(page, 'echo display-$((6 * 7))-keys >/dev/ttyS0\n');
    try {
      await shows(serial, 'display-42-keys', 20_000);
      break;
    } catch (e) {
      await shot(page, `graphics-typed-${attempt}`);
      // The shell on tty1 may still be starting under TCG: type it again.
      if (attempt === 3) throw e;
    }
  }
  console.log(`graphics: a line typed into the viewer ran in the guest after ${Date.now() - typed} ms`);
  await serial.close();
  await shot(page, 'graphics-typed');

  // The button reaches the client: Ctrl+Alt+Del goes without an error.
  await page.getByRole('button', { name: 'Send Ctrl+Alt+Del' }).click();
  assert.match(await page.locator('#graphics-state').textContent(), /Connected/);
  assert.deepEqual(refused, [], 'no errors and no policy refusals');

  const gone = await page.request.delete(`${dpe.url}/api/v1/instances/${id}`);
  assert.equal(gone.status(), 202, await gone.text());
  // Gone before dpe stops: the sandbox's libvirtd keeps no guest of ours.
  const deleting = Date.now();
  while ((await page.request.get(`${dpe.url}/api/v1/instances/${id}`)).status() !== 404) {
    assert.ok(Date.now() - deleting < 60_000, 'the instance was not deleted');
    await new Promise((r) => setTimeout(r, 300));
  }
  await page.close();
  await first.close();
});
