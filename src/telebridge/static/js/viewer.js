// The DICOM viewer: dwv (npm `dwv`, bundled with its dependencies into one ES module by
// `make vendor`; its decoders run in web workers from /static/vendor/dwv/assets/workers).
// It loads the DICOM files themselves: the untouched originals through short-lived signed links,
// or (JPEG-LS and other syntaxes dwv cannot decode) decompressed copies through WADO-RS.
// Tools: pan/zoom, window/level (drag, presets or typed), a length in millimetres (PixelSpacing,
// ImagerPixelSpacing or the ultrasound region calibration), cine playback at a chosen rate.
import { App, AppOptions, Index, ToolConfig, ViewConfig, WindowLevel } from "/static/vendor/dwv/dwv.js";

const root = document.getElementById("viewer");
const stage = document.getElementById("viewer-stage");
const status = document.getElementById("viewer-status");
const measureOut = document.getElementById("viewer-measure");
const warning = document.getElementById("viewer-burnt-in");
const progress = document.getElementById("viewer-progress");
const slider = root.querySelector('input[name="frame"]');
const fpsInput = root.querySelector('input[name="fps"]');
const wcInput = root.querySelector('input[name="wc"]');
const wwInput = root.querySelector('input[name="ww"]');
const presetSelect = root.querySelector('select[name="preset"]');
const playButton = root.querySelector('[data-action="play"]');
const presetNames = JSON.parse(root.dataset.presets || "{}");

const st = { dataId: null, frames: 1, dim: 2, timer: null, tool: "ZoomAndPan", regionMm: null, generation: 0 };

function fmt(template, values) {
  return template.replace(/\{(\w+)\}/g, (_m, k) => values[k]);
}

const app = new App();
const options = new AppOptions({ "*": [new ViewConfig(stage.id)] });
options.tools = { ZoomAndPan: new ToolConfig(), WindowLevel: new ToolConfig(), Draw: new ToolConfig(["Ruler"]) };
app.init(options);

function controller() {
  const layer = st.dataId ? app.getViewLayersByDataId(st.dataId)[0] : undefined;
  return layer ? layer.getViewController() : null;
}

function value(meta, tag) {
  const el = meta && meta[tag];
  return el && el.value && el.value.length ? el.value[0] : undefined;
}

// ---- what the file says: frame rate, ultrasound calibration, de-identification
function readMeta(meta) {
  const frameTime = Number(value(meta, "00181063"));
  const rate = Number(value(meta, "00082144") || value(meta, "00180040"));
  const fps = frameTime > 0 ? 1000 / frameTime : rate > 0 ? rate : 10;
  fpsInput.value = String(Math.min(60, Math.max(1, Math.round(fps))));
  st.regionMm = null;
  const region = value(meta, "00186011");
  if (region && Number(value(region, "00186024")) === 3 && Number(value(region, "00186026")) === 3) {
    // PhysicalDeltaX/Y in cm per pixel → mm per pixel.
    st.regionMm = [Math.abs(Number(value(region, "0018602C"))) * 10, Math.abs(Number(value(region, "0018602E"))) * 10];
  }
  const deidentified = String(value(meta, "00120062") || "").toUpperCase() === "YES";
  warning.hidden = !(deidentified && String(value(meta, "00280301") || "").toUpperCase() !== "NO");
}

// ---- frames
function currentFrame() {
  const vc = controller();
  return vc ? vc.getCurrentIndex().get(st.dim) + 1 : 1;
}

function showFrame(n) {
  const vc = controller();
  if (!vc) return;
  const values = vc.getCurrentIndex().getValues();
  values[st.dim] = n - 1;
  vc.setCurrentIndex(new Index(values));
}

function showStatus() {
  const n = currentFrame();
  slider.value = String(n);
  stage.dataset.frame = String(n);
  status.textContent = fmt(root.dataset.msgFrame, { n: n, total: st.frames });
}

function tick() {
  const n = currentFrame();
  showFrame(n >= st.frames ? 1 : n + 1);
  st.timer = window.setTimeout(tick, 1000 / Math.min(60, Math.max(1, Number(fpsInput.value) || 10)));
}
function play() {
  if (st.frames < 2 || st.timer) return;
  playButton.setAttribute("aria-pressed", "true");
  tick();
}
function stop() {
  if (st.timer) window.clearTimeout(st.timer);
  st.timer = null;
  playButton.setAttribute("aria-pressed", "false");
}

// ---- window/level
function showWindow() {
  const vc = controller();
  if (!vc || !vc.canWindowLevel()) return;
  const wl = vc.getWindowLevel();
  wcInput.value = String(Math.round(wl.center));
  wwInput.value = String(Math.round(wl.width));
  const name = vc.getCurrentWindowPresetName();
  if (name && presetSelect.querySelector(`option[value="${CSS.escape(name)}"]`)) presetSelect.value = name;
}

function fillPresets() {
  const vc = controller();
  presetSelect.replaceChildren();
  const usable = vc && vc.canWindowLevel();
  for (const el of [presetSelect, wcInput, wwInput, root.querySelector('[data-action="apply-window"]'),
    root.querySelector('[data-tool="WindowLevel"]')]) el.disabled = !usable;
  if (!usable) {  // colour images have no window
    wcInput.value = wwInput.value = "";
    return;
  }
  for (const name of vc.getWindowLevelPresetsNames()) {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = presetNames[name.toLowerCase()] || name;
    presetSelect.append(option);
  }
  showWindow();
}

function applyWindow() {
  const vc = controller();
  const wc = Number(wcInput.value), ww = Number(wwInput.value);
  if (!vc || !vc.canWindowLevel() || !Number.isFinite(wc) || !(ww > 0)) return;
  vc.setWindowLevel(new WindowLevel(wc, ww));
}

