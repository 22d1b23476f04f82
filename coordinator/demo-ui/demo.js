// Fennec upload demo: session from the coordinator (same origin), bytes straight to the node
// (XHR, for upload progress), then poll the image until its thumbnails exist. Plain DOM.
'use strict';

const KEY = 'fennec-demo-app-key';
const POLL_MS = 500;
const POLL_FOR_MS = 120000;
const TUS_CHUNK = 8 * 1024 * 1024;
const $ = (sel) => document.querySelector(sel);

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

function size(n) {
  return n < 1e6 ? `${Math.max(1, Math.round(n / 1e3))} KB` : `${(n / 1e6).toFixed(1)} MB`;
}

async function coordinator(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${$('#app-key').value.trim()}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw Object.assign(new Error(json.message || `${path}: HTTP ${res.status}`), { status: res.status });
  return json;
}

/** POST the file to the node's upload_url; resolves with the node's 201 body. */
function sendToNode(session, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', session.upload_url);
    xhr.setRequestHeader('authorization', `Bearer ${session.token}`);
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status === 201) resolve(xhr.response);
      else reject(new Error(xhr.response?.message || `the node answered ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error('network error while uploading to the node'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

/**
 * The same file through tus 1.0 (tus-js-client, served beside this page): a dropped connection
 * resumes where it stopped instead of starting over. The completing request names the stored
 * image in `Fennec-Image-Uuid`.
 */
function sendWithTus(session, file, onProgress) {
  return new Promise((resolve, reject) => {
    let imageUuid;
    const upload = new tus.Upload(file, {
      endpoint: session.tus_url,
      headers: { authorization: `Bearer ${session.token}` },
      chunkSize: TUS_CHUNK,
      retryDelays: [0, 1000, 3000, 5000],
      metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
      onProgress: (sent, total) => onProgress(sent / total),
      onAfterResponse: (_req, res) => {
        imageUuid = res.getHeader('Fennec-Image-Uuid') || imageUuid;
      },
      onSuccess: () => {
        if (imageUuid) resolve({ image_uuid: imageUuid, node_id: session.node_id, sha256: null });
        else reject(new Error('the node did not name the stored image'));
      },
      onError: (err) => reject(new Error(`tus upload failed: ${err.message}`)),
    });
    upload.start();
  });
}

async function waitForThumbnails(uuid) {
  const deadline = Date.now() + POLL_FOR_MS;
  while (Date.now() < deadline) {
    // The node tells the coordinator about a stored file through its outbox, a moment after
    // the 201: until then the coordinator does not know the image (404).
    const img = await coordinator('GET', `/api/v1/images/${encodeURIComponent(uuid)}`).catch((err) => {
      if (err.status === 404) return { status: 'processing' };
      throw err;
    });
    if (img.status === 'failed') throw new Error(`processing failed: ${img.failure_reason || 'unknown reason'}`);
    if (img.thumbnails_ready) return img;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error('thumbnails are taking too long');
}

async function upload(file) {
  const bar = h('progress', { max: 1, value: 0 });
  const state = h('div', { class: 'state' }, 'Asking the coordinator where to put it…');
  const thumb = h('div', { class: 'thumb' });
  const item = h(
    'li',
    { class: 'upload' },
    thumb,
    h('div', {}, h('div', { class: 'name' }, `${file.name} · ${size(file.size)}`), bar, state),
  );
  item.dataset.file = file.name;
  $('#uploads').append(item);
  try {
    const session = await coordinator('POST', '/api/v1/upload/sessions', {
      user_id: $('#user-id').value.trim(),
      file_size: file.size,
      content_type: file.type || undefined,
      filename: file.name,
    });
    const resumable = $('#tus').checked || file.size > TUS_CHUNK;
    const how = resumable ? ' (tus)' : '';
    state.textContent = `Uploading to ${session.node_id}${how}…`;
    const send = resumable ? sendWithTus : sendToNode;
    const stored = await send(session, file, (f) => {
      bar.value = f;
      state.textContent = `Uploading to ${session.node_id}${how}… ${Math.round(f * 100)}%`;
    });
    bar.value = 1;
    item.dataset.uuid = stored.image_uuid;
    item.dataset.via = resumable ? 'tus' : 'direct';
    item.classList.add('stored');
    const hash = stored.sha256 ? ` (SHA-256 ${stored.sha256.slice(0, 12)}…)` : '';
    state.textContent = `Stored on ${stored.node_id}${hash}. Making thumbnails…`;
    const image = await waitForThumbnails(stored.image_uuid);
    const src = image.urls.variants['small.webp'];
    const img = h('img', { alt: file.name, src });
    img.addEventListener('load', () => item.classList.add('shown'), { once: true });
    thumb.replaceChildren(img);
    item.classList.add('done');
    const what = `${image.width}×${image.height} ${image.format}`;
    state.textContent =
      image.status === 'ready'
        ? `Ready: ${what}, ${image.variants.length} variants.`
        : `Thumbnails ready: ${what}; the full-size variants follow in the background.`;
  } catch (err) {
    item.classList.add('failed');
    state.textContent = err.message;
  }
}

$('#setup').addEventListener('submit', (e) => e.preventDefault());
$('#app-key').value = sessionStorage.getItem(KEY) || '';
$('#app-key').addEventListener('change', () => sessionStorage.setItem(KEY, $('#app-key').value.trim()));
$('#files').addEventListener('change', () => {
  const files = [...$('#files').files];
  $('#setup-error').textContent = '';
  if (!$('#app-key').value.trim()) {
    $('#setup-error').textContent = 'Enter the app key first.';
    return;
  }
  sessionStorage.setItem(KEY, $('#app-key').value.trim());
  for (const f of files) void upload(f);
  $('#files').value = '';
});
