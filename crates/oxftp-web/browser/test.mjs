// Browser check of the web client with Chromium + playwright-core.
// Usage: node test.mjs PATH_TO_web_demo_BINARY [SCREENSHOT.png]
//        UPDATE_SCREENSHOT=1 node test.mjs PATH_TO_web_demo_BINARY   (rewrites docs/web-client.png)
//
// Starts the demo (oxftp upstream + gateway), then uses the page the way a
// person would (clicks, dialogs, keyboard) and checks every effect on the FTP
// server's disk: log in, hostile name shown as text, sort, upload two files
// (progress bars, when the app shows them), new folder, rename, edit + save,
// chmod, copy, delete (cancelled and confirmed), download, open a folder.
// Exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const [demoBin, shotArg] = process.argv.slice(2);
if (!demoBin) {
  console.error('usage: node test.mjs WEB_DEMO_BINARY [SCREENSHOT.png]');
  process.exit(2);
}
// The docs screenshot is only rewritten on request, so a test run never dirties the tree.
const shot = process.env.UPDATE_SCREENSHOT === '1'
  ? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs', 'web-client.png')
  : shotArg;

const demo = spawn(demoBin, [], { stdio: ['ignore', 'pipe', 'inherit'] });
// Never leave the demo running, whatever way this process ends.
process.on('exit', () => demo.kill('SIGINT'));
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
// alice's home (/alice on the upstream) is what the web client shows as its root.
const home = (...rel) => join(dir, 'alice', ...rel);

