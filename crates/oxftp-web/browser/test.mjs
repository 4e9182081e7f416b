// Browser check of the web client with Debian's Chromium + playwright-core.
// Usage: node test.mjs PATH_TO_web_demo_BINARY [SCREENSHOT_DIR]
//        UPDATE_SCREENSHOTS=1 node test.mjs PATH_TO_web_demo_BINARY   (rewrites the PNGs in docs/)
//
// Starts the demo (oxftp upstream + gateway, share links on), then uses the
// pages the way a person would (clicks, keyboard, dialogs, drag and drop)
// and checks every effect on the FTP server's disk: log in, hostile name
// shown as text, sort, filter, local times, upload with progress, drag and
// drop of a folder (tree kept), cancel an upload, retry a failed one, resume
// one whose connection dropped, new folder, row menu
// actions (rename, edit, chmod, copy), multi-select delete (shift-click),
// a folder as ZIP, share links opened in a fresh browser without a login
// (download, ZIP, used-up 410, revoked 404), a drop box that takes an upload
// and lists nothing, and the layout at phone width.
// Exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const [demoBin, shotArg] = process.argv.slice(2);
if (!demoBin) {
  console.error('usage: node test.mjs WEB_DEMO_BINARY [SCREENSHOT_DIR]');
  process.exit(2);
}
// The docs screenshots are only rewritten on request, so a test run never dirties the tree.
const shots = process.env.UPDATE_SCREENSHOTS === '1'
  ? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'docs')
  : shotArg;
if (shots) mkdirSync(shots, { recursive: true });

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

// The entries of a ZIP file, read with Python's zipfile (python3 is a test dependency).
function zipEntries(path) {
  const script = 'import json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\n' +
    'print(json.dumps({n: z.read(n).decode("latin-1") for n in z.namelist()}))';
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' }));
}

