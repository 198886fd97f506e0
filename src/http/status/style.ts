// The status page's only stylesheet, shipped inside the package and served from /status/status.css: no CDN,
// no build step, no web font. Colour pairs meet WCAG AA (4.5:1 for text) in both schemes; every state also
// has its own pattern and icon, so nothing depends on telling colours apart.
export const STATUS_CSS = `
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --surface: #ffffff; --text: #1b1f24; --muted: #4b5563; --border: #d4d8de; --focus: #1b1f24;
  --ok: #1a7f37; --fail: #c0212b; --maint: #0860c4; --unknown: #5c6570;
  --ok-soft: #e6f4ea; --fail-soft: #fdecec; --unknown-soft: #eef0f3; --maint-soft: #e7f0fb;
  --fail-stripe: #f1a9ad; --maint-stripe: #a8c8ef; --unknown-bar: #c9ced6;
  --link: #0753ad;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --surface: #161b22; --text: #e6edf3; --muted: #a5afbb; --border: #343b45; --focus: #e6edf3;
    --ok: #3fb950; --fail: #ff6b63; --maint: #66adff; --unknown: #8f99a5;
    --ok-soft: #12291a; --fail-soft: #3a1517; --unknown-soft: #1f252d; --maint-soft: #11253d;
    --fail-stripe: #7a2a27; --maint-stripe: #1d4a7d; --unknown-bar: #3a424d;
    --link: #79b8ff;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--text); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Ubuntu, sans-serif; }
a { color: var(--link); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, .b:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; }
.wrap { max-width: 70rem; margin: 0 auto; padding: 1rem; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 1rem; top: 1rem; background: var(--surface); padding: .5rem; z-index: 2; }
header.top { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline; justify-content: space-between; }
h1 { font-size: 1.6rem; margin: .5rem 0; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1.05rem; margin: 0; }
.meta, .since, .muted { color: var(--muted); font-size: .9rem; }
.banner { display: flex; gap: .75rem; align-items: center; border: 1px solid var(--border); border-left: .4rem solid var(--unknown); background: var(--surface); border-radius: .5rem; padding: .75rem 1rem; margin: .5rem 0 1rem; }
.banner.ok { border-left-color: var(--ok); }
.banner.fail { border-left-color: var(--fail); }
.banner p { margin: 0; }
.banner strong { font-size: 1.1rem; }
.icon { flex: none; width: 1.1em; height: 1.1em; vertical-align: -.15em; }
.icon.ok { fill: var(--ok); } .icon.fail { fill: var(--fail); } .icon.unknown { fill: var(--unknown); }
.filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; background: var(--surface); border: 1px solid var(--border); border-radius: .5rem; padding: .75rem; }
.filters label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); gap: .2rem; }
.filters input, .filters select, .filters button { font: inherit; color: var(--text); background: var(--bg); border: 1px solid var(--muted); border-radius: .35rem; padding: .35rem .5rem; min-height: 2.25rem; }
.filters input { min-width: 14rem; }
.filters button { background: var(--text); color: var(--surface); border-color: var(--text); cursor: pointer; }
.counts { margin: .5rem 0 0; }
.notice { border: 1px solid var(--border); border-left: .4rem solid var(--maint); background: var(--surface); border-radius: .35rem; padding: .5rem .75rem; }
.group > h2 { display: flex; justify-content: space-between; gap: 1rem; border-bottom: 1px solid var(--border); padding-bottom: .25rem; }
.monitor { background: var(--surface); border: 1px solid var(--border); border-radius: .5rem; padding: .75rem 1rem; margin: .75rem 0; }
.monitor > header { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: baseline; justify-content: space-between; margin-bottom: .25rem; }
.check { border-top: 1px solid var(--border); padding: .6rem 0 .4rem; }
.check:first-of-type { border-top: 0; }
.check-head { display: flex; flex-wrap: wrap; gap: .25rem .75rem; align-items: center; }
.check-name { font-weight: 600; min-width: 5.5rem; }
.pill { display: inline-flex; gap: .3rem; align-items: center; border-radius: 999px; padding: .05rem .6rem; font-size: .85rem; font-weight: 600; border: 1px solid; }
.pill.ok { background: var(--ok-soft); border-color: var(--ok); }
.pill.fail { background: var(--fail-soft); border-color: var(--fail); }
.pill.unknown { background: var(--unknown-soft); border-color: var(--unknown); border-style: dashed; }
.reason, .cause { margin: .35rem 0; }
.reason.fail::before, .cause.fail::before { content: ""; display: inline-block; width: .25rem; height: 1em; background: var(--fail); margin-right: .4rem; vertical-align: -.1em; }
.history { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: .4rem 1rem; align-items: end; margin-top: .4rem; }
.bars { position: relative; display: flex; gap: 1px; height: 2rem; list-style: none; margin: 0; padding: 0; }
.b { flex: 1 1 0; min-width: 2px; border-radius: 1px; background: var(--ok); }
.b.f { background: repeating-linear-gradient(135deg, var(--fail) 0 3px, var(--fail-stripe) 3px 5px); }
.b.m { background: repeating-linear-gradient(0deg, var(--maint) 0 3px, var(--maint-stripe) 3px 5px); }
.b.u { background: var(--unknown-bar); height: 35%; align-self: flex-end; }
.b:hover, .b:focus { filter: brightness(1.15); }
.b:hover::after, .b:focus::after { content: attr(aria-label); position: absolute; left: 0; bottom: calc(100% + .35rem); z-index: 1; white-space: nowrap; background: var(--text); color: var(--surface); font-size: .8rem; padding: .2rem .5rem; border-radius: .3rem; pointer-events: none; }
.axis { display: flex; justify-content: space-between; font-size: .75rem; color: var(--muted); grid-column: 1; }
/* Fixed columns: every check's bars end at the same place, whatever its figures' widths. */
.avail { display: grid; grid-template-columns: repeat(4, 4.9rem); column-gap: .35rem; margin: 0; grid-row: 1 / span 2; grid-column: 2; }
.avail div { text-align: right; }
.avail dt { font-size: .75rem; color: var(--muted); }
.avail dd { margin: 0; font-variant-numeric: tabular-nums; font-weight: 600; }
.detail { margin: .4rem 0; padding: .5rem .75rem; border: 1px solid var(--border); border-radius: .35rem; background: var(--bg); }
.detail summary { cursor: pointer; font-weight: 600; }
.detail pre, .detail code { font: .85rem/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
.detail ol { padding-left: 1.25rem; margin: .25rem 0; }
.detail dl { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .75rem; margin: .25rem 0; }
.detail dt { color: var(--muted); }
.detail dd { margin: 0; overflow-wrap: anywhere; }
.legend { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; list-style: none; padding: 0; margin: .5rem 0; font-size: .85rem; }
.legend li { display: flex; gap: .4rem; align-items: center; }
.legend .b { display: inline-block; width: .7rem; height: 1.2rem; flex: none; }
.legend .b.u { height: .45rem; align-self: flex-end; margin-bottom: .2rem; }
.pager { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; justify-content: center; margin: 1rem 0; }
.incidents { list-style: none; padding: 0; margin: 0; }
.incidents li { background: var(--surface); border: 1px solid var(--border); border-left: .3rem solid var(--ok); border-radius: .35rem; padding: .5rem .75rem; margin: .5rem 0; }
.incidents li.open { border-left-color: var(--fail); }
.incidents p { margin: .15rem 0; }
.empty { color: var(--muted); }
footer { margin: 2rem 0 1rem; color: var(--muted); font-size: .85rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; }
@media (min-width: 60rem) {
  .check { display: grid; grid-template-columns: 19rem minmax(0, 1fr); column-gap: 1.25rem; align-items: start; }
  .check-head { grid-column: 1; grid-row: 1; }
  .check-head .since { flex-basis: 100%; }
  .reason { grid-column: 1; grid-row: 2; margin: .25rem 0 0; }
  .history { grid-column: 2; grid-row: 1 / span 2; margin-top: 0; }
  .detail { grid-column: 1 / -1; grid-row: 3; }
}
@media (max-width: 40rem) {
  .wrap { padding: .6rem; }
  h1 { font-size: 1.35rem; }
  .history { grid-template-columns: minmax(0, 1fr); }
  .avail { grid-row: auto; grid-column: 1; grid-template-columns: repeat(4, 1fr); }
  .avail div { text-align: left; }
  .filters input { min-width: 0; width: 100%; }
  .filters label { flex: 1 1 40%; }
  .filters label:first-child { flex-basis: 100%; }
}
@media (forced-colors: active) {
  .b { forced-color-adjust: none; }
}
@media (prefers-reduced-motion: no-preference) {
  .b { transition: filter .1s; }
}
`;
