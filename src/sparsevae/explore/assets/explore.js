// sparsevae explore: the page's behaviour.  Plain browser code, no library; every number comes
// from the server's JSON API (src/sparsevae/explore/app.py), which does the model's work.
"use strict";

const PAGE = 60; // thumbnails per page
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = {
  info: null,
  filter: "all",
  offset: 0,
  total: 0,
  source: null, // {index, label} of the image shown; index null for an upload
  original: [], // the input's code
  values: [], // the slider values
  enabled: [], // the switches
  listed: [], // elements with a control row
  gamma: null,
  upload: null, // the user's file
  selected: null, // element to traverse
  decoding: false,
  dirty: false,
};

// -- talking to the server ----------------------------------------------------------------------
async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(body.error || `request failed (${response.status})`);
  return body;
}

function postJSON(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.className = isError ? "error" : "";
}

async function guarded(what, action) {
  try {
    await action();
  } catch (err) {
    say(`${what}: ${err.message}`, true);
  }
}

// -- the code being edited ----------------------------------------------------------------------
function editedCode() {
  return state.values.map((v, j) => (state.enabled[j] ? v : 0));
}

function decodeLabel() {
  return state.info.conditional ? Number($("decode-label").value) : null; // conditional models
}

async function requestDecode() {
  if (state.decoding) {
    state.dirty = true; // one more request when this one is back
    return;
  }
  state.decoding = true;
  const image = $("decoded");
  image.dataset.pending = "true";
  const code = editedCode();
  try {
    const result = await postJSON("/api/decode", { code, label: decodeLabel() });
    image.src = result.image;
    image.dataset.values = JSON.stringify(result.values);
    image.dataset.code = JSON.stringify(code);
    image.classList.remove("stale");
    say("");
  } catch (err) {
    image.classList.add("stale");
    say(`cannot decode this code: ${err.message}`, true);
  } finally {
    state.decoding = false;
    image.dataset.version = String(Number(image.dataset.version) + 1);
    if (state.dirty) {
      state.dirty = false;
      requestDecode();
    } else {
      delete image.dataset.pending;
    }
  }
  drawChart();
}

function showAnalysis(result) {
  state.source = { index: result.index, label: result.label };
  state.original = result.code;
  state.gamma = result.gamma;
  resetEdits();
  state.selected = strongestElement();
  $("input-image").src = result.image;
  $("reconstruction").src = result.reconstruction;
  $("gamma-key").hidden = $("gamma-text").hidden = $("gamma-label").hidden = !state.gamma;
  const where = result.index === null ? "your image" : `test image ${result.index}`;
  $("input-caption").textContent = result.label === null ? where : `${where} (class ${result.label})`;
  if (state.info.conditional && result.label !== null) $("decode-label").value = String(result.label);
  markThumbnail();
  buildControls();
  fillTraversalChoices();
  requestDecode();
  runTraversal();
}

function resetEdits() {
  state.values = state.original.slice();
  state.enabled = state.original.map(() => true);
  state.listed = state.original.map((v, j) => j).filter((j) => state.original[j] !== 0);
}

function strongestElement() {
  const pool = state.listed.length ? state.listed : state.values.map((v, j) => j);
  return pool.reduce((best, j) => (Math.abs(state.values[j]) > Math.abs(state.values[best]) ? j : best), pool[0]);
}

// -- the bar chart ------------------------------------------------------------------------------
function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  parent.appendChild(node);
  return node;
}

function chartScale() {
  // The largest magnitude in the input's and the edited code, so that the bars fill their band.
  return state.values.concat(state.original).reduce((top, v) => Math.max(top, Math.abs(v)), 0) || 1;
}

// Bands of the chart, in its 1000 × 200 viewBox (stretched sideways only): the code's bars
// around a zero line, γ's bars (spike-and-slab models only), and a strip marking the active elements.
const BANDS = {
  gamma: { zero: 62, half: 56, gammaBase: 160, gammaHeight: 30, markTop: 172, markHeight: 22 },
  plain: { zero: 84, half: 78, markTop: 172, markHeight: 22 },
};

function drawChart() {
  const chart = $("code-chart");
  chart.replaceChildren();
  const J = state.info.latent_dim;
  const width = 1000 / J;
  const top = chartScale();
  const band = state.gamma ? BANDS.gamma : BANDS.plain;
  $("zero-label").style.top = `${band.zero - 8}px`;
  const y = (v) => band.zero - (band.half * Math.max(-top, Math.min(top, v))) / top;
  if (state.selected !== null) svg("rect", { x: state.selected * width, y: 0, width, height: 200, class: "selected" }, chart);
  svg("line", { x1: 0, x2: 1000, y1: band.zero, y2: band.zero, class: "axis" }, chart);
  if (state.gamma) svg("line", { x1: 0, x2: 1000, y1: band.gammaBase, y2: band.gammaBase, class: "axis" }, chart);
  const edited = editedCode();
  for (let j = 0; j < J; j++) drawElement(chart, j, { width, y, band }, edited[j]);
  $("chart-scale").textContent = `±${top.toPrecision(3)}`;
}

