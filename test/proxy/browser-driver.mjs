// Drives one headless Chromium page for test/proxy/browser.ts. puppeteer-core is ESM-only and
// jest's module registry cannot load it, so it runs here, in a plain Node process, and takes
// commands over the IPC channel: { id, op, ...args } → { id, value } or { id, error }.
import puppeteer from 'puppeteer-core';

let browser;
let page;

const ops = {
  async launch({ executablePath, args, userDataDir, viewport }) {
    browser = await puppeteer.launch({ executablePath, headless: true, userDataDir, args });
    page = await browser.newPage();
    await page.setViewport(viewport);
  },
  async goto({ url }) {
    return navigation(await page.goto(url));
  },
  async reload() {
    return navigation(await page.reload());
  },
  async evaluate({ expression }) {
    return page.evaluate(expression);
  },
  /** Runs `expression` (which navigates: a click, a form submission) and waits for the new page. */
  async navigateBy({ expression }) {
    const [response] = await Promise.all([page.waitForNavigation(), page.evaluate(expression)]);
    return navigation(response);
  },
  async screenshot({ path }) {
    await page.screenshot({ path, fullPage: true });
  },
  async cookies() {
    return (await page.cookies()).map((c) => ({ name: c.name, domain: c.domain, httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite }));
  },
  async close() {
    await browser?.close();
    browser = undefined;
  },
};

function navigation(response) {
  return { status: response ? response.status() : 0, url: page.url() };
}

process.on('message', async ({ id, op, ...args }) => {
  try {
    process.send({ id, value: await ops[op](args) });
  } catch (err) {
    process.send({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
process.on('disconnect', () => {
  void browser?.close().finally(() => process.exit(0));
  if (!browser) process.exit(0);
});