// ---- measurement
function calibrate(annotation) {
  // dwv knows PixelSpacing and ImagerPixelSpacing; an ultrasound's region calibration is applied
  // here, and the ruler's own label then shows millimetres too.
  const shape = annotation.mathShape;
  if (!st.regionMm || !shape || !shape.getBegin) return;
  const a = shape.getBegin(), b = shape.getEnd();
  const mm = Math.hypot((b.getX() - a.getX()) * st.regionMm[0], (b.getY() - a.getY()) * st.regionMm[1]);
  annotation.quantification = { length: { value: mm, unit: "unit.mm" } };
  const layer = app.getActiveLayerGroup().getActiveDrawLayer();
  if (layer) layer.getDrawController().updateAnnotation(annotation, ["quantification"]);
}

function showLength(ev) {
  const annotation = ev.data;
  if (!annotation) return;
  if (!ev.keys || ev.keys.includes("mathShape")) calibrate(annotation);
  const q = annotation.quantification && annotation.quantification.length;
  if (q && q.unit === "unit.mm") {
    measureOut.textContent = `${Number(q.value).toFixed(1)} mm`;
  } else if (q) {
    measureOut.textContent = `${Number(q.value).toFixed(0)} px (${root.dataset.msgNospacing})`;
  }
}

function setTool(name) {
  st.tool = name;
  root.querySelectorAll("[data-tool]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.tool === name)));
  if (!st.dataId) return;
  app.setTool(name);
  if (name === "Draw") app.setToolFeatures({ shapeName: "Ruler" });
}

// ---- loading a series
function showProgress(percent) {
  progress.hidden = percent === null;
  if (percent === null) return;
  progress.querySelector("progress").value = percent;
  progress.querySelector("span").textContent = fmt(root.dataset.msgLoading, { percent: `${Math.round(percent)}%` });
}

function failed() {
  showProgress(null);
  status.textContent = root.dataset.msgFailed;
}

async function pick(button) {
  root.querySelectorAll(".viewer-pick").forEach((b) => b.removeAttribute("aria-current"));
  button.setAttribute("aria-current", "true");
  stop();
  const generation = ++st.generation;
  st.dataId = null;
  app.abortAllLoads();
  app.reset();
  measureOut.textContent = "";
  warning.hidden = true;
  delete stage.dataset.ready;
  showProgress(0);
  let sources;
  try {
    const r = await fetch(root.dataset.sources + encodeURIComponent(button.dataset.series) + "/viewer",
      { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(String(r.status));
    sources = await r.json();
  } catch (_e) {
    if (generation === st.generation) failed();
    return;
  }
  if (generation !== st.generation) return;
  st.frames = sources.instances.reduce((sum, i) => sum + i.frames, 0);
  slider.max = String(st.frames);
  slider.value = "1";
  slider.disabled = playButton.disabled = fpsInput.disabled = st.frames < 2;
  app.loadURLs(sources.instances.map((i) => i.url), {
    requestHeaders: [{ name: "Accept", value: sources.accept }], withCredentials: true
  });
}

app.addEventListener("loadprogress", (ev) => {
  if (!st.dataId && ev.total) showProgress(Math.min(100, (100 * ev.loaded) / ev.total));
});
app.addEventListener("load", (ev) => {
  st.dataId = ev.dataid;
  showProgress(null);
  const size = app.getImage(ev.dataid).getGeometry().getSize();
  st.dim = size.length() > 3 && size.get(3) > 1 ? 3 : 2;
  st.frames = size.get(st.dim) || 1;
  slider.max = String(st.frames);
  readMeta(app.getMetaData(ev.dataid));
  fillPresets();
  setTool(st.tool === "WindowLevel" && !controller().canWindowLevel() ? "ZoomAndPan" : st.tool);
  app.resetZoomPan();  // the whole image in view, whatever the previous series' zoom
  showFrame(1);  // a stack opens on its first image, not its middle one
  showStatus();
  stage.dataset.ready = "true";
});
app.addEventListener("loadend", () => showProgress(null));
app.addEventListener("error", failed);
app.addEventListener("positionchange", showStatus);
app.addEventListener("wlchange", showWindow);
app.addEventListener("annotationadd", showLength);
app.addEventListener("annotationupdate", showLength);
window.addEventListener("resize", app.onResize);

root.addEventListener("click", (ev) => {
  const t = ev.target.closest("button");
  if (!t || !root.contains(t)) return;
  if (t.classList.contains("viewer-pick")) return pick(t);
  if (t.dataset.tool) return setTool(t.dataset.tool);
  if (!st.dataId) return;
  switch (t.dataset.action) {
    case "zoom-in": return app.zoom(0.25, stage.clientWidth / 2, stage.clientHeight / 2);
    case "zoom-out": return app.zoom(-0.2, stage.clientWidth / 2, stage.clientHeight / 2);
    case "reset":
      stop();
      measureOut.textContent = "";
      app.getDrawLayers().forEach((layer) => layer.getDrawController().removeAllAnnotationsWithCommand(() => {}));
      app.resetZoomPan();
      if (controller() && controller().canWindowLevel()) controller().resetWindowLevel();
      return;
    case "apply-window": return applyWindow();
    case "play": return st.timer ? stop() : play();
  }
});
presetSelect.addEventListener("change", () => {
  const vc = controller();
  if (vc && presetSelect.value) vc.setWindowLevelPreset(presetSelect.value);
});
slider.addEventListener("input", () => { stop(); showFrame(Number(slider.value)); });

const firstPick = root.querySelector(".viewer-pick");
if (firstPick) pick(firstPick);
