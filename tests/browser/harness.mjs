// Starts a real dpe on a free loopback port with a fresh data directory,
// over HTTPS with the certificate that run.mjs made, and Debian's Chromium
// through playwright-core. Every test fails on a page error or a console
// error on a portal page (see `watch`).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach } from 'node:test';
import { hydratedOver, launchChromium, onEveryPage, watch } from './chromium.mjs';

export { cutOnPurpose } from './chromium.mjs';

export const ROOT = resolve(import.meta.dirname, '../..');
export const SHOTS = join(ROOT, 'tests/browser/screenshots');
mkdirSync(SHOTS, { recursive: true });

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on('error', fail);
  });
}

/** This process's environment without DPE_* (dpe refuses unknown keys). */
export function inherited() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DPE_')));
}

const TLS_CERT = process.env.DPE_TEST_TLS_CERT;
const TLS_KEY = process.env.DPE_TEST_TLS_KEY;
if (!TLS_CERT || !TLS_KEY) {
  throw new Error('run the browser tests with `node run.mjs` (npm test): it makes their TLS certificate');
}

/** The origins of the dpe servers this file started: their pages are watched. */
const portals = new Set();

export async function startDpe(extraEnv = {}, reuseDataDir = null) {
  const port = await freePort();
  const dataDir = reuseDataDir ?? mkdtempSync(join(tmpdir(), 'dpe-browser-'));
  // QEMU's user must reach the storage inside it.
  chmodSync(dataDir, 0o755);
  const bin = process.env.DPE_BIN ?? join(ROOT, 'target/debug/dpe');
  const child = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    cwd: ROOT,
    env: {
      ...inherited(),
      DPE_SITE_DIR: join(ROOT, 'target/site'),
      DPE_TLS_CERT: TLS_CERT,
      DPE_TLS_KEY: TLS_KEY,
      DPE_ALLOW_TEST_DRIVER: 'true',
      RUST_LOG: 'warn',
      ...extraEnv,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const url = `https://127.0.0.1:${port}`;
  portals.add(url);
  // The same server by name, as a relying party of passkeys must be.
  portals.add(`https://localhost:${port}`);
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${url}/api/v1/health`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (child.exitCode !== null) throw new Error(`dpe exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    dataDir,
    bin,
    /** Stops dpe; its data directory goes too unless `keep`. */
    async stop({ keep = false } = {}) {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Problems on this file's portal pages (see chromium.mjs's `watch`). */
let problems = [];
const onPortal = (url) => [...portals].some((origin) => url.startsWith(origin + '/'));

afterEach(() => {
  const found = problems;
  problems = [];
  assert.deepEqual(found, [], 'portal pages had errors');
});

export async function launchBrowser() {
  const browser = await launchChromium(process.env.DPE_TEST_TLS_SPKI);
  return onEveryPage(browser, (page) => watch(page, onPortal, problems));
}

/** The one-time code `dpe serve` made for the wizard. */
export const setupCode = (dpe) => readFileSync(join(dpe.dataDir, 'setup-code'), 'utf8').trim();

/** Completes setup through the API: admin / PASSWORD on the test driver. */
export async function setUp(dpe, password) {
  const r = await fetch(`${dpe.url}/api/v1/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      setup_code: setupCode(dpe),
      appliance_name: 'Browser test', admin_username: 'admin', admin_password: password,
      host_uri: 'test:///default', storage_dir: `${dpe.dataDir}/storage`, network: 'default',
    }),
  });
  if (r.status !== 201) throw new Error(`setup: ${r.status} ${await r.text()}`);
}

/** A data directory with stand-in image files for the libvirt test driver. */
export function fakeImages() {
  const dir = mkdtempSync(join(tmpdir(), 'dpe-images-'));
  writeFileSync(join(dir, 'disk.qcow2'), Buffer.from('QFI\xfb\0\0\0\x03', 'latin1'));
  writeFileSync(join(dir, 'vmlinuz'), 'kernel');
  writeFileSync(join(dir, 'initrd.img'), 'initrd');
  return dir;
}

/** Signs in as admin through the sign-in page. */
export async function signIn(page, dpe, password, username = 'admin') {
  await page.goto(dpe.url + '/login');
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(dpe.url + '/');
}

/**
 * The sign-in's first step: the password of `username`, on a freshly
 * loaded sign-in page. What follows (the second factor's step, or the
 * home page) is the caller's to wait for.
 */
export async function passwordStep(page, dpe, password, username = 'admin') {
  await page.goto(dpe.url + '/login');
  await hydrated(page);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Signs the page's session out, from the header's button. */
export async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL('**/login');
}

/**
 * Waits until the wasm bundle has hydrated the page, and checks that it
 * came over HTTP/2, as browsers get it.
 */
export async function hydrated(page) {
  const protocol = await hydratedOver(page);
  assert.equal(protocol, 'h2', `${page.url()} was loaded over ${protocol}, not HTTP/2`);
}

export const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

/** Deletes the instance whose page is open: Delete…, then its confirmation. */
export async function deleteInstance(page) {
  await page.locator('#delete-instance summary').click();
  await page.locator('#delete-instance').getByRole('button', { name: 'Delete' }).click();
}

/** What the console page's terminal holds, scrollback included, one line a row. */
const terminalText = (page) => page.evaluate(() => {
  const buffer = document.getElementById('console').terminal.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
  return lines.join('\n');
});

/** Waits until the console page's terminal shows `wanted`; all it holds. */
export async function terminalShows(page, wanted, timeout = 20_000) {
  const start = Date.now();
  for (;;) {
    const text = await terminalText(page);
    if (text.includes(wanted)) return text;
    if (Date.now() - start > timeout) {
      throw new Error(`the console never showed ${JSON.stringify(wanted)}:\n${text}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A set-up dpe on libvirt's test driver with a fixture stack (`stack`
 * under server/tests/fixtures) and stand-in images, its admin's password
 * `password`, and Chromium: what most of these files start with.
 */
export async function portalOnTestDriver(password, { stack = 'stack', env = {} } = {}) {
  const dpe = await startDpe({
    DPE_STACK_DIR: join(ROOT, 'server/tests/fixtures', stack),
    DPE_IMAGE_DIR: fakeImages(),
    DPE_RECONCILE_INTERVAL_MS: '300',
    ...env,
  });
  await setUp(dpe, password);
  return { dpe, browser: await launchBrowser() };
}

/**
 * The same on the sandbox's libvirtd, deploying the real test guest
 * (image/test-guest, `guestDir`) into a storage pool of its own named for
 * `name`; `appliance` names the appliance. Inside the private network
 * namespace only (scripts/test).
 */
export async function portalOnRealGuests(password, { guestDir, name, appliance }) {
  const dpe = await startDpe(realGuestEnv(guestDir, name));
  const r = await fetch(`${dpe.url}/api/v1/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      setup_code: setupCode(dpe),
      appliance_name: appliance, admin_username: 'admin', admin_password: password,
      host_uri: 'qemu:///system', storage_dir: `${dpe.dataDir}/storage`, network: 'default',
    }),
  });
  if (r.status !== 201) throw new Error(`setup: ${r.status} ${await r.text()}`);
  return { dpe, browser: await launchBrowser() };
}

/** What `portalOnRealGuests` starts dpe with (again, for a restart). */
export const realGuestEnv = (guestDir, name) => ({
  DPE_STACK_DIR: join(ROOT, 'server/tests/fixtures/stack'),
  DPE_IMAGE_DIR: guestDir,
  DPE_STORAGE_POOL: `dpe-${name}-${process.pid}`,
});

/** Closes what `portalOnTestDriver` or `portalOnRealGuests` opened. */
export async function stopAll(browser, dpe) {
  await browser?.close();
  await dpe?.stop();
}

/**
 * Deploys the tiny test guest `name` through `page`'s session and waits
 * until it runs with an address: its id. By then the guest's tap device is
 * up and has its own address; each of those is a network change to
 * Chromium, which runs in the hypervisor's namespace here (never a user's
 * case) and aborts what is in flight (net::ERR_NETWORK_CHANGED).
 */
export async function runningGuest(page, dpe, name) {
  const answer = await page.request.post(`${dpe.url}/api/v1/instances`, {
    data: { name, size: 'tiny', params: { title: 'T' } },
  });
  if (answer.status() !== 202) throw new Error(`deploy ${name}: ${answer.status()} ${await answer.text()}`);
  const { id } = await answer.json();
  const started = Date.now();
  for (;;) {
    const inst = await (await page.request.get(`${dpe.url}/api/v1/instances/${id}`)).json();
    if (inst.state === 'running' && inst.ip) return id;
    if (Date.now() - started > 120_000) throw new Error(`${name} is not running with an address: ${JSON.stringify(inst)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