function drawElement(chart, j, { width, y, band }, value) {
  const x = j * width;
  const inner = { x: x + width * 0.12, width: width * 0.76 };
  const bar = (v, cls) => svg("rect", { ...inner, y: Math.min(y(v), band.zero), height: Math.abs(y(v) - band.zero), class: cls }, chart);
  bar(state.original[j], "original");
  bar(value, "current");
  if (state.gamma) {
    const height = band.gammaHeight * state.gamma[j];
    svg("rect", { ...inner, y: band.gammaBase - height, height, class: "gamma" }, chart);
  }
  const active = state.original[j] !== 0;
  const cls = !state.enabled[j] ? "off" : active ? "active" : "inactive";
  svg("rect", { x: x + width * 0.05, width: width * 0.9, y: band.markTop, height: band.markHeight, class: `mark ${cls}` }, chart);
  const hit = svg("rect", { x, width, y: 0, height: 200, class: "hit", "data-element": j }, chart);
  const gammaText = state.gamma ? `, γ ${state.gamma[j].toFixed(3)}` : "";
  svg("title", {}, hit).textContent = `z[${j}] = ${value.toPrecision(4)} (input ${state.original[j].toPrecision(4)}${gammaText})`;
  hit.addEventListener("click", () => selectElement(j));
}

function selectElement(j) {
  if (!state.listed.includes(j)) {
    state.listed.push(j);
    state.listed.sort((a, b) => a - b);
    buildControls();
  }
  state.selected = j;
  fillTraversalChoices();
  drawChart();
  runTraversal();
}

// -- switches and sliders -----------------------------------------------------------------------
function sliderRange(j) {
  return [Math.min(state.info.code_low[j], state.values[j]), Math.max(state.info.code_high[j], state.values[j])];
}

function controlRow(j) {
  const row = document.createElement("div");
  row.className = "element";
  row.dataset.element = j;
  const [low, high] = sliderRange(j);
  const gamma = state.gamma ? `<span class="gamma-value" title="γ">γ ${state.gamma[j].toFixed(2)}</span>` : "";
  row.innerHTML = `<label><input type="checkbox" class="switch"> z[${j}]</label>
    <input type="range" class="slider" min="${low}" max="${high}" step="${(high - low) / 200}">
    <output class="value"></output>${gamma}`;
  const [toggle, slider] = [row.querySelector(".switch"), row.querySelector(".slider")];
  toggle.checked = state.enabled[j];
  slider.value = String(state.values[j]);
  row.querySelector(".value").textContent = state.values[j].toFixed(3);
  toggle.addEventListener("change", () => {
    state.enabled[j] = toggle.checked;
    row.classList.toggle("is-off", !toggle.checked);
    requestDecode();
  });
  slider.addEventListener("input", () => {
    state.values[j] = Number(slider.value);
    row.querySelector(".value").textContent = state.values[j].toFixed(3);
    requestDecode();
  });
  row.classList.toggle("is-off", !state.enabled[j]);
  return row;
}

function buildControls() {
  const list = $("element-list");
  list.replaceChildren(...state.listed.map(controlRow));
  const active = state.original.filter((v) => v !== 0).length;
  $("code-stats").textContent = `${active} of ${state.info.latent_dim} elements active`;
  if (!state.listed.length) list.textContent = "No element of this code is active: click a bar above to add one.";
}

function resetControls() {
  resetEdits();
  buildControls();
  requestDecode();
}

function switchAllOff() {
  for (const j of state.listed) state.enabled[j] = false;
  buildControls();
  requestDecode();
}

// -- traversals -----------------------------------------------------------------------------------
function fillTraversalChoices() {
  const select = $("traverse-dim");
  const choices = state.listed.length ? state.listed : [state.selected];
  select.replaceChildren(...choices.map((j) => new Option(`z[${j}]`, String(j))));
  select.value = String(state.selected);
  $("traverse-low").value = state.info.code_low[state.selected];
  $("traverse-high").value = state.info.code_high[state.selected];
}

async function runTraversal() {
  await guarded("traversal", async () => {
    const body = {
      code: editedCode(),
      dim: state.selected,
      low: Number($("traverse-low").value),
      high: Number($("traverse-high").value),
      steps: Number($("traverse-steps").value),
      label: decodeLabel(),
    };
    const result = await postJSON("/api/traverse", body);
    showStrip($("traverse-images"), result.images, result.values.map((v) => v.toFixed(2)));
  });
}

function showStrip(container, images, captions = []) {
  container.replaceChildren(
    ...images.map((src, i) => {
      const figure = document.createElement("figure");
      figure.appendChild(Object.assign(document.createElement("img"), { src }));
      if (captions.length) figure.appendChild(Object.assign(document.createElement("figcaption"), { textContent: captions[i] }));
      return figure;
    }),
  );
}

