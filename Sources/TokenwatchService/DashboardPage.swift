import TokenwatchConfig
import TokenwatchCore

/// The dashboard served at `/`: one self-contained HTML page (CSS and JS inline, no CDN, no build step)
/// that renders what `/events` streams: boards per window and scope, adoption against the mandate,
/// per-user sparklines over the recent snapshots, and the alert feed.
public enum DashboardPage {
    /// What a new `/events` client learns first: the windows in configuration order and the mandate.
    public static func meta(_ configuration: TokenwatchConfiguration) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("schema"); w.string("tokenwatch.dashboard.meta.v1")
        w.key("windows")
        w.beginArray()
        for window in configuration.windows { w.string(window.name) }
        w.endArray()
        w.key("adoption_target"); w.decimal(configuration.leaderboard.adoptionTarget)
        w.key("top_k"); w.int(configuration.leaderboard.topK)
        w.key("rank_by"); w.string(configuration.leaderboard.rankBy.rawValue)
        w.key("version"); w.string(BuildInfo.version)
        w.endObject()
        return w.bytes
    }

    /// The page, as served.
    public static let html: [UInt8] = Array((head + style + body + script).utf8)

    private static let head = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tokenwatch</title>

"""#

    private static let style = #"""
<style>
:root { --bg:#0f1419; --card:#182029; --line:#2a3542; --text:#e6edf3; --dim:#8b98a5; --raw:#8b98a5;
        --eff:#4aa3ff; --warn:#f0b429; --crit:#ff5c5c; --info:#57c7a4; --ok:#3fb950; }
* { box-sizing:border-box; }
body { margin:0; background:var(--bg); color:var(--text); font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { display:flex; gap:16px; align-items:center; padding:10px 18px; border-bottom:1px solid var(--line); flex-wrap:wrap; }
header h1 { font-size:18px; margin:0; letter-spacing:.5px; }
.dot { display:inline-block; width:9px; height:9px; border-radius:50%; background:var(--crit); margin-right:6px; }
.live .dot { background:var(--ok); }
.dim { color:var(--dim); }
nav button { background:var(--card); color:var(--text); border:1px solid var(--line); padding:4px 12px; border-radius:14px; cursor:pointer; }
nav button.on { background:var(--eff); border-color:var(--eff); color:#04121f; font-weight:600; }
select { background:var(--card); color:var(--text); border:1px solid var(--line); padding:4px 8px; border-radius:6px; }
main { display:grid; grid-template-columns: minmax(0,2.2fr) minmax(300px,1fr); gap:14px; padding:14px 18px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
.card h2 { font-size:13px; text-transform:uppercase; letter-spacing:.8px; color:var(--dim); margin:0 0 10px; }
table { width:100%; border-collapse:collapse; }
th { text-align:left; color:var(--dim); font-weight:500; font-size:12px; border-bottom:1px solid var(--line); padding:4px 6px; }
td { padding:5px 6px; border-bottom:1px solid #1f2a36; vertical-align:middle; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
.bars { width:140px; }
.bar { height:6px; border-radius:3px; margin:2px 0; }
.bar.raw { background:var(--raw); } .bar.eff { background:var(--eff); }
.flag { display:inline-block; font-size:11px; padding:1px 7px; border-radius:9px; background:#3a2a10; color:var(--warn); margin:1px 2px; }
.susp { font-variant-numeric:tabular-nums; }
.susp.hi { color:var(--crit); font-weight:600; } .susp.mid { color:var(--warn); }
.gauge { position:relative; height:16px; background:#0b1016; border-radius:8px; margin:6px 0 2px; overflow:visible; }
.gauge .fill { position:absolute; left:0; top:0; bottom:0; border-radius:8px; }
.gauge .mark { position:absolute; top:-5px; bottom:-5px; width:2px; background:var(--text); }
.adopt-row { margin-bottom:10px; }
.adopt-row .label { display:flex; justify-content:space-between; font-size:12px; }
#alerts { list-style:none; margin:0; padding:0; max-height:520px; overflow:auto; }
#alerts li { border-left:4px solid var(--warn); padding:6px 10px; margin-bottom:8px; background:#121a22; border-radius:4px; }
#alerts li.critical { border-color:var(--crit); } #alerts li.info { border-color:var(--info); }
#alerts li.resolved { opacity:.6; }
.state { font-size:11px; font-weight:700; text-transform:uppercase; padding:1px 6px; border-radius:4px; margin-right:6px; }
.state.firing { background:var(--crit); color:#1a0505; } .state.resolved { background:var(--ok); color:#041a09; }
.meta-line { font-size:12px; color:var(--dim); }
a { color:var(--eff); text-decoration:none; }
svg.spark { display:block; }
.empty { color:var(--dim); padding:20px 0; text-align:center; }
@media (max-width: 900px) { main { grid-template-columns: 1fr; } }
</style></head>

"""#

    private static let body = #"""
<body>
<header>
  <h1>tokenwatch</h1>
  <span id="conn"><span class="dot"></span><span id="conn-text">connecting</span></span>
  <nav id="windows"></nav>
  <label class="dim">scope <select id="scope"><option value="global">global</option></select></label>
  <span class="dim">as of <b id="asof">–</b></span>
  <span class="dim" id="window-range"></span>
</header>
<main>
  <div>
    <section class="card" id="board-card">
      <h2>Leaderboard — raw vs effective <span id="board-title" class="dim"></span></h2>
      <table id="board" data-key="" data-as-of="">
        <thead><tr><th>#</th><th>user</th><th>team</th><th class="num">tokens</th><th class="num">effective</th>
        <th>raw / effective</th><th class="num">suspicion</th><th>flags</th><th>trend</th></tr></thead>
        <tbody><tr><td colspan="9" class="empty">waiting for the first board…</td></tr></tbody>
      </table>
    </section>
    <section class="card" id="teams-card" style="margin-top:14px">
      <h2>Teams in this window</h2>
      <table id="teams"><thead><tr><th>team</th><th class="num">active</th><th>adoption raw / effective</th>
        <th class="num">tokens (top)</th><th class="num">effective (top)</th></tr></thead><tbody></tbody></table>
    </section>
  </div>
  <div>
    <section class="card" id="adoption">
      <h2>Adoption vs mandate</h2>
      <div class="adopt-row"><div class="label"><span>raw active ratio</span><b id="adopt-raw">–</b></div>
        <div class="gauge"><div class="fill" id="gauge-raw" style="background:var(--raw);width:0"></div><div class="mark" id="mark-raw"></div></div></div>
      <div class="adopt-row"><div class="label"><span>effective (real activity)</span><b id="adopt-eff">–</b></div>
        <div class="gauge"><div class="fill" id="gauge-eff" style="background:var(--eff);width:0"></div><div class="mark" id="mark-eff"></div></div></div>
      <div class="meta-line" id="adopt-detail"></div>
    </section>
    <section class="card" style="margin-top:14px">
      <h2>Alerts <span class="dim" id="alert-count"></span></h2>
      <ul id="alerts"><li class="empty" id="no-alerts" style="border:0;background:none">no alerts yet</li></ul>
    </section>
  </div>
</main>

"""#

    private static let script = #"""
<script>
"use strict";
const tw = { meta: {windows: [], adoption_target: 0.8}, boards: {}, history: {}, alerts: new Map(),
             window: null, scope: "global", ready: false, events: 0, loadId: Math.random().toString(36).slice(2) };
window.__tw = tw;
const token = new URLSearchParams(location.hash.slice(1)).get("token") || new URLSearchParams(location.search).get("access_token");
const q = token ? "?access_token=" + encodeURIComponent(token) : "";
const $ = id => document.getElementById(id);
const esc = s => String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const fmt = n => n >= 1e9 ? (n/1e9).toFixed(2)+"G" : n >= 1e6 ? (n/1e6).toFixed(2)+"M" : n >= 1e4 ? (n/1e3).toFixed(1)+"k" : String(n);
const pct = r => (r * 100).toFixed(1) + "%";
const iso = ms => new Date(ms).toISOString().replace(".000Z", "Z").replace("T", " ");

function connect() {
  const es = new EventSource("/events" + q);
  es.onopen = () => { $("conn").className = "live"; $("conn-text").textContent = "live"; };
  es.onerror = () => { $("conn").className = ""; $("conn-text").textContent = "reconnecting"; tw.ready = false; };
  es.addEventListener("meta", e => { tw.meta = JSON.parse(e.data); tw.events++; renderWindows(); });
  es.addEventListener("board", e => { tw.events++; onBoard(JSON.parse(e.data)); });
  es.addEventListener("alert", e => { tw.events++; onAlert(JSON.parse(e.data), tw.ready); });
  es.addEventListener("ready", () => { tw.ready = true; document.body.dataset.ready = "1"; render(); });
}

function onBoard(b) {
  const key = b.window + "|" + b.scope;
  const h = tw.history[key] || (tw.history[key] = []);
  if (!h.length || h[h.length - 1].as_of < b.as_of) h.push(b); else if (h[h.length - 1].as_of === b.as_of) h[h.length - 1] = b;
  if (h.length > 30) h.shift();
  const old = tw.boards[key];
  if (!old || old.as_of <= b.as_of) tw.boards[key] = b;
  if (!tw.window) tw.window = b.window;
  if (tw.ready) render();
}

function onAlert(a, live) {
  const prev = tw.alerts.get(a.alert_id);
  const item = prev || { first: a, live };
  item.last = a;
  if (a.state === "firing") item.first = a;
  tw.alerts.set(a.alert_id, item);
  if (tw.ready) renderAlerts();
}

function renderWindows() {
  const names = tw.meta.windows.length ? tw.meta.windows : [...new Set(Object.values(tw.boards).map(b => b.window))];
  if (!tw.window && names.length) tw.window = names[0];
  $("windows").innerHTML = names.map(w => `<button data-window="${esc(w)}" class="${w === tw.window ? "on" : ""}">${esc(w)}</button>`).join("");
  for (const b of $("windows").querySelectorAll("button")) b.onclick = () => { tw.window = b.dataset.window; render(); };
}

function renderScopes() {
  const scopes = [...new Set(Object.values(tw.boards).filter(b => b.window === tw.window).map(b => b.scope))].sort((a, b) =>
    a === "global" ? -1 : b === "global" ? 1 : a.localeCompare(b));
  const sel = $("scope");
  const want = scopes.join(",");
  if (sel.dataset.options !== want) {
    sel.innerHTML = scopes.map(s => `<option value="${esc(s)}">${esc(s)}</option>`).join("");
    sel.dataset.options = want;
  }
  if (!scopes.includes(tw.scope)) tw.scope = "global";
  sel.value = tw.scope;
}
$("scope").onchange = e => { tw.scope = e.target.value; render(); };

function render() {
  renderWindows(); renderScopes(); renderBoard(); renderAdoption(); renderTeams(); renderAlerts();
}

function spark(series, max) {
  if (series.length < 2) return "";
  const w = 90, h = 22, step = w / (series.length - 1), y = v => (h - 2 - (max ? v / max : 0) * (h - 4)).toFixed(1);
  const line = k => series.map((p, i) => `${(i * step).toFixed(1)},${y(p[k])}`).join(" ");
  return `<svg class="spark" width="${w}" height="${h}"><polyline fill="none" stroke="var(--raw)" stroke-width="1.2" points="${line(0)}"/>` +
         `<polyline fill="none" stroke="var(--eff)" stroke-width="1.6" points="${line(1)}"/></svg>`;
}

function renderBoard() {
  const key = tw.window + "|" + tw.scope, b = tw.boards[key], table = $("board"), body = table.tBodies[0];
  if (!b) { body.innerHTML = `<tr><td colspan="9" class="empty">no board yet for ${esc(key)}</td></tr>`; return; }
  table.dataset.key = key; table.dataset.asOf = b.as_of;
  $("asof").textContent = iso(b.as_of);
  $("window-range").textContent = `window ${iso(b.window_start)} → ${iso(b.window_end)}`;
  $("board-title").textContent = `${b.window} · ${b.scope} · ranked by ${b.rank_by}`;
  const top = Math.max(1, ...b.entries.map(e => e.tokens));
  const hist = tw.history[key] || [];
  body.innerHTML = b.entries.length ? b.entries.map(e => {
    const series = hist.map(h => { const x = h.entries.find(y => y.user_id === e.user_id); return x ? [x.tokens, x.effective_tokens] : [0, 0]; });
    const smax = Math.max(1, ...series.map(p => p[0]));
    const s = e.suspicion, cls = s >= 0.5 ? "hi" : s >= 0.2 ? "mid" : "";
    return `<tr data-user="${esc(e.user_id)}" data-rank="${e.rank}" data-tokens="${e.tokens}" data-effective="${e.effective_tokens}">` +
      `<td>${e.rank}</td><td><a href="/users/${encodeURIComponent(e.user_id)}${q}">${esc(e.user_id)}</a></td><td class="dim">${esc(e.team)}</td>` +
      `<td class="num">${fmt(e.tokens)}</td><td class="num">${fmt(e.effective_tokens)}</td>` +
      `<td class="bars"><div class="bar raw" style="width:${(100 * e.tokens / top).toFixed(1)}%"></div>` +
      `<div class="bar eff" style="width:${(100 * e.effective_tokens / top).toFixed(1)}%"></div></td>` +
      `<td class="num susp ${cls}">${s.toFixed(2)}</td><td>${(e.flags || []).map(f => `<span class="flag">${esc(f)}</span>`).join("")}</td>` +
      `<td>${spark(series, smax)}</td></tr>`;
  }).join("") : `<tr><td colspan="9" class="empty">nobody active in this window</td></tr>`;
}

function gauge(id, markId, ratio, target) {
  $(id).style.width = Math.min(100, ratio * 100).toFixed(1) + "%";
  $(markId).style.left = Math.min(100, target * 100).toFixed(1) + "%";
}

function renderAdoption() {
  const b = tw.boards[tw.window + "|" + tw.scope], t = tw.meta.adoption_target;
  if (!b || !b.adoption) { $("adopt-detail").textContent = "no adoption figures for this scope"; return; }
  const a = b.adoption;
  $("adopt-raw").textContent = pct(a.active_ratio); $("adopt-eff").textContent = pct(a.effective_active_ratio);
  $("adopt-raw").style.color = a.active_ratio >= t ? "var(--ok)" : "var(--warn)";
  $("adopt-eff").style.color = a.effective_active_ratio >= t ? "var(--ok)" : "var(--crit)";
  gauge("gauge-raw", "mark-raw", a.active_ratio, t); gauge("gauge-eff", "mark-eff", a.effective_active_ratio, t);
  $("adopt-detail").textContent = `${a.active_users} of ${a.known_users} known users active in ${b.window} · mandate ${pct(t)} (white mark)` +
    (a.effective_active_ratio < a.active_ratio ? ` · ${Math.round((a.active_ratio - a.effective_active_ratio) * a.known_users)} count only by padding or gaming` : "");
}

function renderTeams() {
  const rows = Object.values(tw.boards).filter(b => b.window === tw.window && b.scope.startsWith("team:")).sort((a, b) => a.scope.localeCompare(b.scope));
  const t = tw.meta.adoption_target;
  $("teams").tBodies[0].innerHTML = rows.length ? rows.map(b => {
    const a = b.adoption || {active_users: 0, known_users: 0, active_ratio: 0, effective_active_ratio: 0};
    const raw = b.entries.reduce((s, e) => s + e.tokens, 0), eff = b.entries.reduce((s, e) => s + e.effective_tokens, 0);
    return `<tr data-scope="${esc(b.scope)}"><td><a href="#" data-scope="${esc(b.scope)}">${esc(b.scope.slice(5))}</a></td>` +
      `<td class="num">${a.active_users}/${a.known_users}</td>` +
      `<td class="bars"><div class="bar raw" style="width:${(a.active_ratio * 100).toFixed(1)}%"></div><div class="bar eff" style="width:${(a.effective_active_ratio * 100).toFixed(1)}%;background:${a.effective_active_ratio >= t ? "var(--eff)" : "var(--warn)"}"></div></td>` +
      `<td class="num">${fmt(raw)}</td><td class="num">${fmt(eff)}</td></tr>`;
  }).join("") : `<tr><td colspan="5" class="empty">no team boards</td></tr>`;
  for (const a of $("teams").querySelectorAll("a[data-scope]")) a.onclick = ev => { ev.preventDefault(); tw.scope = a.dataset.scope; render(); };
}

function renderAlerts() {
  const items = [...tw.alerts.values()].sort((x, y) => y.first.ts - x.first.ts || (x.first.alert_id < y.first.alert_id ? -1 : 1)).slice(0, 100);
  const firing = [...tw.alerts.values()].filter(i => i.last.state === "firing").length;
  $("alert-count").textContent = `${firing} firing · ${tw.alerts.size - firing} resolved`;
  $("alerts").innerHTML = items.length ? items.map(i => {
    const a = i.first, st = i.last.state;
    return `<li class="${esc(a.severity)} ${esc(st)}" data-alert-id="${esc(a.alert_id)}" data-state="${esc(st)}" data-rule="${esc(a.rule)}" data-user="${esc(a.user_id)}" data-live="${i.live ? 1 : 0}">` +
      `<span class="state ${esc(st)}">${esc(st)}</span><b>${esc(a.rule)}</b> <span class="dim">${esc(a.severity)} · ${esc(a.team)}</span><br>` +
      `${esc(a.summary)}<div class="meta-line">${iso(a.ts)} · score ${Number(a.score).toFixed(2)}` +
      (st === "resolved" ? ` · resolved ${iso(i.last.ts)}` : "") + ` · <a href="/users/${encodeURIComponent(a.user_id)}${q}">${esc(a.user_id)}</a></div></li>`;
  }).join("") : `<li class="empty" id="no-alerts" style="border:0;background:none">no alerts yet</li>`;
}

connect();
</script>
</body></html>
"""#
}
