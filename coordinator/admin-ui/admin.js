// Fennec admin page: plain DOM, no framework. Every call goes to the coordinator's admin JSON
// API with the key typed in, kept in sessionStorage (this tab only, gone when it closes).
'use strict';

const KEY = 'fennec-admin-key';
const REFRESH_MS = 5000;
const $ = (sel) => document.querySelector(sel);
let timer;

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error;
  }
}

async function api(method, path, body) {
  const res = await fetch(`/api/v1/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${sessionStorage.getItem(KEY) || ''}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json().catch(() => undefined);
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

/** h('td', {class: 'x'}, 'text', childNode…): text always goes in as text, never as HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

function age(ms) {
  if (ms === null || ms === undefined) return 'never';
  if (ms < 1000) return 'just now';
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}

function fill(tbody, rows, cols, emptyText) {
  tbody.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: cols, class: 'empty' }, emptyText))]));
}

function spaceBar(p) {
  const total = p.total_bytes,
    free = p.free_bytes;
  const known = typeof total === 'number' && total > 0 && typeof free === 'number';
  const full = known ? Math.min(1, Math.max(0, 1 - free / total)) : 0;
  const level = full > 0.9 ? 'bad' : full > 0.8 ? 'warn' : '';
  // CSSOM, not a style attribute: the page's CSP allows no inline styles.
  const used = h('span', { class: level });
  used.style.width = `${(full * 100).toFixed(1)}%`;
  return h(
    'div',
    { class: 'space', 'data-pool': p.pool_id },
    h(
      'div',
      { class: 'label' },
      h('span', { class: 'mono' }, p.pool_id),
      h('span', {}, known ? `${bytes(free)} free of ${bytes(total)} (${Math.round(full * 100)}% full)` : 'no heartbeat'),
    ),
    h(
      'div',
      {
        class: 'bar',
        role: 'meter',
        'aria-valuemin': 0,
        'aria-valuemax': 100,
        'aria-valuenow': Math.round(full * 100),
        'aria-label': `${p.pool_id} used`,
      },
      used,
    ),
  );
}

function renderNodes(nodes) {
  fill(
    $('#nodes tbody'),
    nodes.map((n) =>
      h(
        'tr',
        { 'data-node': n.node_id },
        h('td', { class: 'mono' }, n.node_id),
        h(
          'td',
          {},
          h('span', { class: `badge ${n.status}` }, n.status),
          n.state && n.state !== 'up' ? h('span', { class: 'muted', 'data-state': n.state }, ` ${n.state}`) : '',
        ),
        h('td', {}, age(n.heartbeat_age_ms)),
        h('td', {}, n.active_uploads),
        h('td', { class: 'muted' }, n.version || '–'),
        h('td', {}, n.pools.map(spaceBar)),
      ),
    ),
    6,
    'No nodes registered yet (scripts/add-node, or POST /api/v1/admin/nodes).',
  );
}

function renderPools(pools) {
  // Do not rebuild the rows under someone's cursor while they edit a weight or tier.
  if ($('#pools').contains(document.activeElement) && document.activeElement.tagName !== 'BUTTON') return;
  fill(
    $('#pools tbody'),
    pools.map((p) => {
      const tier = h(
        'select',
        { 'aria-label': `${p.pool_id} tier` },
        ['hot', 'warm', 'cold'].map((t) => h('option', { value: t, selected: t === p.tier }, t)),
      );
      const weight = h('input', { type: 'number', min: 0, max: 1000000, step: 1, value: p.weight, 'aria-label': `${p.pool_id} weight` });
      const save = h(
        'button',
        { type: 'button', onclick: () => patchPool(p.pool_id, { tier: tier.value, weight: Number(weight.value) }) },
        'Save',
      );
      // A bucket (the S3 cold tier) never takes uploads: nothing to toggle.
      const toggle =
        p.type === 's3'
          ? h('span', { class: 'muted' }, 'never (S3 cold tier)')
          : h(
              'button',
              {
                type: 'button',
                class: 'toggle',
                'aria-pressed': String(p.accepting),
                'data-action': 'toggle-accepting',
                title: p.accepting ? 'Click to stop new uploads to this pool' : 'Click to accept new uploads again',
                onclick: () => patchPool(p.pool_id, { accepting: !p.accepting }),
              },
              p.accepting ? 'Accepting' : 'Not accepting',
            );
      return h(
        'tr',
        { 'data-pool': p.pool_id },
        h('td', { class: 'mono' }, p.pool_id, p.type === 's3' ? [' ', h('span', { class: 'badge stale', 'data-type': 's3' }, 's3')] : ''),
        h('td', { class: 'mono' }, p.node_id),
        h('td', {}, tier),
        h('td', {}, weight),
        h('td', {}, p.replication_factor),
        h('td', { 'data-col': 'tiering' }, tieringText(p.tiering)),
        h('td', {}, toggle),
        h('td', {}, save),
      );
    }),
    8,
    'No pools registered yet.',
  );
}

/** "→ warm after 30 d": where the pool's old objects go, and when (PATCH …/pools/{id} {tiering}). */
function tieringText(t) {
  if (!t) return '–';
  const s = t.after_seconds;
  const span = s % 86400 === 0 ? `${s / 86400} d` : s % 3600 === 0 ? `${s / 3600} h` : `${s} s`;
  return `→ ${t.to_tier} after ${span}`;
}

function renderDurability(d) {
  fill(
    $('#durability tbody'),
    d.classes.map((k) =>
      h(
        'tr',
        { 'data-protection': k.protection },
        h('td', {}, k.protection),
        h(
          'td',
          {},
          k.lost
            ? h('span', { class: 'badge offline' }, 'lost')
            : k.at_risk
              ? h('span', { class: 'badge stale' }, 'at risk')
              : h('span', { class: 'badge online' }, 'protected'),
        ),
        h('td', {}, k.objects),
        h('td', {}, bytes(k.bytes)),
        h('td', {}, k.overdue ? `${k.overdue} overdue` : '–'),
      ),
    ),
    5,
    'No objects yet.',
  );
  const del = d.deleted;
  $('#durability-notes').textContent = [
    `${d.unscrubbed_copies} ${d.unscrubbed_copies === 1 ? 'copy' : 'copies'} not scrubbed yet` +
      (d.oldest_scrub_at ? `; oldest scrub ${new Date(d.oldest_scrub_at).toLocaleString()}` : ''),
    del
      ? `deleted images: ${del.copies_to_delete} ${del.copies_to_delete === 1 ? 'copy' : 'copies'} to delete, ${del.backups_in_grace} backups in their ${Math.round((del.backup_grace_seconds / 86400) * 10) / 10} d grace` +
        (del.next_backup_delete_at ? ` (next ${new Date(del.next_backup_delete_at).toLocaleString()})` : '') +
        `, ${del.backups_deleted} deleted`
      : '',
  ]
    .filter(Boolean)
    .join(' · ');
}

function renderQueues(queues) {
  fill(
    $('#queues tbody'),
    queues.map((q) =>
      h(
        'tr',
        { 'data-node': q.node_id },
        h('td', { class: 'mono' }, q.node_id),
        ...(q.counts
          ? ['waiting', 'prioritized', 'active', 'delayed', 'failed'].map((s) => h('td', { 'data-state': s }, q.counts[s] ?? 0))
          : [h('td', { colspan: 5, class: 'error' }, `cannot read the queue: ${q.error}`)]),
      ),
    ),
    6,
    'No queues (no nodes registered).',
  );
}

function renderMoves(moves) {
  fill(
    $('#moves tbody'),
    moves.map((m) => {
      const total = Object.values(m.counts).reduce((a, b) => a + b, 0);
      return h(
        'tr',
        { 'data-move': m.move_id },
        h('td', { class: 'mono' }, m.move_id.slice(0, 8)),
        h('td', { class: 'mono' }, `${m.source_pool_id} → ${m.target_pool_id}`),
        h('td', {}, m.kind),
        h('td', {}, h('span', { class: `badge ${m.state}` }, m.state)),
        h('td', {}, `${m.counts.done} of ${total}`),
        h('td', {}, `${bytes(m.bytes.done)} of ${bytes(m.bytes.planned)}`),
        h('td', {}, `${m.counts.failed} / ${m.counts.missing}`),
      );
    }),
    7,
    'No pool moves yet (POST /api/v1/admin/pools/{id}/move, or drain a node).',
  );
}

function renderFailures(failures) {
  fill(
    $('#failures tbody'),
    failures.map((f) =>
      h(
        'tr',
        {},
        h('td', {}, new Date(f.created_at).toLocaleString()),
        h('td', { class: 'mono' }, h('a', { href: `/i/${encodeURIComponent(f.image_uuid)}`, rel: 'noreferrer' }, f.image_uuid.slice(0, 8))),
        h('td', { class: 'mono' }, `${f.node_id} / ${f.pool_id}`),
        h('td', {}, f.mime),
        h('td', {}, f.reason || '–'),
      ),
    ),
    5,
    'No failed images.',
  );
}

async function patchPool(poolId, change) {
  try {
    await api('PATCH', `/pools/${encodeURIComponent(poolId)}`, change);
    $('#status').textContent = `Saved ${poolId}.`;
    await refresh();
  } catch (err) {
    $('#status').textContent = `Could not change ${poolId}: ${err.message}`;
  }
}

async function refresh() {
  clearTimeout(timer);
  try {
    const [nodes, pools, queues, failures, moves, durability] = await Promise.all([
      api('GET', '/nodes'),
      api('GET', '/pools'),
      api('GET', '/queues'),
      api('GET', '/failures?limit=20'),
      api('GET', '/moves'),
      api('GET', '/durability'),
    ]);
    showDashboard();
    renderNodes(nodes.nodes);
    renderPools(pools.pools);
    renderQueues(queues.queues);
    renderFailures(failures.failures);
    renderMoves(moves.moves);
    renderDurability(durability);
    $('#status').textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      sessionStorage.removeItem(KEY);
      showKeyForm('That key was not accepted.');
      return;
    }
    $('#status').textContent = `Cannot reach the coordinator: ${err.message}`;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function showKeyForm(message = '') {
  clearTimeout(timer);
  $('#dashboard').hidden = true;
  $('#sign-out').hidden = true;
  $('#key-form').hidden = false;
  $('#key-error').textContent = message;
  $('#status').textContent = '';
  $('#admin-key').focus();
}

function showDashboard() {
  $('#key-form').hidden = true;
  $('#dashboard').hidden = false;
  $('#sign-out').hidden = false;
}

$('#key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, $('#admin-key').value.trim());
  $('#admin-key').value = '';
  void refresh();
});
$('#sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  showKeyForm();
});

if (sessionStorage.getItem(KEY)) void refresh();
else showKeyForm();