// -- samples, usage, browsing -------------------------------------------------------------------
async function drawSamples() {
  if (!state.info.has_prior) {
    $("sample-controls").hidden = true;
    $("sample-images").textContent = `A ${state.info.kind} model has no prior to sample from.`;
    return;
  }
  await guarded("samples", async () => {
    const query = new URLSearchParams({ n: $("sample-n").value, seed: $("sample-seed").value, component: $("sample-component").value });
    const result = await api(`/api/samples?${query}`);
    showStrip($("sample-images"), result.images);
  });
}

function showUsage() {
  const u = state.info.usage;
  const jaccard = u.jaccard_mean === null ? "" : `, mean overlap of two inputs' active sets (Jaccard) ${u.jaccard_mean.toFixed(2)}`;
  $("usage-text").textContent =
    `${state.info.test_images} test images: ${u.input_dependent_latents} input-dependent, ${u.always_on_latents} always-on and ` +
    `${u.dead_latents} dead latents; ${u.active_elements_mean.toFixed(1)} active elements per input${jaccard}.`;
  $("usage-figure").src = "/api/usage.png";
}

async function loadThumbnails() {
  await guarded("test images", async () => {
    const query = new URLSearchParams({ label: state.filter, offset: state.offset, count: PAGE });
    const result = await api(`/api/images?${query}`);
    state.total = result.total;
    $("thumbnails").replaceChildren(...result.items.map(thumbnailButton));
    const last = Math.min(state.offset + PAGE, state.total);
    $("page-text").textContent = `${state.total ? state.offset + 1 : 0}–${last} of ${state.total}`;
    markThumbnail();
  });
}

function thumbnailButton(item) {
  const button = document.createElement("button");
  button.className = "thumb";
  button.dataset.index = item.index;
  button.title = item.label === null ? `test image ${item.index}` : `test image ${item.index}, class ${item.label}`;
  const img = document.createElement("img");
  img.src = item.image;
  img.alt = button.title;
  button.appendChild(img);
  button.addEventListener("click", () => loadExample(item.index));
  return button;
}

function markThumbnail() {
  for (const b of document.querySelectorAll(".thumb")) b.classList.toggle("chosen", state.source !== null && Number(b.dataset.index) === state.source.index);
}

async function loadExample(index) {
  await guarded(`test image ${index}`, async () => showAnalysis(await api(`/api/example/${index}`)));
}

async function uploadImage() {
  const file = $("upload").files[0] || state.upload;
  if (!file) return;
  state.upload = file; // kept for the invert switch; the server keeps nothing
  const form = new FormData();
  form.append("image", file);
  form.append("invert", $("upload-invert").checked ? "true" : "false");
  if (state.info.conditional) form.append("label", $("decode-label").value);
  await guarded(`upload of ${file.name}`, async () => showAnalysis(await api("/api/upload", { method: "POST", body: form })));
}

// -- start --------------------------------------------------------------------------------------
function setUpChoices(info) {
  $("run-title").textContent = `${info.title} · ${info.latent_dim} latents · input ${info.input_shape.join("×")}`;
  for (const label of info.labels) $("class-filter").appendChild(new Option(String(label), String(label)));
  $("class-filter").disabled = !info.labels.length;
  if (info.conditional) {
    $("label-choice").hidden = false;
    for (const label of info.labels) $("decode-label").appendChild(new Option(String(label), String(label)));
  }
  if (info.prior_components) {
    $("component-choice").hidden = false;
    for (let k = 0; k < info.prior_components; k++) $("sample-component").appendChild(new Option(String(k), String(k)));
  }
}

function wireEvents() {
  $("class-filter").addEventListener("change", (e) => {
    state.filter = e.target.value;
    state.offset = 0;
    loadThumbnails();
  });
  const turnPage = (step) => {
    const offset = state.offset + step * PAGE;
    if (offset < 0 || offset >= state.total) return;
    state.offset = offset;
    loadThumbnails();
  };
  $("page-prev").addEventListener("click", () => turnPage(-1));
  $("page-next").addEventListener("click", () => turnPage(1));
  $("upload").addEventListener("change", uploadImage);
  $("upload-invert").addEventListener("change", uploadImage);
  $("reset").addEventListener("click", resetControls);
  $("all-off").addEventListener("click", switchAllOff);
  $("traverse-dim").addEventListener("change", (e) => selectElement(Number(e.target.value)));
  $("traverse-go").addEventListener("click", runTraversal);
  $("sample-go").addEventListener("click", drawSamples);
  $("decode-label").addEventListener("change", () => (requestDecode(), runTraversal()));
}

async function start() {
  await guarded("starting", async () => {
    state.info = await api("/api/info");
    setUpChoices(state.info);
    wireEvents();
    showUsage();
    await loadThumbnails();
    await loadExample(0);
    await drawSamples();
    document.body.dataset.ready = "true";
  });
}

document.addEventListener("DOMContentLoaded", start);
