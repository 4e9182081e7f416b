// oxftp web: progressive enhancement of the server-rendered pages.
// Everything works without this script; it adds local times, live filtering,
// selection with shift-click, uploads with progress (drag and drop, folders,
// cancel, retry, resume), previews and the per-row actions.
// Every name is put into the DOM with textContent or attributes, never as markup.
'use strict';

(function () {
  // A share link's page: offer to copy the new link.
  const shareUrl = document.getElementById('share-url');
  if (shareUrl) {
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.textContent = 'Copy link';
    copy.addEventListener('click', async function () {
      shareUrl.select();
      try { await navigator.clipboard.writeText(shareUrl.value); copy.textContent = 'Copied'; } catch (e) { document.execCommand('copy'); }
    });
    shareUrl.after(copy);
    shareUrl.addEventListener('focus', function () { shareUrl.select(); });
  }
  localTimes();
  dropBox();

  const body = document.body;
  const dir = body.dataset.path;
  const csrf = body.dataset.csrf;
  if (!dir || !csrf) return; // not a directory page

  const status = document.getElementById('status');
  const table = document.getElementById('listing');
  const tbody = table.tBodies[0];
  const rows = Array.from(tbody.rows).filter(function (r) { return r.dataset.name !== undefined; });
  const TEXT = /\.(txt|md|markdown|log|csv|tsv|json|xml|html?|css|js|ts|svg|toml|ya?ml|ini|conf|cfg|sh|py|rs|c|h|cpp|hpp|java|go|rb|pl|php|sql|tex|rst|env)$/i;
  const IMAGE = /\.(png|jpe?g|gif|webp|bmp|ico)$/i;
  const EDIT_LIMIT = 2 * 1024 * 1024; // the editor loads a file whole: small ones only

  function join(base, name) { return base === '/' ? '/' + name : base + '/' + name; }
  function here(name) { return join(dir, name); }
  function enc(path) { return path.split('/').map(encodeURIComponent).join('/'); }
  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? 'error' : 'ok';
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function human(n) {
    if (n < 1024) return n + ' B';
    const units = ['KiB', 'MiB', 'GiB', 'TiB'];
    let v = n / 1024, u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    return (v < 10 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(0)) + ' ' + units[u];
  }
  function duration(s) {
    if (!isFinite(s)) return '…';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function loginAgain() { location.href = '/login?error=expired&dir=' + encodeURIComponent(dir); }

  async function call(method, url, payload) {
    const opts = { method: method, headers: { 'X-CSRF-Token': csrf }, credentials: 'same-origin' };
    if (payload !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(payload);
    }
    const r = await fetch(url, opts);
    let data = {};
    try { data = await r.json(); } catch (e) { /* not JSON */ }
    if (r.status === 401) { loginAgain(); throw new Error('logged out'); }
    if (!r.ok) {
      const code = data.ftp_code ? ' (FTP ' + data.ftp_code + ')' : '';
      const err = new Error((data.error || r.statusText) + code);
      err.status = r.status;
      throw err;
    }
    return data;
  }

  async function act(label, fn) {
    say(label + '…', false);
    try {
      await fn();
      say(label + ': done', false);
      setTimeout(function () { location.reload(); }, 300);
    } catch (e) {
      say(label + ' failed: ' + e.message, true);
    }
  }

  function target(answer) {
    if (!answer) return null;
    return answer.startsWith('/') ? answer : here(answer);
  }

  // ---- live filter of the rows shown (the form still filters on the server) ----
  const filter = document.getElementById('filter');
  if (filter) {
    filter.addEventListener('input', function () {
      const needle = filter.value.trim().toLowerCase();
      rows.forEach(function (r) { r.hidden = needle !== '' && !r.dataset.name.toLowerCase().includes(needle); });
    });
  }

  // ---- selection: select all, shift-click ranges, a count, guarded actions ----
  const form = document.getElementById('selection');
  const boxes = rows.map(function (r) { return r.querySelector('input[name=sel]'); });
  const count = document.getElementById('sel-count');
  const batchButtons = Array.from(form.querySelectorAll('fieldset.batch button'));
  const all = el('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select all' });
  const selHead = table.tHead.querySelector('th.sel');
  selHead.textContent = '';
  selHead.appendChild(all);
  function refresh() {
    const n = boxes.filter(function (b) { return b.checked; }).length;
    count.textContent = n ? '(' + n + ')' : '';
    batchButtons.forEach(function (b) { b.disabled = n === 0; });
    rows.forEach(function (r, i) { r.classList.toggle('selected', boxes[i].checked); });
    all.checked = n > 0 && n === boxes.length;
    all.indeterminate = n > 0 && n < boxes.length;
  }
  let last = null;
  boxes.forEach(function (box, i) {
    box.addEventListener('click', function (e) {
      if (e.shiftKey && last !== null) {
        const [a, b] = last < i ? [last, i] : [i, last];
        for (let k = a; k <= b; k++) if (!rows[k].hidden) boxes[k].checked = box.checked;
      }
      last = i;
      refresh();
    });
  });
  all.addEventListener('change', function () {
    boxes.forEach(function (b, i) { if (!rows[i].hidden) b.checked = all.checked; });
    refresh();
  });
  refresh();
  form.addEventListener('submit', function (e) {
    const action = e.submitter && e.submitter.value;
    const names = boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    if (!names.length) { e.preventDefault(); say('Select entries first.', true); return; }
    if (action === 'delete') {
      const what = names.length === 1 ? '"' + names[0] + '"' : names.length + ' entries';
      if (!confirm('Delete ' + what + ' and everything in them?')) { e.preventDefault(); return; }
      form.appendChild(el('input', { type: 'hidden', name: 'confirm', value: '1' }));
    } else if ((action === 'move' || action === 'copy') && !document.getElementById('batch-to').value.trim()) {
      e.preventDefault();
      say('Name the folder to ' + action + ' to.', true);
      document.getElementById('batch-to').focus();
    }
  });

  // ---- keyboard: arrow keys move between rows, Delete deletes the selection ----
  table.addEventListener('keydown', function (e) {
    const row = e.target.closest && e.target.closest('tbody tr');
    if (!row) return;
    const visible = rows.filter(function (r) { return !r.hidden; });
    const i = visible.indexOf(row);
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      const next = visible[i + (e.key === 'ArrowDown' ? 1 : -1)];
      if (next) { e.preventDefault(); next.querySelector('td.name a').focus(); }
    } else if (e.key === ' ' && e.target.matches('td.name a')) {
      e.preventDefault();
      boxes[rows.indexOf(row)].click();
    }
  });

  // ---- uploads: a queue with progress, speed, time left, cancel, retry, resume ----
  const CHUNK = 8 * 1024 * 1024;
  const uploads = document.getElementById('uploads');
  const queue = [];
  let running = false;
  let totalLine = null;
  const made = new Set(); // folders already created in this page's life

  function line(label) {
    const row = el('div', { class: 'upload' });
    const name = el('span', { class: 'uname' }, label);
    const bar = el('progress', { max: '1', value: '0', 'aria-label': 'Uploading ' + label });
    const info = el('span', { class: 'uinfo', 'aria-live': 'off' }, 'waiting');
    const buttons = el('span', { class: 'ubuttons' });
    row.append(name, buttons, bar, info);
    return { row: row, bar: bar, info: info, buttons: buttons };
  }

  function ensureTotal() {
    if (totalLine) return;
    totalLine = line('Total');
    totalLine.row.classList.add('total');
    totalLine.bar.setAttribute('aria-label', 'Total upload progress');
    uploads.prepend(totalLine.row);
  }

  function updateTotal() {
    let size = 0, done = 0, speed = 0, active = 0;
    queue.forEach(function (j) {
      if (j.state === 'cancelled') return;
      size += j.file.size; done += j.sent; if (j.state === 'sending') { speed += j.speed; active++; }
    });
    totalLine.bar.max = Math.max(size, 1);
    totalLine.bar.value = done;
    const left = queue.filter(function (j) { return j.state === 'waiting' || j.state === 'sending'; }).length;
    const rate = !active ? '' : speed > 0
      ? ' · ' + human(speed) + '/s · ' + duration((size - done) / speed) + ' left'
      : ' · estimating time left…';
    totalLine.info.textContent = human(done) + ' of ' + human(size) + rate +
      ' · ' + left + ' file(s) to go';
  }

  function enqueue(items) {
    if (!items.length) return;
    ensureTotal();
    items.forEach(function (it) {
      const l = line(it.rel);
      const job = { file: it.file, rel: it.rel, path: join(dir, it.rel), sent: 0, speed: 0, state: 'waiting', xhr: null, line: l, tries: 0 };
      const cancel = el('button', { type: 'button', 'aria-label': 'Cancel ' + it.rel }, 'Cancel');
      cancel.addEventListener('click', function () { cancelJob(job); });
      l.buttons.append(cancel);
      job.cancel = cancel;
      uploads.appendChild(l.row);
      queue.push(job);
    });
    updateTotal();
    pump();
  }

  async function pump() {
    if (running) return;
    running = true;
    try {
      let job;
      while ((job = queue.find(function (j) { return j.state === 'waiting'; }))) await send(job);
    } finally {
      running = false;
    }
    const failed = queue.filter(function (j) { return j.state === 'failed'; }).length;
    const cancelled = queue.filter(function (j) { return j.state === 'cancelled'; }).length;
    const done = queue.filter(function (j) { return j.state === 'done'; }).length;
    if (!failed && !queue.some(function (j) { return j.state === 'waiting' || j.state === 'sending'; })) {
      say('Upload of ' + done + ' file(s): done' + (cancelled ? ' (' + cancelled + ' cancelled)' : ''), false);
      if (done) setTimeout(function () { location.reload(); }, cancelled ? 1200 : 400);
    } else if (failed) {
      say(failed + ' upload(s) failed: retry or cancel them.', true);
    }
  }

  async function makeFolders(rel) {
    const parts = rel.split('/').slice(0, -1);
    if (!parts.length) return;
    const folder = join(dir, parts.join('/'));
    if (made.has(folder)) return;
    await call('POST', '/api/mkdir', { path: folder, parents: true });
    made.add(folder);
  }

  function chunk(job, offset, whole) {
    const end = whole ? job.file.size : Math.min(offset + CHUNK, job.file.size);
    return new Promise(function (resolve, reject) {
      const xhr = new XMLHttpRequest();
      job.xhr = xhr;
      xhr.open('PUT', '/api/chunk?path=' + encodeURIComponent(job.path) + '&offset=' + offset);
      xhr.setRequestHeader('X-CSRF-Token', csrf);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      xhr.upload.addEventListener('progress', function (e) {
        // Speed: bytes sent since this attempt started, over its time.
        const elapsed = (performance.now() - job.since) / 1000;
        const moved = offset + e.loaded - job.base;
        job.speed = elapsed >= 0.5 && moved > 0 ? moved / elapsed : 0;
        show(job, offset + e.loaded);
      });
      xhr.addEventListener('load', function () {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status === 401) { loginAgain(); reject(Object.assign(new Error('logged out'), { fatal: true })); return; }
        if (xhr.status >= 200 && xhr.status < 300) { resolve(data.size); return; }
        const err = new Error((data.error || xhr.statusText || ('HTTP ' + xhr.status)) + (data.ftp_code ? ' (FTP ' + data.ftp_code + ')' : ''));
        err.status = xhr.status; err.size = data.size;
        reject(err);
      });
      xhr.addEventListener('error', function () { reject(Object.assign(new Error('network error'), { network: true })); });
      xhr.addEventListener('abort', function () { reject(Object.assign(new Error('cancelled'), { cancelled: true })); });
      xhr.send(job.file.slice(offset, end));
    });
  }

  function show(job, sent) {
    job.sent = sent;
    job.line.bar.max = Math.max(job.file.size, 1);
    job.line.bar.value = job.file.size ? sent : 1;
    if (job.state === 'sending') {
      job.line.info.textContent = human(sent) + ' of ' + human(job.file.size) +
        (job.speed ? ' · ' + human(job.speed) + '/s · ' + duration((job.file.size - sent) / job.speed) + ' left' : '');
    }
    updateTotal();
  }

  // Where the server's copy ends, to resume from (0 when there is none).
  async function serverSize(job) {
    try { return (await call('GET', '/api/stat?path=' + encodeURIComponent(job.path))).size || 0; } catch (e) { return 0; }
  }

  async function send(job) {
    job.state = 'sending';
    job.since = performance.now();
    job.base = job.resumeFrom || 0;
    job.speed = 0;
    job.line.row.classList.remove('failed');
    job.line.info.textContent = 'starting';
    let offset = job.resumeFrom || 0;
    let whole = false;
    try {
      await makeFolders(job.rel);
      for (;;) {
        try {
          offset = await chunk(job, offset, whole);
          show(job, offset);
          job.tries = 0;
          if (offset >= job.file.size) break;
        } catch (e) {
          if (e.cancelled || e.fatal) throw e;
          if (e.status === 409 && typeof e.size === 'number' && e.size <= job.file.size) { offset = e.size; continue; }
          if (e.status === 501 && offset > 0) {
            // The server can neither append nor resume: send the file again, whole.
            offset = 0; whole = true; continue;
          }
          if ((e.network || e.status >= 502) && job.tries < 5) {
            // A dropped connection: wait, then resume from what the server has.
            job.tries++;
            job.line.info.textContent = 'connection lost; resuming (try ' + job.tries + ' of 5)…';
            await new Promise(function (r) { setTimeout(r, 500 * Math.pow(2, job.tries)); });
            const size = offset > 0 ? await serverSize(job) : 0;
            offset = size <= job.file.size ? size : 0;
            continue;
          }
          throw e;
        }
      }
      job.state = 'done';
      job.line.row.classList.add('done');
      job.line.info.textContent = 'done · ' + human(job.file.size);
      job.cancel.remove();
    } catch (e) {
      if (job.state === 'cancelled') return;
      job.state = 'failed';
      job.resumeFrom = offset;
      job.line.row.classList.add('failed');
      job.line.info.textContent = 'failed: ' + e.message;
      if (!job.retry) {
        job.retry = el('button', { type: 'button', 'aria-label': 'Retry ' + job.rel }, 'Retry');
        job.retry.addEventListener('click', async function () {
          job.retry.remove(); job.retry = null;
          say('Retrying ' + job.rel + '…', false);
          job.resumeFrom = job.resumeFrom ? await serverSize(job) : 0;
          if (job.resumeFrom > job.file.size) job.resumeFrom = 0;
          job.state = 'waiting';
          job.line.info.textContent = 'waiting';
          updateTotal();
          pump();
        });
        job.line.buttons.prepend(job.retry);
      }
    } finally {
      job.xhr = null;
      updateTotal();
    }
  }

  async function cancelJob(job) {
    const wasSending = job.state === 'sending';
    const hadBytes = job.sent > 0 || job.resumeFrom > 0;
    job.state = 'cancelled';
    if (job.xhr) job.xhr.abort();
    job.line.row.classList.add('failed');
    job.line.info.textContent = 'cancelled';
    job.cancel.remove();
    if (job.retry) job.retry.remove();
    updateTotal();
    // Remove the part the server already has (the aborted transfer may
    // still be winding down there: look again a few times).
    if (wasSending || hadBytes) {
      for (let i = 0; i < 6; i++) {
        try { await call('DELETE', '/api/file?path=' + encodeURIComponent(job.path)); } catch (e) { /* not there (yet) */ }
        await new Promise(function (r) { setTimeout(r, 250); });
        try { await call('GET', '/api/stat?path=' + encodeURIComponent(job.path)); } catch (e) { if (e.status === 404) break; }
      }
    }
    if (!running) pump();
  }

  // The upload form: files chosen there go through the queue (with progress).
  const upForm = document.getElementById('upload-form');
  const picker = document.getElementById('upload-input');
  upForm.addEventListener('submit', function (e) {
    e.preventDefault();
    enqueue(Array.from(picker.files).map(function (f) { return { file: f, rel: f.name }; }));
    picker.value = '';
  });
  picker.addEventListener('change', function () {
    if (picker.files.length) upForm.requestSubmit();
  });
  // A folder picker: the tree is kept.
  const folderPicker = el('input', { type: 'file', id: 'folder-input', webkitdirectory: '', multiple: '', hidden: '' });
  const folderBtn = el('button', { type: 'button' }, 'Upload a folder');
  folderBtn.addEventListener('click', function () { folderPicker.click(); });
  folderPicker.addEventListener('change', function () {
    enqueue(Array.from(folderPicker.files).map(function (f) { return { file: f, rel: f.webkitRelativePath || f.name }; }));
    folderPicker.value = '';
  });
  const filesBtn = el('button', { type: 'button', class: 'primary' }, 'Upload files');
  filesBtn.addEventListener('click', function () { picker.click(); });
  picker.hidden = true;
  upForm.querySelector('button[type=submit]').hidden = true;
  upForm.append(filesBtn, folderBtn, folderPicker, el('span', { class: 'hint' }, 'or drop files and folders on the page'));

  // Drag and drop of files and folders anywhere on the page.
  const main = document.querySelector('main');
  let depth = 0;
  document.addEventListener('dragenter', function (e) { if (hasFiles(e)) { depth++; main.classList.add('drop'); } });
  document.addEventListener('dragleave', function () { if (--depth <= 0) { depth = 0; main.classList.remove('drop'); } });
  document.addEventListener('dragover', function (e) { if (hasFiles(e)) e.preventDefault(); });
  document.addEventListener('drop', async function (e) {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    main.classList.remove('drop');
    const files = Array.from(e.dataTransfer.files || []);
    const entries = Array.from(e.dataTransfer.items || [])
      .map(function (i) { return i.webkitGetAsEntry ? i.webkitGetAsEntry() : null; })
      .filter(Boolean);
    // Files that know their place in a folder (from a folder picker) keep it;
    // a folder dragged from the desktop is walked through its entries.
    if (!entries.length || files.some(function (f) { return f.webkitRelativePath; })) {
      enqueue(files.map(function (f) { return { file: f, rel: f.webkitRelativePath || f.name }; }));
      return;
    }
    const found = [];
    for (const entry of entries) await walk(entry, '', found);
    enqueue(found);
  });
  function hasFiles(e) { return e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files'); }
  async function walk(entry, prefix, out) {
    if (out.length > 10000) return;
    if (entry.isFile) {
      const file = await new Promise(function (res, rej) { entry.file(res, rej); });
      out.push({ file: file, rel: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise(function (res, rej) { reader.readEntries(res, rej); });
        if (!batch.length) break;
        for (const child of batch) await walk(child, prefix + entry.name + '/', out);
      }
    }
  }

  // ---- per-row actions: the links stay, the rest is in a menu ----
  rows.forEach(function (row) {
    const name = row.dataset.name;
    const path = here(name);
    const isDir = row.dataset.kind === 'dir';
    const cell = row.querySelector('td.actions');
    const menu = el('details', { class: 'menu' });
    const summary = el('summary', { 'aria-label': 'More actions for ' + name, title: 'More actions' }, '⋯');
    const items = el('div', { class: 'menu-items', role: 'group', 'aria-label': 'Actions for ' + name });
    menu.append(summary, items);
    function button(label, fn) {
      const b = el('button', { type: 'button', 'aria-label': label + ' ' + name }, label);
      b.addEventListener('click', function () { menu.open = false; fn(); });
      items.appendChild(b);
    }
    if (!isDir) {
      const view = cell.querySelector('a[href^="/view"]');
      if (view && IMAGE.test(name)) {
        view.addEventListener('click', function (e) { e.preventDefault(); preview(path, name); });
      }
      if (TEXT.test(name) && Number(row.dataset.size || 0) <= EDIT_LIMIT) button('Edit', function () { edit(path); });
      button('Copy', function () {
        const to = target(prompt('Copy to (name or /path)', name + ' copy'));
        if (to) act('Copy', function () { return call('POST', '/api/copy', { from: path, to: to }); });
      });
    }
    button('Rename', function () {
      const to = target(prompt('New name or /path', name));
      if (to && to !== path) act('Rename', function () { return call('POST', '/api/rename', { from: path, to: to }); });
    });
    button('Chmod', function () {
      const mode = prompt('Permissions (octal, e.g. 644)', row.dataset.mode || '644');
      if (mode) act('Chmod', function () { return call('POST', '/api/chmod', { path: path, mode: mode }); });
    });
    button('Delete', function () {
      const question = isDir ? 'Delete the folder "' + name + '" and everything in it?' : 'Delete "' + name + '"?';
      if (confirm(question)) act('Delete', function () { return call('POST', '/api/delete', { path: path, recursive: isDir }); });
    });
    menu.addEventListener('toggle', function () {
      if (!menu.open) return;
      document.querySelectorAll('details.menu[open]').forEach(function (m) { if (m !== menu) m.open = false; });
      const first = items.querySelector('button');
      if (first) first.focus();
    });
    menu.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && menu.open) { menu.open = false; summary.focus(); }
    });
    cell.appendChild(menu);
  });
  document.addEventListener('click', function (e) {
    document.querySelectorAll('details.menu[open]').forEach(function (m) { if (!m.contains(e.target)) m.open = false; });
  });

  function dialog(cls, label) {
    const d = el('dialog', { class: cls, 'aria-label': label });
    d.addEventListener('close', function () { d.remove(); });
    document.body.appendChild(d);
    return d;
  }

  // ---- image preview (the browser streams it; nothing is held here) ----
  function preview(path, name) {
    const d = dialog('preview', 'Preview of ' + name);
    const img = el('img', { src: '/view' + enc(path), alt: name });
    const close = el('button', { type: 'button' }, 'Close');
    const open = el('a', { href: '/download' + enc(path), class: 'button' }, 'Download');
    d.append(el('h2', {}, name), img, el('div', { class: 'buttons' }));
    d.lastChild.append(open, close);
    close.addEventListener('click', function () { d.close(); });
    d.showModal();
    close.focus();
  }

  // ---- text editor ----
  function edit(path) {
    const d = dialog('editor', 'Edit file');
    const area = el('textarea', { spellcheck: 'false', 'aria-label': 'File contents' });
    const save = el('button', { type: 'button', class: 'primary' }, 'Save');
    const close = el('button', { type: 'button' }, 'Close');
    d.append(el('h2', {}, path), area, el('div', { class: 'buttons' }));
    d.lastChild.append(save, close);
    close.addEventListener('click', function () { d.close(); });
    save.addEventListener('click', async function () {
      try {
        const r = await fetch('/api/file?path=' + encodeURIComponent(path), {
          method: 'PUT', headers: { 'X-CSRF-Token': csrf, 'Content-Type': 'text/plain' }, body: area.value, credentials: 'same-origin'
        });
        const data = await r.json().catch(function () { return {}; });
        if (!r.ok) throw new Error((data.error || r.statusText) + (data.ftp_code ? ' (FTP ' + data.ftp_code + ')' : ''));
        say('Saved ' + path, false);
      } catch (e) { say('Save failed: ' + e.message, true); }
    });
    fetch('/view' + enc(path), { credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error(r.statusText); return r.text(); })
      .then(function (t) { area.value = t; d.showModal(); area.focus(); })
      .catch(function (e) { say('Cannot open: ' + e.message, true); d.remove(); });
  }

  // ---- a share link's drop box: the same form, with a progress bar ----
  function dropBox() {
    const form = document.getElementById('dropbox-form');
    if (!form) return;
    const status = document.getElementById('status');
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      const bar = document.createElement('progress');
      bar.setAttribute('aria-label', 'Upload progress');
      bar.max = 1; bar.value = 0;
      form.after(bar);
      const button = form.querySelector('button[type=submit]');
      button.disabled = true;
      const xhr = new XMLHttpRequest();
      xhr.open('POST', form.action);
      xhr.upload.addEventListener('progress', function (ev) {
        if (ev.lengthComputable) { bar.max = ev.total; bar.value = ev.loaded; }
      });
      function done(text, ok) {
        status.textContent = text;
        status.className = ok ? 'ok' : 'error';
        bar.remove();
        button.disabled = false;
        if (ok) form.reset();
      }
      xhr.addEventListener('load', function () {
        // The answer is the page the form would have shown: take its message.
        const page = new DOMParser().parseFromString(xhr.responseText, 'text/html');
        const said = page.querySelector('#status') || page.querySelector('.error');
        done(said ? said.textContent : 'HTTP ' + xhr.status, xhr.status >= 200 && xhr.status < 300);
      });
      xhr.addEventListener('error', function () { done('The upload failed: network error. Try again.', false); });
      xhr.send(new FormData(form));
    });
  }

  // ---- local times (UTC stays in the tooltip) ----
  function localTimes() {
    const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    document.querySelectorAll('time[datetime]').forEach(function (t) {
      const d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d)) t.textContent = fmt.format(d);
    });
  }
})();
