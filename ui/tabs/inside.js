// The "Inside the model" page, drawn in the browser from the JSON the server sends once (ui/tabs/inside_tab.py):
// attention maps, the logit lens, a guess before the reveal, and the sampling chart, which is redrawn here as its
// sliders move, with no request to the server. Run as gr.HTML's js_on_load (element, props, watch in scope); the
// first part is plain functions that tests run under node (tests/test_inside.py).

function bytesOf(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function floatsOf(b64) { return new Float32Array(bytesOf(b64).buffer); }

function softmaxOver(x, keep) {  // softmax of x over the tokens keep marks (all when keep is null)
  let max = -Infinity, sum = 0;
  for (let i = 0; i < x.length; i++) if (!keep || keep[i]) max = Math.max(max, x[i]);
  const p = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) if (!keep || keep[i]) { p[i] = Math.exp(x[i] - max); sum += p[i]; }
  for (let i = 0; i < x.length; i++) p[i] /= sum;
  return p;
}

// generators/text_decoding.py's processed() and draw() for one row: the repetition penalty, the temperature, top-k,
// top-p, then the seed's pick: argmax p_i / q_j over the kept tokens, q_j the seed's j-th exponential (-log1p(-u_j))
// going to the j-th kept token in increasing id order. At temperature 0: the argmax, nothing cut.
function samplingView(logits, seen, temperature, topK, topP, penalty, q) {
  const V = logits.length, x = Float64Array.from(logits);
  if (penalty !== 1) for (const i of new Set(seen)) x[i] = x[i] < 0 ? x[i] * penalty : x[i] / penalty;
  const order = Array.from(x.keys()).sort((a, b) => x[b] - x[a] || a - b);  // most likely first
  const keep = new Uint8Array(V).fill(1);
  if (temperature === 0) return { probs: softmaxOver(x, null), keep, order, pick: order[0], mass: 1, kept: V };
  for (let i = 0; i < V; i++) x[i] /= temperature;
  if (topK > 0 && topK < V) { const kth = x[order[topK - 1]]; for (let i = 0; i < V; i++) keep[i] = x[i] >= kth; }
  if (topP < 1) {  // ascending, as text_decoding: drop while the mass below reaches no more than 1 - p
    const p = softmaxOver(x, keep);
    let cum = 0;
    const last = order.find(i => keep[i]);
    for (let r = V - 1; r >= 0; r--) {
      const i = order[r];
      if (!keep[i]) continue;
      cum += p[i];
      if (cum <= 1 - topP && i !== last) keep[i] = 0;
    }
  }
  const probs = softmaxOver(x, null), kp = softmaxOver(x, keep);
  let j = 0, pick = -1, best = -1, mass = 0, kept = 0;
  for (let i = 0; i < V; i++) {
    if (!keep[i]) continue;
    const r = Math.fround(kp[i]) / q[j++];
    if (r > best) { best = r; pick = i; }
    mass += probs[i]; kept++;
  }
  return { probs, keep, order, pick, mass, kept };
}

function guessRank(guess, tokens) {  // 1-based rank of the guess among tokens (most likely first): exact, or its first piece
  const norm = s => s.replace(/\s+/g, " ").trim().toLowerCase();
  const g = norm(guess);
  if (!g) return null;
  const exact = tokens.findIndex(t => norm(t) === g);
  if (exact >= 0) return { rank: exact + 1, piece: false };
  const piece = tokens.findIndex(t => norm(t).length > 0 && g.startsWith(norm(t)));
  return piece >= 0 ? { rank: piece + 1, piece: true } : { rank: 0, piece: false };
}


