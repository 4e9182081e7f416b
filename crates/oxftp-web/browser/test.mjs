// Browser check of the web client with Chromium + playwright-core.
// Usage: node test.mjs PATH_TO_web_demo_BINARY [SCREENSHOT.png]
// Starts the demo (oxftp upstream + gateway), logs in through the form, checks
// that a hostile file name is shown as text, sorts, uploads, creates a folder,
// and saves a screenshot. Exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const [demoBin, shot] = process.argv.slice(2);
const demo = spawn(demoBin, [], { stdio: ['ignore', 'pipe', 'inherit'] });
const { url, dir } = await new Promise((resolve, reject) => {
  let out = '';
  demo.stdout.on('data', (d) => {
    out += d;
    const u = out.match(/READY (\S+)/), p = out.match(/DIR (\S+)/);
    if (u && p) resolve({ url: u[1], dir: p[1] });
  });
  demo.on('exit', (c) => reject(new Error('demo exited ' + c)));
  setTimeout(() => reject(new Error('demo did not start')), 20000);
});

console.error('demo at', url);
let failed = false;
let browser;
try {
  browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'oxftp-web-chrome-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    viewport: { width: 1000, height: 700 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  let alerts = 0;
  page.on('dialog', async (d) => {
    if (d.type() === 'alert') { alerts++; await d.dismiss(); return; }
    if (d.type() === 'prompt') await d.accept('new folder');
    else await d.accept();
  });

  // Log in through the plain HTML form.
  await page.goto(url + '/login');
  await page.fill('input[name=user]', 'alice');
  await page.fill('input[name=password]', 'secret');
  await Promise.all([page.waitForURL('**/browse/'), page.click('button[type=submit]')]);

  // The hostile name is text, not markup.
  const names = await page.$$eval('#listing tbody td.name a', (as) => as.map((a) => a.textContent));
  assert.ok(names.includes('<img src=x onerror=alert(1)>'), 'hostile name shown as text: ' + names);
  assert.equal(await page.$$eval('#listing img', (i) => i.length), 0, 'no img element injected');
  assert.equal(alerts, 0, 'no script ran');

  // The script enhanced the page: toolbar and actions column.
  assert.ok(await page.isVisible('#toolbar'), 'toolbar shown');
  assert.equal(await page.$$eval('#listing thead th', (t) => t.length), 5, 'actions column');

  // Sorting by name descending (directories stay first).
  await page.click('th[data-sort=name]');
  const sorted = await page.$$eval('#listing tbody tr', (r) => r.map((x) => x.dataset.name));
  assert.equal(sorted[0], 'photos', 'directory first: ' + sorted);
  assert.equal(await page.getAttribute('th[data-sort=name]', 'aria-sort'), 'descending');

  // Upload through the file input.
  const file = join(mkdtempSync(join(tmpdir(), 'oxftp-up-')), 'hello.txt');
  writeFileSync(file, 'uploaded from chromium');
  await Promise.all([page.waitForEvent('load'), page.setInputFiles('#upload-input', file)]);
  assert.equal(readFileSync(join(dir, 'alice', 'hello.txt'), 'utf8'), 'uploaded from chromium');

  // New folder through the prompt.
  await Promise.all([page.waitForEvent('load'), page.click('#toolbar button:has-text("New folder")')]);
  assert.ok(existsSync(join(dir, 'alice', 'new folder')), 'folder created');

  assert.deepEqual(problems, [], 'no console errors or CSP violations');

  if (shot) {
    await page.setViewportSize({ width: 900, height: 520 });
    await page.screenshot({ path: shot });
  }
  // Phone-sized screen: no horizontal scrolling.
  await page.setViewportSize({ width: 375, height: 700 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, 'fits a phone screen, overflow ' + overflow);
  console.log('browser test passed');
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  if (browser) await browser.close();
  demo.kill('SIGINT');
}
process.exit(failed ? 1 : 0);
