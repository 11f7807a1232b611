/**
 * The page's HTML and CSS. No inline script or style (the CSP forbids them), no font but
 * the system's, no external URL: the page must work on a laptop with no internet.
 */

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-agent station</title>
<link rel="stylesheet" href="/assets/uplot.css">
<link rel="stylesheet" href="/assets/style.css">
<link rel="icon" href="data:,">
</head>
<body>
<header>
  <h1><span id="station">edge-agent</span> <small id="site"></small></h1>
  <nav>
    <a href="#overview" data-view="overview">Overview</a>
    <a href="#devices" data-view="devices">Devices</a>
    <a href="#links" data-view="links">Links</a>
    <a href="#piles" data-view="piles">Piles</a>
    <a href="#events" data-view="events">Events</a>
  </nav>
  <span id="live" class="badge bad" title="live stream">connecting</span>
</header>
<main>
  <section id="view-overview" class="view">
    <div id="cards" class="cards"></div>
    <div class="charts">
      <figure><figcaption>Outbox depth (records) and drain (records/s), last hour</figcaption><div id="chart-outbox"></div></figure>
      <figure><figcaption>Poll latency per device (ms)</figcaption><div id="chart-latency"></div></figure>
    </div>
  </section>
  <section id="view-devices" class="view"><div id="devices"></div></section>
  <section id="view-links" class="view">
    <h2>DTU links</h2><div id="dtus"></div>
    <h2>S7 connections</h2><div id="s7"></div>
  </section>
  <section id="view-piles" class="view"><div id="piles"></div></section>
  <section id="view-events" class="view"><div id="events"></div></section>
</main>
<aside id="errdoc" hidden>
  <button type="button" id="errdoc-close" aria-label="close">×</button>
  <h2 id="errdoc-code"></h2>
  <p id="errdoc-summary"></p>
  <div id="errdoc-text"></div>
</aside>
<script src="/assets/uplot.js"></script>
<script type="module" src="/assets/app.js"></script>
</body>
</html>
`;

export const LOGIN_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edge-agent station — login</title>
<link rel="stylesheet" href="/assets/style.css">
<link rel="icon" href="data:,">
</head>
<body class="login">
<form method="post" action="/login">
  <h1>edge-agent station</h1>
  <p>This station page is reachable beyond loopback: log in with the token or password of <code>http.auth</code>.</p>
  <label>Token or password <input type="password" name="secret" autocomplete="current-password" autofocus required></label>
  <button type="submit">Log in</button>
  <p class="hint">A wrong secret brings you back here; too many attempts are refused for a minute.</p>
</form>
</body>
</html>
`;

export const STYLE_CSS = `
:root { --bg:#f6f7f9; --fg:#1b1f24; --muted:#667; --card:#fff; --line:#dde1e6; --good:#1a7f37; --bad:#c62828; --warn:#b26a00; --accent:#0b5cad; }
@media (prefers-color-scheme: dark) { :root { --bg:#14171b; --fg:#e6e8eb; --muted:#9aa3ad; --card:#1d2127; --line:#2d333b; --good:#3fb950; --bad:#f85149; --warn:#d29922; --accent:#58a6ff; } }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg); }
header { display:flex; align-items:center; gap:1rem; padding:.5rem 1rem; background:var(--card); border-bottom:1px solid var(--line); position:sticky; top:0; z-index:2; flex-wrap:wrap; }
header h1 { font-size:1.1rem; margin:0; }
header small { color:var(--muted); font-weight:normal; }
nav { display:flex; gap:.25rem; flex:1; }
nav a { padding:.3rem .7rem; border-radius:4px; color:var(--fg); text-decoration:none; }
nav a.active { background:var(--accent); color:#fff; }
main { padding:1rem; }
.view { display:none; }
.view.active { display:block; }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(190px, 1fr)); gap:.6rem; }
.card { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:.5rem .7rem; }
.card .k { color:var(--muted); font-size:.8rem; }
.card .v { font-size:1.15rem; font-variant-numeric: tabular-nums; overflow-wrap:anywhere; }
.card .k { overflow-wrap:anywhere; }
.charts { display:grid; grid-template-columns:repeat(auto-fit, minmax(420px, 1fr)); gap:1rem; margin-top:1rem; }
figure { margin:0; background:var(--card); border:1px solid var(--line); border-radius:6px; padding:.5rem; }
figcaption { color:var(--muted); font-size:.85rem; margin-bottom:.3rem; }
table { border-collapse:collapse; width:100%; background:var(--card); margin-bottom:1rem; font-variant-numeric: tabular-nums; }
th, td { text-align:left; padding:.25rem .5rem; border-bottom:1px solid var(--line); vertical-align:middle; }
th { color:var(--muted); font-weight:600; font-size:.8rem; }
.device { margin-bottom:1.2rem; }
.device h3 { margin:.2rem 0; font-size:1rem; display:flex; gap:.6rem; align-items:center; flex-wrap:wrap; }
.device h3 .meta { color:var(--muted); font-weight:normal; font-size:.85rem; }
.badge { display:inline-block; padding:0 .45rem; border-radius:9px; font-size:.8rem; border:1px solid currentColor; }
.good, td.q.q-good { color:var(--good); }
.bad, td.q.q-bad { color:var(--bad); }
.warn { color:var(--warn); }
.muted { color:var(--muted); }
tr.q-bad td.v { color:var(--bad); font-weight:600; }
table.tags { table-layout:fixed; }
table.tags th:nth-child(1) { width:22%; } table.tags th:nth-child(2) { width:16%; } table.tags th:nth-child(3) { width:10%; }
table.tags th:nth-child(4) { width:26%; } table.tags th:nth-child(5) { width:10%; } table.tags th:nth-child(6) { width:136px; }
td.code { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
canvas.spark { width:120px; height:24px; display:block; }
a.code { color:var(--accent); font-family: ui-monospace, monospace; font-size:.85em; }
#errdoc { position:fixed; right:1rem; bottom:1rem; width:min(520px, 90vw); max-height:60vh; overflow:auto; background:var(--card); border:1px solid var(--line); border-radius:8px; padding:.8rem 1rem; box-shadow:0 4px 20px rgba(0,0,0,.25); z-index:3; }
#errdoc h2 { font-family: ui-monospace, monospace; font-size:.95rem; margin:.2rem 0; }
#errdoc-close { float:right; border:0; background:none; font-size:1.3rem; color:var(--fg); cursor:pointer; }
#errdoc-text { white-space:pre-wrap; }
body.login { display:grid; place-items:center; min-height:100vh; }
body.login form { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:1.2rem 1.5rem; width:min(420px, 92vw); }
body.login label { display:block; margin:.8rem 0; }
body.login input { display:block; width:100%; padding:.4rem; margin-top:.3rem; }
.hint { color:var(--muted); font-size:.85rem; }
body.stale main { opacity:.5; }
body.stale td.q, body.stale .card .v.good { color:var(--muted); }
`;