const esc = s => String(s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const shown = s => esc(String(s).replace(/\n/g, "↵").replace(/ /g, "·"));  // spaces visible: " the" and "the" differ
const pct = p => (p >= 0.1 ? (p * 100).toFixed(0) : (p * 100).toFixed(1)) + "%";
const fill = (template, fields) => template.replace(/\{(\w+)\}/g, (m, k) => (k in fields ? fields[k] : m));

function shade(v) {  // attention weight 0..1 -> white to dark blue; the square root keeps weak links visible
  const s = Math.sqrt(v);
  return [255 - 225 * s, 255 - 175 * s, 255 - 75 * s];
}

function paint(canvas, att, T, offset, query, cell) {  // one head's T x T map; the query row outlined
  canvas.width = canvas.height = T * cell;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(T * cell, T * cell);
  for (let y = 0; y < T * cell; y++) for (let x = 0; x < T * cell; x++) {
    const r = Math.floor(y / cell), c = Math.floor(x / cell), o = 4 * (y * T * cell + x);
    const rgb = c > r ? [236, 236, 236] : shade(att[offset + r * T + c] / 255);
    img.data.set([rgb[0], rgb[1], rgb[2], 255], o);
  }
  ctx.putImageData(img, 0, 0);
  if (query !== null) {
    const w = Math.max(1, Math.min(3, cell / 6));  // a thin frame inside the row: its weights stay visible
    ctx.strokeStyle = "#d62728"; ctx.lineWidth = w;
    ctx.strokeRect(w / 2, query * cell + w / 2, T * cell - w, cell - w);
  }
}

function renderInside(root, d, L) {
  const T = d.tokens.length, LAYERS = d.layers, HEADS = d.heads, att = bytesOf(d.attention_u8);
  const logits = floatsOf(d.logits), q = floatsOf(d.q);
  const names = new Map(d.candidates.map((id, i) => [id, d.candidate_tokens[i]]));
  const st = { query: d.position, layer: LAYERS - 1, head: 0 };
  const at = (l, h) => (l * HEADS + h) * T * T;
  root.innerHTML = `
    <p class="inside-note">${esc(fill(L.window, { shown: T, total: d.total_tokens, position: d.position }))}</p>
    <h3>${esc(L.attention_title)}</h3><p class="inside-help">${esc(L.attention_help)}</p>
    <div class="inside-tokens"></div>
    <div class="inside-big"><canvas></canvas><p class="inside-caption"></p></div>
    <p class="inside-help">${esc(L.grid_help)}</p><div class="inside-grid"></div>
    <h3>${esc(L.guess_title)}</h3>
    <div class="inside-guess"><input type="text" maxlength="60" aria-label="${esc(L.guess_placeholder)}"
      placeholder="${esc(L.guess_placeholder)}"><button type="button" class="inside-reveal">${esc(L.reveal)}</button></div>
    <div class="inside-guess-result"></div>
    <div class="inside-revealed" hidden>
      <h3>${esc(L.lens_title)}</h3><p class="inside-help">${esc(L.lens_help)}</p>
      <div class="inside-scroll"><table class="inside-lens"></table></div>
      <h3>${esc(L.sampling_title)}</h3><p class="inside-help">${esc(L.sampling_help)}</p>
      <div class="inside-sliders">
        ${[["temperature", 0, 2, 0.05, 0.8], ["top_k", 0, 200, 1, 40], ["top_p", 0.01, 1, 0.01, 0.95],
           ["penalty", 1, 2, 0.05, 1.1]].map(([k, lo, hi, step, v]) => `<label>${esc(L["slider_" + k])}
           <input type="range" data-k="${k}" min="${lo}" max="${hi}" step="${step}" value="${v}"><output>${v}</output></label>`).join("")}
      </div>
      <div class="inside-bars"></div><p class="inside-pick"></p><p class="inside-help">${esc(L.why)}</p>
    </div>`;
  const $ = sel => root.querySelector(sel);

  function drawAttention() {
    const off = at(st.layer, st.head), row = off + st.query * T;
    $(".inside-tokens").innerHTML = d.tokens.map((tok, i) => {
      const w = i <= st.query ? att[row + i] / 255 : 0, [r, g, b] = shade(w);
      const cls = i === st.query ? "inside-tok inside-query" : i > st.query ? "inside-tok inside-later" : "inside-tok";
      return `<button type="button" class="${cls}" data-i="${i}" style="background:rgb(${r},${g},${b});color:${w > 0.35 ? "#fff" : "inherit"}"
        title="${esc(pct(w))}">${shown(tok)}</button>`;
    }).join("");
    const cell = Math.max(3, Math.floor(Math.min(root.clientWidth || 360, 480) / T));
    paint($(".inside-big canvas"), att, T, off, st.query, cell);
    const top = d.tokens.map((tok, i) => [i, i <= st.query ? att[row + i] / 255 : 0]).sort((a, b) => b[1] - a[1]).slice(0, 3);
    $(".inside-caption").innerHTML = esc(fill(L.caption, { layer: st.layer + 1, head: st.head + 1, token: "" })) +
      `<b>${shown(d.tokens[st.query])}</b> → ` + top.map(([i, w]) => `<b>${shown(d.tokens[i])}</b> ${pct(w)}`).join(", ");
    root.querySelectorAll(".inside-grid canvas").forEach(c => {
      const sel = +c.dataset.l === st.layer && +c.dataset.h === st.head;
      c.classList.toggle("inside-selected", sel);
    });
  }

  const grid = $(".inside-grid");
  grid.style.gridTemplateColumns = `auto repeat(${HEADS}, 1fr)`;
  grid.innerHTML = "<span></span>" + Array.from({ length: HEADS }, (_, h) => `<span>${esc(fill(L.head, { n: h + 1 }))}</span>`).join("") +
    Array.from({ length: LAYERS }, (_, l) => `<span>${esc(fill(L.layer, { n: l + 1 }))}</span>` +
      Array.from({ length: HEADS }, (_, h) => `<canvas data-l="${l}" data-h="${h}" role="button" tabindex="0"
        aria-label="${esc(fill(L.layer, { n: l + 1 }))} · ${esc(fill(L.head, { n: h + 1 }))}"></canvas>`).join("")).join("");
  grid.querySelectorAll("canvas").forEach(c => {
    paint(c, att, T, at(+c.dataset.l, +c.dataset.h), null, 1);
    c.addEventListener("click", () => { st.layer = +c.dataset.l; st.head = +c.dataset.h; drawAttention(); });
  });
  $(".inside-tokens").addEventListener("click", e => {
    const b = e.target.closest("[data-i]");
    if (b) { st.query = +b.dataset.i; drawAttention(); }
  });
  drawAttention();

  $(".inside-lens").innerHTML = `<tr><th>${esc(L.lens_layer)}</th><th>1</th><th>2</th><th>3</th></tr>` +
    d.logit_lens.map((row, l) => `<tr><th>${esc(l === 0 ? L.lens_embeddings : fill(l === d.logit_lens.length - 1 ? L.lens_output : L.layer, { n: l }))}</th>` +
      row.map(c => `<td><b>${shown(c.token)}</b> ${pct(c.p)}</td>`).join("") + "</tr>").join("");

  function drawSampling() {
    const t0 = performance.now(), v = {};
    root.querySelectorAll(".inside-sliders input").forEach(i => { v[i.dataset.k] = +i.value; i.nextElementSibling.textContent = i.value; });
    const s = samplingView(logits, d.seen, v.temperature, v.top_k, v.top_p, v.penalty, q);
    const rows = s.order.slice(0, 20), max = s.probs[rows[0]];
    const cutAt = rows.findIndex(i => !s.keep[i]);
    const cutLabel = v.temperature === 0 ? "" : v.top_k > 0 && s.kept === v.top_k ? fill(L.cut_k, { k: v.top_k }) : fill(L.cut_p, { p: v.top_p });
    $(".inside-bars").innerHTML = rows.map((i, r) => (r === cutAt ? `<div class="inside-cut">${esc(cutLabel)}</div>` : "") +
      `<div class="inside-bar${s.keep[i] ? "" : " inside-dropped"}${i === s.pick ? " inside-picked" : ""}">
        <span class="inside-bar-tok">${i === s.pick ? "★ " : ""}${shown(names.get(i) ?? "#" + i)}</span>
        <span class="inside-bar-track"><span style="width:${(100 * s.probs[i] / max).toFixed(1)}%"></span></span>
        <span class="inside-bar-p">${pct(s.probs[i])}</span></div>`).join("");
    const rank = s.order.indexOf(s.pick) + 1;
    $(".inside-pick").innerHTML = esc(fill(v.temperature === 0 ? L.pick_greedy : L.pick, {
      seed: d.seed, rank, kept: s.kept, mass: pct(s.mass), token: "" })) + ` <b>${shown(names.get(s.pick) ?? "#" + s.pick)}</b>`;
    root.dataset.redrawMs = (performance.now() - t0).toFixed(1);
    root.dataset.pick = s.pick;
  }
  root.querySelectorAll(".inside-sliders input").forEach(i => i.addEventListener("input", drawSampling));
  drawSampling();

  $(".inside-reveal").addEventListener("click", () => {
    const guess = $(".inside-guess input").value, found = guessRank(guess, d.candidate_tokens);
    const top5 = d.next.slice(0, 5).map(c => `<b>${shown(c.token)}</b> ${pct(c.p)}`).join(" · ");
    const verdict = !found ? L.no_guess : found.rank === 0 ? fill(L.guess_missing, { n: d.candidates.length })
      : fill(found.piece ? L.guess_piece : L.guess_rank, { rank: found.rank, token: d.candidate_tokens[found.rank - 1].trim() });
    $(".inside-guess-result").innerHTML = `<p>${esc(verdict)}</p><p>${esc(L.top5)} ${top5}</p>`;
    $(".inside-revealed").hidden = false;
  });
}

function mountInside(element, props, watch) {
  const draw = () => {
    const root = element.querySelector(".inside-root");
    if (!root) return;
    const value = props.value;
    if (value && value.data) renderInside(root, value.data, value.labels);
    else root.innerHTML = "";
  };
  watch("value", draw);
  draw();
}

if (typeof module !== "undefined") module.exports = { samplingView, guessRank, floatsOf, bytesOf };
