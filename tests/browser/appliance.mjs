// The appliance as departmental IT meets it, in Chromium: image/test-appliance
// runs this against a booted image, through its forwarded HTTPS port.
//
//   node appliance.mjs wizard  URL CERT.pem PASSWORD NAME CODE   completes the wizard
//   node appliance.mjs sign-in URL CERT.pem PASSWORD NAME        signs in (an upgrade)
//
// Both end on the dashboard, hydrated over HTTP/2, with the appliance's own
// host connected. The wizard is done as a person would: "Test connection"
// first, waiting while libvirt is still starting, then "Complete setup".
// Exits non-zero on any failure, any page error and any console error.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hydratedOver, launchChromium, onEveryPage, watch } from './chromium.mjs';

const [mode, url, certFile, password, name, setupCode] = process.argv.slice(2);
if (!['wizard', 'sign-in'].includes(mode) || !name || (mode === 'wizard' && !setupCode)) {
  console.error('usage: node appliance.mjs wizard|sign-in URL CERT.pem PASSWORD NAME [SETUP_CODE]');
  process.exit(2);
}
const SHOTS = resolve(import.meta.dirname, 'screenshots');
mkdirSync(SHOTS, { recursive: true });
const shot = (page, what) => page.screenshot({ path: join(SHOTS, `appliance-${mode}-${what}.png`), fullPage: true });

const cert = new X509Certificate(readFileSync(certFile));
const spki = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
const problems = [];
const browser = onEveryPage(await launchChromium(spki), (page) =>
  watch(page, (u) => u.startsWith(url + '/'), problems));
const log = (line) => console.log(`appliance.mjs: ${line}`);

async function live(page) {
  const protocol = await hydratedOver(page);
  if (protocol !== 'h2') throw new Error(`${page.url()} came over ${protocol}, not HTTP/2`);
}

let failed = false;
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
try {
  await page.goto(url + '/');
  if (mode === 'wizard') {
    if (new URL(page.url()).pathname !== '/setup') throw new Error(`/ led to ${page.url()}, not the wizard`);
    await live(page);
    await page.getByLabel('Setup code').fill(setupCode);
    await page.getByLabel('Appliance name').fill(name);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByLabel('Password again').fill(password);
    if ((await page.getByLabel('libvirt URI').inputValue()) !== 'qemu:///system') {
      throw new Error('the wizard does not offer qemu:///system');
    }
    const started = Date.now();
    await page.getByRole('button', { name: 'Test connection' }).click();
    const report = page.locator('#host_probe');
    // Right after boot libvirt may still be starting: the wizard says so
    // and asks again by itself.
    await report.locator('.probe.ok, .probe.bad').waitFor({ timeout: 600_000 });
    const text = await report.innerText();
    if (!/Connected to/.test(text)) throw new Error(`Test connection: ${text}`);
    log(`Test connection answered in ${((Date.now() - started) / 1000).toFixed(1)} s: ${text.replace(/\n/g, '; ')}`);
    await shot(page, '1-wizard');
    await page.getByRole('button', { name: 'Complete setup' }).click();
    await page.waitForURL('**/login', { timeout: 300_000 });
  } else {
    await page.waitForURL('**/login');
  }
  await live(page);
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(url + '/');
  await page.getByRole('heading', { name }).waitFor();
  await live(page);
  const host = page.getByRole('article', { name: /Host/ });
  await host.locator('.badge', { hasText: 'connected' }).waitFor({ timeout: 300_000 });
  await shot(page, '2-dashboard');
  log(`${mode}: signed in; dashboard hydrated over h2; host: ${(await host.innerText()).replace(/\n/g, ' ').slice(0, 200)}`);
} catch (err) {
  failed = true;
  console.error(`appliance.mjs: ${mode} failed at ${page.url()}: ${err.stack ?? err}`);
  await shot(page, 'failure').catch(() => {});
}
await browser.close();
if (problems.length) {
  failed = true;
  console.error(`appliance.mjs: the pages had errors:\n${problems.join('\n')}`);
}
process.exit(failed ? 1 : 0);
