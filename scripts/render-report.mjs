// Renders a protscope HTML report in headless Chromium and saves full-page screenshots (light
// and dark colour scheme). Fails on any console error, page error, or request that is not for
// the file itself or a data: URI (a report must make no network request).
// Usage: node render-report.mjs REPORT.html OUT_PREFIX   (writes OUT_PREFIX-light.png, -dark.png)
import { chromium } from 'playwright-core';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [report, prefix] = process.argv.slice(2);
if (!report || !prefix) {
  console.error('usage: node render-report.mjs REPORT.html OUT_PREFIX');
  process.exit(2);
}
const url = pathToFileURL(path.resolve(report)).href;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
for (const scheme of ['light', 'dark']) {
  const page = await browser.newPage({ colorScheme: scheme, viewport: { width: 1280, height: 900 } });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${scheme}: console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${scheme}: page error: ${e.message}`));
  page.on('request', (r) => {
    const u = r.url();
    if (u !== url && !u.startsWith('data:')) problems.push(`${scheme}: request to ${u}`);
  });
  page.on('requestfailed', (r) => problems.push(`${scheme}: failed request ${r.url()}`));
  await page.goto(url, { waitUntil: 'load' });
  // Exercise the table script: sort the first sortable table and search it.
  const header = await page.$('table.sortable th');
  if (header) { await header.click(); await header.click(); }
  const search = await page.$('input.search');
  if (search) { await search.fill('zzz-no-such-row'); await search.fill(''); }
  const figures = await page.$$eval('figure svg', (s) => s.length);
  await page.screenshot({ path: `${prefix}-${scheme}.png`, fullPage: true });
  console.log(`${scheme}: ${figures} inline figures, screenshot ${prefix}-${scheme}.png`);
  await page.close();
}
await browser.close();
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