console.error('demo at', url);
const started = Date.now();
let failed = false;
let browser;
try {
  browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'oxftp-web-chrome-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    acceptDownloads: true,
    viewport: { width: 1000, height: 700 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(10000);
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));

  // Dialogs are answered from a queue the steps fill, and each one is checked
  // against what the step expects, so a wrong or missing question is a failure.
  let alerts = 0;
  const dialogs = [];
  function expectDialog(type, message, answer, defaultValue) {
    dialogs.push({ type, message, answer, defaultValue });
  }
  page.on('dialog', async (d) => {
    if (d.type() === 'alert') { alerts++; await d.dismiss(); return; }
    const want = dialogs.shift();
    if (!want) {
      problems.push('unexpected ' + d.type() + ': ' + d.message());
      await d.dismiss();
      return;
    }
    if (d.type() !== want.type) problems.push(`dialog type ${d.type()}, wanted ${want.type}`);
    if (d.message() !== want.message) problems.push(`dialog said ${JSON.stringify(d.message())}, wanted ${JSON.stringify(want.message)}`);
    if (want.defaultValue !== undefined && d.defaultValue() !== want.defaultValue) {
      problems.push(`prompt default ${JSON.stringify(d.defaultValue())}, wanted ${JSON.stringify(want.defaultValue)}`);
    }
    try {
      if (want.answer === null) await d.dismiss();
      else await d.accept(typeof want.answer === 'string' ? want.answer : undefined);
    } catch (e) {
      problems.push('answering a dialog: ' + e);
    }
  });

  // Progress bars are recorded from inside the page (through a binding that
  // survives the reload after each action), because a fast loopback upload can
  // finish and reload before a poll from here would ever see them.
  const bars = new Map();
  await page.exposeBinding('oxftpReportBar', (_src, label, value, max) => {
    const b = bars.get(label) || { seen: 0, done: false };
    b.seen++;
    if (max > 0 && value >= max) b.done = true;
    bars.set(label, b);
  });
  await page.addInitScript(() => {
    const report = () => document.querySelectorAll('progress').forEach((p, i) => {
      const label = p.getAttribute('aria-label') || p.dataset.name || p.title || (p.parentElement && p.parentElement.textContent.trim()) || 'bar ' + i;
      window.oxftpReportBar(label, p.value, p.max);
    });
    new MutationObserver(report).observe(document, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['value', 'max'],
    });
  });

  // Row buttons are labelled "<action> <name>" for screen readers; use that.
  const rowButton = (action, name) => page.getByRole('button', { name: `${action} ${name}`, exact: true });
  const rowNames = () => page.$$eval('#listing tbody tr', (r) => r.map((x) => x.dataset.name));
  // Every file operation ends with "…: done" and a reload; fail fast with the
  // app's own message when it reports an error instead.
  async function reloadsAfter(what, fn) {
    const loaded = page.waitForEvent('load');
    const failedMsg = page.locator('#status.error').waitFor().then(async () => {
      throw new Error(what + ': ' + await page.textContent('#status'));
    });
    loaded.catch(() => {});
    failedMsg.catch(() => {});
    await fn();
    await Promise.race([loaded, failedMsg]);
    assert.equal(dialogs.length, 0, what + ': every expected dialog was shown');
  }
  async function dialogsAnswered(what) {
    for (let i = 0; dialogs.length && i < 100; i++) await page.waitForTimeout(20);
    assert.equal(dialogs.length, 0, what + ': expected dialog shown');
  }

  // ---- log in through the plain HTML form (keyboard submits) ----
  await page.goto(url + '/login');
  await page.fill('input[name=user]', 'alice');
  await page.fill('input[name=password]', 'secret');
  await Promise.all([page.waitForURL('**/browse/'), page.press('input[name=password]', 'Enter')]);

  // ---- the hostile name is text, not markup ----
  const names = await page.$$eval('#listing tbody td.name a', (as) => as.map((a) => a.textContent));
  assert.ok(names.includes('<img src=x onerror=alert(1)>'), 'hostile name shown as text: ' + names);
  assert.equal(await page.$$eval('#listing img', (i) => i.length), 0, 'no img element injected');
  assert.equal(alerts, 0, 'no script ran');

  // ---- the script enhanced the page: toolbar and actions column ----
  assert.ok(await page.isVisible('#toolbar'), 'toolbar shown');
  assert.equal(await page.$$eval('#listing thead th', (t) => t.length), 5, 'actions column');

  // ---- sorting by name descending (directories stay first), by keyboard too ----
  await page.click('th[data-sort=name]');
  const sorted = await rowNames();
  assert.equal(sorted[0], 'photos', 'directory first: ' + sorted);
  assert.equal(await page.getAttribute('th[data-sort=name]', 'aria-sort'), 'descending');
  await page.focus('th[data-sort=name]');
  await page.keyboard.press('Enter');
  assert.equal(await page.getAttribute('th[data-sort=name]', 'aria-sort'), 'ascending');

  // ---- upload two files through the "Upload files" button's file chooser ----
  const upDir = mkdtempSync(join(tmpdir(), 'oxftp-up-'));
  const helloPath = join(upDir, 'hello.txt');
  const blobPath = join(upDir, 'blob.bin');
  const blob = randomBytes(300 * 1024);
  writeFileSync(helloPath, 'uploaded from chromium');
  writeFileSync(blobPath, blob);
  await reloadsAfter('upload', async () => {
    const [chooser] = await Promise.all([
      page.waitForEvent('filechooser'),
      page.click('#toolbar button:has-text("Upload files")'),
    ]);
    assert.ok(chooser.isMultiple(), 'file input takes several files');
    await chooser.setFiles([helloPath, blobPath]);
  });
  assert.equal(readFileSync(home('hello.txt'), 'utf8'), 'uploaded from chromium');
  assert.ok(readFileSync(home('blob.bin')).equals(blob), 'binary upload is byte-exact');
  let listed = await rowNames();
  assert.ok(listed.includes('hello.txt') && listed.includes('blob.bin'), 'uploads listed: ' + listed);
  {
    assert.ok(bars.size >= 2, 'one progress bar per file: ' + JSON.stringify([...bars]));
    for (const [label, b] of bars) assert.ok(b.done, `progress bar "${label}" reached the end`);
    console.error('progress bars finished:', [...bars.keys()].join(', '));
  }

  // ---- new folder through the prompt ----
  expectDialog('prompt', 'New folder name', 'new folder');
  await reloadsAfter('new folder', () => page.click('#toolbar button:has-text("New folder")'));
  assert.ok(statSync(home('new folder')).isDirectory(), 'folder created');

  // ---- rename readme.txt -> notes.txt ----
  expectDialog('prompt', 'New name or /path', 'notes.txt', 'readme.txt');
  await reloadsAfter('rename', () => rowButton('Rename', 'readme.txt').click());
  assert.ok(!existsSync(home('readme.txt')), 'old name gone');
  assert.equal(readFileSync(home('notes.txt'), 'utf8'), 'Hello from oxftp.\n', 'renamed file kept its content');

  // ---- edit notes.txt in the editor dialog and save ----
  await rowButton('Edit', 'notes.txt').click();
  const editor = page.locator('dialog.editor[open]');
  const area = editor.getByRole('textbox', { name: 'File contents' });
  await area.waitFor();
  assert.equal(await area.inputValue(), 'Hello from oxftp.\n', 'editor shows the file');
  assert.ok(await area.evaluate((a) => a === document.activeElement), 'editor textarea has focus');
  await page.keyboard.press('Control+End');
  await page.keyboard.type('Edited in the browser.\n');
  await editor.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => document.getElementById('status').textContent === 'Saved /notes.txt');
  assert.equal(readFileSync(home('notes.txt'), 'utf8'), 'Hello from oxftp.\nEdited in the browser.\n', 'edit saved');
  await editor.getByRole('button', { name: 'Close' }).click();
  await page.locator('dialog.editor').waitFor({ state: 'detached' });

  // ---- chmod notes.txt to 600 ----
  expectDialog('prompt', 'Permissions (octal, e.g. 644)', '600');
  await reloadsAfter('chmod', () => rowButton('Chmod', 'notes.txt').click());
  assert.equal((statSync(home('notes.txt')).mode & 0o777).toString(8), '600', 'mode changed on disk');
  assert.equal(await page.getAttribute('#listing tr[data-name="notes.txt"]', 'data-mode'), '600', 'listing shows the mode');

  // ---- copy hello.txt into the photos folder ----
  expectDialog('prompt', 'Copy to (name or /path)', 'photos/hello.txt', 'hello.txt copy');
  await reloadsAfter('copy', () => rowButton('Copy', 'hello.txt').click());
  assert.equal(readFileSync(home('photos', 'hello.txt'), 'utf8'), 'uploaded from chromium', 'copy on disk');
  assert.ok(existsSync(home('hello.txt')), 'copy kept the original');

  // ---- delete: a cancelled confirm changes nothing, a confirmed one deletes ----
  expectDialog('confirm', 'Delete "hello.txt"?', null);
  await rowButton('Delete', 'hello.txt').click();
  await dialogsAnswered('cancelled delete');
  assert.ok(existsSync(home('hello.txt')), 'cancel kept the file');
  expectDialog('confirm', 'Delete "hello.txt"?', true);
  await reloadsAfter('delete file', () => rowButton('Delete', 'hello.txt').click());
  assert.ok(!existsSync(home('hello.txt')), 'file deleted');
  expectDialog('confirm', 'Delete the folder "new folder" and everything in it?', true);
  await reloadsAfter('delete folder', () => rowButton('Delete', 'new folder').click());
  assert.ok(!existsSync(home('new folder')), 'folder deleted');
  listed = await rowNames();
  assert.ok(!listed.includes('hello.txt') && !listed.includes('new folder'), 'deletions listed: ' + listed);

  // ---- download blob.bin by clicking its name ----
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#listing td.name a:text-is("blob.bin")'),
  ]);
  assert.equal(download.suggestedFilename(), 'blob.bin');
  assert.ok(readFileSync(await download.path()).equals(blob), 'download is byte-exact');

  // ---- open the photos folder, download the copy, go back Home ----
  await Promise.all([page.waitForURL('**/browse/photos/'), page.click('#listing td.name a:text-is("photos/")')]);
  assert.deepEqual(await rowNames(), ['hello.txt'], 'photos lists the copy');
  assert.equal(await page.getAttribute('body', 'data-path'), '/photos');
  const [copyDownload] = await Promise.all([
    page.waitForEvent('download'),
    page.click('#listing td.name a:text-is("hello.txt")'),
  ]);
  assert.equal(readFileSync(await copyDownload.path(), 'utf8'), 'uploaded from chromium', 'downloaded copy');
  await Promise.all([page.waitForURL('**/browse/'), page.click('.crumbs a:text-is("Home")')]);

  assert.equal(alerts, 0, 'no alert ever ran');
  assert.deepEqual(problems, [], 'no console errors, CSP violations or dialog mismatches');

  if (shot) {
    await page.setViewportSize({ width: 900, height: 520 });
    await page.screenshot({ path: shot });
    console.error('screenshot written to', shot);
  }
  // Phone-sized screen: no horizontal scrolling.
  await page.setViewportSize({ width: 375, height: 700 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, 'fits a phone screen, overflow ' + overflow);
  console.log(`browser test passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  if (browser) await browser.close();
  demo.kill('SIGINT');
}
process.exit(failed ? 1 : 0);
