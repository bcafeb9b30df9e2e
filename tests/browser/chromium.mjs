// Debian's Chromium through playwright-core, the way every browser test here
// uses it: headless, with nothing reaching beyond this machine, and every
// page watched for errors.
import { chromium } from 'playwright-core';

/**
 * Launches Chromium trusting exactly the certificate whose key has SPKI
 * hash `spki` (base64 of its SHA-256), as a user trusts theirs.
 */
export function launchChromium(spki) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run',
      ...(spki ? [`--ignore-certificate-errors-spki-list=${spki}`] : []),
    ],
  });
}

/**
 * Collects the problems of the pages that `isWatched(url)` selects into
 * `problems`: any uncaught exception, and any console error but
 * - a 4xx answer to a server function or an API call (how the portal
 *   reports a refused form, which some tests provoke on purpose), or to
 *   `/gateway/enter` (the page refusing an application not shared with
 *   the visitor);
 * - net::ERR_NETWORK_CHANGED: the wiki test runs Chromium inside the
 *   hypervisor's network namespace, where each guest's tap device coming
 *   or going is a network change to Chromium, which then aborts what was in
 *   flight. A user's browser is on another machine and never sees that.
 * - the live feed (`/api/v1/events`) losing its connection: it comes back
 *   by itself, and its test cuts it on purpose to see that;
 * - requests to a path a test cuts on purpose (`cutOnPurpose`).
 */
export function watch(page, isWatched, problems) {
  page.on('pageerror', (err) => {
    if (isWatched(page.url())) problems.push(`page error on ${page.url()}: ${err.stack ?? err}`);
  });
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || !isWatched(page.url())) return;
    const where = msg.location()?.url || page.url();
    const refusal = /status of 4\d\d/.test(msg.text()) && /^\/(fn|api|gateway)\//.test(new URL(where).pathname);
    const tapDevice = /net::ERR_NETWORK_CHANGED/.test(msg.text());
    const feedDrop = /net::ERR_(CONNECTION_ABORTED|CONNECTION_RESET|INTERNET_DISCONNECTED)/.test(msg.text())
      && new URL(where).pathname === '/api/v1/events';
    const onPurpose = /net::ERR_/.test(msg.text()) && cut.get(page)?.has(new URL(where).pathname);
    if (!refusal && !tapDevice && !feedDrop && !onPurpose) problems.push(`console error on ${page.url()}: ${msg.text()} (${where})`);
  });
  return page;
}

/** The paths whose requests a test cuts on purpose, by page. */
const cut = new WeakMap();

/**
 * Fails every request `page` makes to `pathname` at the network level, as
 * a blip would, until the returned function is called; the browser's
 * error for each is expected, not a problem.
 */
export async function cutOnPurpose(page, pathname) {
  if (!cut.has(page)) cut.set(page, new Set());
  cut.get(page).add(pathname);
  const matches = (url) => new URL(url).pathname === pathname;
  const handler = (route) => route.abort('connectionreset');
  await page.route(matches, handler);
  return () => page.unroute(matches, handler);
}

/** Every page of `browser`, however it was made, goes through `onPage`. */
export function onEveryPage(browser, onPage) {
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    context.on('page', onPage);
    return context;
  };
  browser.newPage = async (options) => (await browser.newContext(options)).newPage();
  return browser;
}

/** Waits until the page has hydrated (the app marks <html>), and says
 * which protocol it came over. */
export async function hydratedOver(page) {
  await page.locator('html[data-hydrated]').waitFor({ state: 'attached', timeout: 60_000 });
  return page.evaluate(() => performance.getEntriesByType('navigation')[0]?.nextHopProtocol);
}