console.error('demo at', url);
const started = Date.now();
let failed = false;
let browser;
try {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 720 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  const problems = [];
  let simulatedFailures = false;
  const watch = (p) => {
    p.on('console', (m) => {
      if (m.type() !== 'error' || /status of 40[349]|status of 410/.test(m.text())) return;
      // The failures the retry and resume steps cause on purpose.
      if (simulatedFailures && /status of 500|ERR_CONNECTION_RESET/.test(m.text())) return;
      problems.push(m.text());
    });
    p.on('pageerror', (e) => problems.push(String(e)));
  };
  watch(page);

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
  // survives reloads), because a fast loopback upload can finish and reload
  // before a poll from here would ever see them.
  const bars = new Map();
  await page.exposeBinding('oxftpReportBar', (_src, label, value, max) => {
    const b = bars.get(label) || { seen: 0, done: false, max: 0 };
    b.seen++;
    b.max = Math.max(b.max, max);
    if (max > 0 && value >= max) b.done = true;
    bars.set(label, b);
  });
  await page.addInitScript(() => {
    const report = () => document.querySelectorAll('progress').forEach((p, i) => {
      window.oxftpReportBar(p.getAttribute('aria-label') || 'bar ' + i, p.value, p.max);
    });
    new MutationObserver(report).observe(document, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['value', 'max'],
    });
  });

  // Row actions live in a menu per row, labelled for screen readers.
  async function rowAction(action, name) {
    await page.getByLabel(`More actions for ${name}`, { exact: true }).click();
    await page.getByRole('button', { name: `${action} ${name}`, exact: true }).click();
  }
  const rowNames = () => page.$$eval('#listing tbody tr[data-name]', (r) => r.map((x) => x.dataset.name));
  // Script actions end with "…: done" and a reload; fail fast with the app's
  // own message when it reports an error instead.
  async function reloadsAfter(what, fn) {
    const loaded = page.waitForEvent('load', { timeout: 20000 });
    const failedMsg = page.locator('#status.error').waitFor({ timeout: 20000 }).then(async () => {
      throw new Error(what + ': ' + await page.textContent('#status'));
    });
    loaded.catch(() => {});
    failedMsg.catch(() => {});
    await fn();
    await Promise.race([loaded, failedMsg]);
    assert.equal(dialogs.length, 0, what + ': every expected dialog was shown');
  }
  async function shot(name, p = page) {
    if (!shots) return;
    await p.screenshot({ path: join(shots, name) });
    console.error('screenshot', join(shots, name));
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

  // ---- readable listing: local times with UTC in the tooltip, icons ----
  const time = page.locator('#listing time').first();
  assert.ok((await time.getAttribute('title')).endsWith(' UTC'));
  assert.ok(!(await time.textContent()).endsWith('UTC'), 'shown in local time');
  assert.ok(await page.locator('#listing svg.icon-folder').count() >= 2, 'folder icons');

  // ---- sorting through the column links (server side), by keyboard too ----
  await Promise.all([page.waitForURL(/sort=name&order=desc/), page.click('th.name a')]);
  assert.equal(await page.getAttribute('th.name', 'aria-sort'), 'descending');
  assert.equal((await rowNames())[0], 'projects', 'folders first, descending');
  await page.focus('th.name a');
  await Promise.all([page.waitForURL(/order=asc/), page.keyboard.press('Enter')]);
  assert.equal(await page.getAttribute('th.name', 'aria-sort'), 'ascending');

  // ---- the filter hides rows as one types ----
  await page.fill('#filter', 'read');
  assert.deepEqual(await page.$$eval('#listing tbody tr[data-name]:not([hidden])', (r) => r.map((x) => x.dataset.name)), ['readme.txt']);
  await page.fill('#filter', '');

  // ---- upload two files through the "Upload files" button's file chooser ----
  const upDir = mkdtempSync(join(tmpdir(), 'oxftp-up-'));
  const helloPath = join(upDir, 'hello.txt');
  const blobPath = join(upDir, 'blob.bin');
  const blob = randomBytes(300 * 1024);
  writeFileSync(helloPath, 'uploaded from chromium');
  writeFileSync(blobPath, blob);
  await reloadsAfter('upload', async () => {
    const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('button:text-is("Upload files")')]);
    assert.ok(chooser.isMultiple(), 'file input takes several files');
    await chooser.setFiles([helloPath, blobPath]);
  });
  assert.equal(readFileSync(home('hello.txt'), 'utf8'), 'uploaded from chromium');
  assert.ok(readFileSync(home('blob.bin')).equals(blob), 'binary upload is byte-exact');
  for (const label of ['Uploading hello.txt', 'Uploading blob.bin', 'Total upload progress']) {
    assert.ok(bars.get(label) && bars.get(label).done, `progress bar "${label}" reached the end: ` + JSON.stringify([...bars]));
  }
  assert.ok(await page.locator('#listing td.size[title="307200 bytes"]:text-is("300 KiB")').count() === 1, 'human size');

  // ---- drag and drop a folder of three files: the tree is kept ----
  const folder = join(upDir, 'dropped');
  mkdirSync(join(folder, 'sub'), { recursive: true });
  writeFileSync(join(folder, 'one.txt'), 'one');
  writeFileSync(join(folder, 'sub', 'two.txt'), 'two');
  writeFileSync(join(folder, 'sub', 'three.bin'), randomBytes(200 * 1024));
  // Real files from a real folder (with their places in it), handed to the
  // page's drop handler in a DataTransfer, as a drag from the desktop would.
  await page.evaluate(() => {
    const i = document.createElement('input');
    i.type = 'file'; i.id = 'test-source'; i.webkitdirectory = true; i.hidden = true;
    document.body.appendChild(i);
  });
  await page.setInputFiles('#test-source', folder);
  await reloadsAfter('drop a folder', async () => {
    await page.evaluate(() => {
      const dt = new DataTransfer();
      for (const f of document.getElementById('test-source').files) dt.items.add(f);
      const main = document.querySelector('main');
      for (const type of ['dragenter', 'dragover', 'drop']) {
        main.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
      }
    });
  });
  assert.equal(readFileSync(home('dropped', 'one.txt'), 'utf8'), 'one');
  assert.equal(readFileSync(home('dropped', 'sub', 'two.txt'), 'utf8'), 'two');
  assert.ok(readFileSync(home('dropped', 'sub', 'three.bin')).equals(readFileSync(join(folder, 'sub', 'three.bin'))));
  for (const label of ['Uploading dropped/one.txt', 'Uploading dropped/sub/two.txt', 'Uploading dropped/sub/three.bin']) {
    assert.ok(bars.get(label) && bars.get(label).done, `progress bar "${label}" reached the end`);
  }

  // ---- cancel an upload: a slow link (throttled), a big file, Cancel ----
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 512 * 1024 });
  const bigPath = join(upDir, 'big.iso');
  writeFileSync(bigPath, randomBytes(12 * 1024 * 1024));
  const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('button:text-is("Upload files")')]);
  await chooser.setFiles([bigPath]);
  await page.waitForFunction(() => {
    const p = document.querySelector('progress[aria-label="Uploading big.iso"]');
    return p && p.value > p.max / 10 && p.value < p.max;
  }, null, { timeout: 30000 });
  await page.waitForFunction(() => /\/s · .* left/.test(document.querySelector('.upload.total .uinfo').textContent));
  await shot('web-client-upload.png');
  await page.getByRole('button', { name: 'Cancel big.iso', exact: true }).click();
  await page.locator('.upload.failed .uinfo:text-is("cancelled")').waitFor();
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  for (let i = 0; i < 50 && existsSync(home('big.iso')); i++) await page.waitForTimeout(100);
  assert.ok(!existsSync(home('big.iso')), 'a cancelled upload leaves nothing behind');
  await page.reload();

  // ---- a failed upload is retried on request ----
  const retryPath = join(upDir, 'retry.txt');
  writeFileSync(retryPath, 'second time lucky');
  const failing = (route) => route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"disk trouble (test)"}' });
  simulatedFailures = true;
  await page.route('**/api/chunk?*', failing);
  {
    const [c2] = await Promise.all([page.waitForEvent('filechooser'), page.click('button:text-is("Upload files")')]);
    await c2.setFiles([retryPath]);
  }
  await page.locator('.upload.failed .uinfo:text-is("failed: disk trouble (test)")').waitFor();
  assert.ok(!existsSync(home('retry.txt')));
  await page.unroute('**/api/chunk?*', failing);
  // (the page still shows the failure: wait for the reload that follows success)
  await Promise.all([
    page.waitForEvent('load', { timeout: 20000 }),
    page.getByRole('button', { name: 'Retry retry.txt', exact: true }).click(),
  ]);
  assert.equal(readFileSync(home('retry.txt'), 'utf8'), 'second time lucky');

  // ---- a dropped connection mid-upload: the upload resumes where the server's copy ends ----
  const resumePath = join(upDir, 'resume.bin');
  const resumeData = randomBytes(10 * 1024 * 1024); // two chunks: 8 MiB, then 2 MiB
  writeFileSync(resumePath, resumeData);
  let cutOff = 0;
  const dropOnce = (route) => {
    if (!cutOff && /offset=[1-9]/.test(route.request().url())) { cutOff++; return route.abort('connectionreset'); }
    return route.continue();
  };
  await page.route('**/api/chunk?*', dropOnce);
  await reloadsAfter('resumed upload', async () => {
    const [c3] = await Promise.all([page.waitForEvent('filechooser'), page.click('button:text-is("Upload files")')]);
    await c3.setFiles([resumePath]);
  });
  await page.unroute('**/api/chunk?*', dropOnce);
  assert.equal(cutOff, 1, 'the second chunk was cut off once');
  simulatedFailures = false;
  assert.ok(readFileSync(home('resume.bin')).equals(resumeData), 'the resumed upload is byte-exact');

  // ---- new folder through its form (works without JavaScript too) ----
  await page.fill('#mkdir-name', 'new folder');
  await Promise.all([page.waitForURL(/done=created/), page.click('#mkdir-form button:text-is("Create")')]);
  assert.ok(statSync(home('new folder')).isDirectory(), 'folder created');
  assert.equal(await page.textContent('#status'), 'Folder created.');

  // ---- keyboard: arrow keys move between rows; a row menu opens and closes ----
  await page.focus('#listing td.name a >> nth=0');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement.closest('tr').dataset.name), (await rowNames())[1]);
  await page.getByLabel('More actions for readme.txt', { exact: true }).focus();
  await page.keyboard.press('Enter');
  // (the menu's toggle event comes a moment after the key)
  await page.waitForFunction(() => document.activeElement.getAttribute('aria-label') === 'Edit readme.txt', null, { timeout: 3000 })
    .catch(() => { throw new Error('the open menu did not take focus'); });
  await page.keyboard.press('Escape');
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'More actions for readme.txt');

  // ---- rename readme.txt -> notes.txt ----
  expectDialog('prompt', 'New name or /path', 'notes.txt', 'readme.txt');
  await reloadsAfter('rename', () => rowAction('Rename', 'readme.txt'));
  assert.ok(!existsSync(home('readme.txt')), 'old name gone');
  assert.equal(readFileSync(home('notes.txt'), 'utf8'), 'Hello from oxftp.\n', 'renamed file kept its content');

  // ---- edit notes.txt in the editor dialog and save ----
  await rowAction('Edit', 'notes.txt');
  const editor = page.locator('dialog.editor[open]');
  const area = editor.getByRole('textbox', { name: 'File contents' });
  await area.waitFor();
  assert.equal(await area.inputValue(), 'Hello from oxftp.\n', 'editor shows the file');
  await page.keyboard.press('Control+End');
  await page.keyboard.type('Edited in the browser.\n');
  await editor.getByRole('button', { name: 'Save' }).click();
  await page.waitForFunction(() => document.getElementById('status').textContent === 'Saved /notes.txt');
  assert.equal(readFileSync(home('notes.txt'), 'utf8'), 'Hello from oxftp.\nEdited in the browser.\n', 'edit saved');
  await editor.getByRole('button', { name: 'Close' }).click();
  await page.locator('dialog.editor').waitFor({ state: 'detached' });

  // ---- chmod and copy through the menu ----
  expectDialog('prompt', 'Permissions (octal, e.g. 644)', '600');
  await reloadsAfter('chmod', () => rowAction('Chmod', 'notes.txt'));
  assert.equal((statSync(home('notes.txt')).mode & 0o777).toString(8), '600', 'mode changed on disk');
  expectDialog('prompt', 'Copy to (name or /path)', 'photos/hello.txt', 'hello.txt copy');
  await reloadsAfter('copy', () => rowAction('Copy', 'hello.txt'));
  assert.equal(readFileSync(home('photos', 'hello.txt'), 'utf8'), 'uploaded from chromium', 'copy on disk');

  // ---- a PDF opens from the preview origin (another port), never the app's ----
  const [pdfPage] = await Promise.all([page.waitForEvent('popup'), page.getByLabel('View manual.pdf', { exact: true }).click()]);
  await pdfPage.waitForLoadState('commit').catch(() => {});
  const pdfUrl = new URL(pdfPage.url());
  assert.notEqual(pdfUrl.port, new URL(url).port, 'served from another origin: ' + pdfPage.url());
  assert.match(pdfUrl.pathname, /^\/p\/[0-9a-f]{64}\/manual\.pdf$/);
  await pdfPage.close();

  // ---- multi-select delete: click one box, shift-click another, confirm ----
  const order = await rowNames();
  const from = order.indexOf('blob.bin'), to = order.indexOf('hello.txt');
  assert.ok(from >= 0 && to > from, 'rows in order: ' + order);
  const expected = order.slice(from, to + 1);
  await page.getByLabel('Select blob.bin', { exact: true }).click();
  await page.getByLabel('Select hello.txt', { exact: true }).click({ modifiers: ['Shift'] });
  assert.equal(await page.textContent('#sel-count'), `(${expected.length})`, 'shift-click selects the range');
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot('web-client.png');
  expectDialog('confirm', `Delete ${expected.length} entries and everything in them?`, true);
  await Promise.all([page.waitForURL(/done=deleted/), page.click('fieldset.batch button:text-is("Delete")')]);
  for (const n of expected) assert.ok(!existsSync(home(n)), `${n} deleted`);
  assert.equal(await page.textContent('#status'), `${expected.length} entries deleted.`);

  // ---- a folder as one ZIP ----
  const [zipDownload] = await Promise.all([page.waitForEvent('download'), page.getByLabel('Download dropped as ZIP').click()]);
  assert.equal(zipDownload.suggestedFilename(), 'dropped.zip');
  const entries = zipEntries(await zipDownload.path());
  assert.equal(entries['dropped/one.txt'], 'one');
  assert.equal(entries['dropped/sub/two.txt'], 'two');
  assert.ok('dropped/sub/three.bin' in entries, 'zip lists: ' + Object.keys(entries));

  // ---- share links: make one for a folder ----
  async function makeLink(name, setup) {
    await Promise.all([page.waitForURL(/\/shares\/new/), page.getByLabel(`Share ${name}`, { exact: true }).click()]);
    if (setup) await setup();
    await page.fill('#owner-password', 'secret');
    await Promise.all([page.waitForURL('**/form/shares'), page.click('#share-form button[type=submit]')]);
    const link = await page.inputValue('#share-url');
    assert.match(link, /\/s\/[0-9a-f]{64}$/, 'a long random token');
    await page.goto(url + '/browse/');
    return link;
  }
  const folderLink = await makeLink('projects');
  const onceLink = await makeLink('notes.txt', () => page.fill('#max-downloads', '1'));
  const dropLink = await makeLink('photos', () => page.check('input[name=kind][value=upload]'));

  // ---- opened in a fresh browser context: no cookies, no login ----
  const visitorContext = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 640 } });
  const visitor = await visitorContext.newPage();
  visitor.setDefaultTimeout(10000);
  watch(visitor);
  let resp = await visitor.goto(folderLink);
  assert.equal(resp.status(), 200);
  assert.deepEqual(await visitor.$$eval('#listing tbody tr[data-name]', (r) => r.map((x) => x.dataset.name)), ['website', 'plan.md']);
  await shot('web-share.png', visitor);
  const [planDownload] = await Promise.all([visitor.waitForEvent('download'), visitor.click('#listing a:text-is("plan.md")')]);
  assert.equal(readFileSync(await planDownload.path(), 'utf8'), '# Plan\n\n- ship it\n');
  await Promise.all([visitor.waitForURL('**/browse/website/'), visitor.click('#listing a:text-is("website/")')]);
  const [shareZip] = await Promise.all([visitor.waitForEvent('download'), visitor.click('a:text-is("Download all as ZIP")')]);
  const shared = zipEntries(await shareZip.path());
  assert.equal(shared['website/index.html'], '<h1>hi</h1>\n');
  assert.equal(shared['website/assets/site.css'], 'body{}\n');
  resp = await visitor.goto(folderLink + '/file/..%2f..%2fnotes.txt');
  assert.ok([400, 404].includes(resp.status()), 'no way out of the shared folder: ' + resp.status());

  // A download limit: the second download of a one-time link is refused (410).
  resp = await visitor.goto(onceLink);
  assert.equal(resp.status(), 200);
  const [onceDownload] = await Promise.all([visitor.waitForEvent('download'), visitor.click('a:text-is("Download")')]);
  assert.equal(readFileSync(await onceDownload.path(), 'utf8'), 'Hello from oxftp.\nEdited in the browser.\n');
  resp = await visitor.goto(onceLink);
  assert.equal(resp.status(), 410, 'a used-up link is gone');

  // The drop box: an upload form, nothing listed, the upload lands.
  resp = await visitor.goto(dropLink);
  assert.equal(resp.status(), 200);
  assert.equal(await visitor.locator('#listing').count(), 0, 'a drop box lists nothing');
  assert.ok(!(await visitor.content()).includes('hello.txt'), 'no names of what is there');
  const dropped = join(upDir, 'for-alice.txt');
  writeFileSync(dropped, 'dropped into the box');
  await visitor.setInputFiles('#dropbox-files', dropped);
  await visitor.click('#dropbox-form button[type=submit]');
  await visitor.waitForFunction(() => /1 file\(s\) received/.test(document.getElementById('status').textContent));
  // A name that is there already is refused, and says so.
  await visitor.setInputFiles('#dropbox-files', dropped);
  await visitor.click('#dropbox-form button[type=submit]');
  await visitor.waitForFunction(() => /exists already/.test(document.getElementById('status').textContent));
  assert.equal(readFileSync(home('photos', 'for-alice.txt'), 'utf8'), 'dropped into the box');

  // ---- the owner revokes the folder link: then 404 ----
  await page.goto(url + '/shares');
  assert.equal(await page.locator('#shares tbody tr[data-id]').count(), 3);
  await shot('web-shares.png');
  await Promise.all([page.waitForURL(/done=revoked/), page.getByLabel('Revoke the link to /projects').click()]);
  resp = await visitor.goto(folderLink);
  assert.equal(resp.status(), 404, 'a revoked link is unknown');

  // ---- phone-sized screens: no horizontal scrolling ----
  await page.goto(url + '/browse/');
  await page.setViewportSize({ width: 390, height: 780 });
  let overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, 'the file list fits a phone screen, overflow ' + overflow);
  await shot('web-client-phone.png');
  await visitor.setViewportSize({ width: 390, height: 700 });
  await visitor.goto(dropLink);
  overflow = await visitor.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, 'a share page fits a phone screen, overflow ' + overflow);

  assert.equal(alerts, 0, 'no alert ever ran');
  assert.deepEqual(problems, [], 'no console errors, CSP violations or dialog mismatches');
  await visitorContext.close();
  console.log(`browser test passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  if (browser) await browser.close();
  demo.kill('SIGINT');
}
process.exit(failed ? 1 : 0);
