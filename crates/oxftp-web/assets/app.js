// oxftp web: progressive enhancement of the server-rendered directory page.
// Every name is put into the DOM with textContent or attributes, never as markup.
'use strict';

(function () {
  const body = document.body;
  const dir = body.dataset.path;
  const csrf = body.dataset.csrf;
  if (!dir || !csrf) return; // not a directory page

  const status = document.getElementById('status');
  const table = document.getElementById('listing');
  const tbody = table.tBodies[0];
  const TEXT = /\.(txt|md|markdown|log|csv|tsv|json|xml|html?|css|js|ts|svg|toml|ya?ml|ini|conf|cfg|sh|py|rs|c|h|cpp|hpp|java|go|rb|pl|php|sql|tex|rst|env)$/i;

  function join(name) { return dir === '/' ? '/' + name : dir + '/' + name; }
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

  async function call(method, url, payload, isForm) {
    const opts = { method: method, headers: { 'X-CSRF-Token': csrf }, credentials: 'same-origin' };
    if (isForm) opts.body = payload;
    else if (payload !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(payload);
    }
    const r = await fetch(url, opts);
    let data = {};
    try { data = await r.json(); } catch (e) { /* not JSON */ }
    if (r.status === 401) { location.href = '/login?error=expired&dir=' + encodeURIComponent(dir); throw new Error('logged out'); }
    if (!r.ok) {
      const code = data.ftp_code ? ' (FTP ' + data.ftp_code + ')' : '';
      throw new Error((data.error || r.statusText) + code);
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
    return answer.startsWith('/') ? answer : join(answer);
  }

  // ---- sorting (client side) ----
  let sortKey = 'name', ascending = true;
  function sortBy(key) {
    ascending = key === sortKey ? !ascending : true;
    sortKey = key;
    const rows = Array.from(tbody.rows);
    rows.sort(function (a, b) {
      const da = a.dataset.kind === 'dir', db = b.dataset.kind === 'dir';
      if (da !== db) return da ? -1 : 1;
      let x = a.dataset[key] || '', y = b.dataset[key] || '';
      let c;
      if (key === 'size' || key === 'mtime') c = (Number(x) || 0) - (Number(y) || 0);
      else c = x.localeCompare(y);
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    table.querySelectorAll('th[data-sort]').forEach(function (th) {
      th.setAttribute('aria-sort', th.dataset.sort === key ? (ascending ? 'ascending' : 'descending') : 'none');
    });
  }
  table.querySelectorAll('th[data-sort]').forEach(function (th) {
    th.tabIndex = 0;
    th.addEventListener('click', function () { sortBy(th.dataset.sort); });
    th.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(th.dataset.sort); }
    });
  });

  // ---- toolbar: upload, new folder ----
  const toolbar = document.getElementById('toolbar');
  toolbar.hidden = false;
  const picker = el('input', { type: 'file', multiple: '', id: 'upload-input', 'aria-label': 'Files to upload' });
  const upBtn = el('button', { type: 'button' }, 'Upload files');
  const mkBtn = el('button', { type: 'button' }, 'New folder');
  toolbar.append(upBtn, mkBtn, picker);
  picker.hidden = true;

  // One request per file, so each file gets its own progress bar (fetch cannot report upload progress).
  const uploads = el('div', { id: 'uploads' });
  toolbar.after(uploads);
  function sendOne(file) {
    return new Promise(function (resolve, reject) {
      const bar = el('progress', { max: String(file.size || 1), value: '0', 'aria-label': 'Uploading ' + file.name });
      const line = el('div', { class: 'upload' });
      line.append(el('span', {}, file.name + ' '), bar);
      uploads.appendChild(line);
      const form = new FormData();
      form.append('file', file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open('POST', '/api/upload?dir=' + encodeURIComponent(dir));
      xhr.setRequestHeader('X-CSRF-Token', csrf);
      xhr.upload.addEventListener('progress', function (e) {
        if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
      });
      xhr.addEventListener('load', function () {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status === 401) { location.href = '/login?error=expired&dir=' + encodeURIComponent(dir); reject(new Error('logged out')); return; }
        if (xhr.status < 200 || xhr.status >= 300) {
          reject(new Error(file.name + ': ' + (data.error || xhr.statusText) + (data.ftp_code ? ' (FTP ' + data.ftp_code + ')' : '')));
          return;
        }
        bar.value = bar.max;
        resolve(data);
      });
      xhr.addEventListener('error', function () { reject(new Error(file.name + ': network error')); });
      xhr.send(form);
    });
  }
  function upload(files) {
    if (!files || !files.length) return;
    const list = Array.from(files);
    act('Upload of ' + list.length + ' file(s)', function () { return Promise.all(list.map(sendOne)); });
  }
  upBtn.addEventListener('click', function () { picker.click(); });
  picker.addEventListener('change', function () { upload(picker.files); });
  mkBtn.addEventListener('click', function () {
    const name = prompt('New folder name');
    const path = target(name);
    if (path) act('New folder', function () { return call('POST', '/api/mkdir', { path: path }); });
  });
  const main = document.querySelector('main');
  main.addEventListener('dragover', function (e) { e.preventDefault(); main.classList.add('drop'); });
  main.addEventListener('dragleave', function () { main.classList.remove('drop'); });
  main.addEventListener('drop', function (e) {
    e.preventDefault();
    main.classList.remove('drop');
    upload(e.dataTransfer.files);
  });

  // ---- per-row actions ----
  const head = table.tHead.rows[0];
  head.appendChild(el('th', { scope: 'col' }, 'Actions'));
  Array.from(tbody.rows).forEach(function (row) {
    const name = row.dataset.name;
    const path = join(name);
    const isDir = row.dataset.kind === 'dir';
    const cell = el('td', { class: 'actions' });
    function button(label, fn) {
      const b = el('button', { type: 'button', 'aria-label': label + ' ' + name }, label);
      b.addEventListener('click', fn);
      cell.appendChild(b);
    }
    if (!isDir) {
      const view = el('a', { href: '/view' + enc(path), target: '_blank', rel: 'noopener noreferrer' }, 'View');
      cell.appendChild(view);
      if (TEXT.test(name)) button('Edit', function () { edit(path); });
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
    row.appendChild(cell);
  });

  // ---- text editor ----
  function edit(path) {
    const dialog = el('dialog', { class: 'editor', 'aria-label': 'Edit file' });
    const title = el('h2', {}, path);
    const area = el('textarea', { spellcheck: 'false', 'aria-label': 'File contents' });
    const save = el('button', { type: 'button' }, 'Save');
    const close = el('button', { type: 'button' }, 'Close');
    dialog.append(title, area, el('div', { class: 'buttons' }));
    dialog.lastChild.append(save, close);
    document.body.appendChild(dialog);
    close.addEventListener('click', function () { dialog.close(); dialog.remove(); });
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
      .then(function (t) { area.value = t; dialog.showModal(); area.focus(); })
      .catch(function (e) { say('Cannot open: ' + e.message, true); dialog.remove(); });
  }
})();
