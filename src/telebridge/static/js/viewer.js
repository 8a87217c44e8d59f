// The DICOM viewer island: frames are rendered by Telebridge's DICOMweb service
// (/dicomweb/.../frames/{n}/rendered), so a weak link carries small JPEGs, not whole DICOM files.
// Tools: pan, window/level (drag or typed, re-rendered on the server), zoom, a length
// measurement in millimetres (PixelSpacing, ImagerPixelSpacing or the ultrasound region), cine.
(function () {
  "use strict";
  var root = document.getElementById("viewer");
  if (!root) return;
  var canvas = document.getElementById("viewer-canvas");
  var ctx = canvas.getContext("2d");
  var status = document.getElementById("viewer-status");
  var measureOut = document.getElementById("viewer-measure");
  var slider = root.querySelector('input[name="frame"]');
  var wcInput = root.querySelector('input[name="wc"]');
  var wwInput = root.querySelector('input[name="ww"]');
  var playButton = root.querySelector('[data-action="play"]');
  var base = root.dataset.base;

  var st = {
    inst: null, items: [], frames: 1, frame: 1, images: {}, loaded: 0, generation: 0,
    window: null, zoom: 1, panX: 0, panY: 0, tool: "pan",
    spacing: null, frameMs: 33, playing: false, timer: null, measure: null, drag: null
  };

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_m, k) { return values[k]; });
  }

  function first(meta, tag) {
    var a = meta[tag];
    return a && a.Value && a.Value.length ? a.Value : null;
  }

  function readMetadata(meta) {
    var ps = first(meta, "00280030") || first(meta, "00181164");
    st.spacing = ps ? [Number(ps[0]), Number(ps[1])] : null;
    var regions = first(meta, "00186011");
    if (!st.spacing && regions) {
      var r = regions[0];
      var dx = first(r, "0018602C"), dy = first(r, "0018602E"), unit = first(r, "00186024");
      if (dx && dy && unit && Number(unit[0]) === 3) st.spacing = [Math.abs(dy[0]) * 10, Math.abs(dx[0]) * 10];
    }
    var ft = first(meta, "00181063"), rate = first(meta, "00180040");
    st.frameMs = ft ? Number(ft[0]) : (rate ? 1000 / Number(rate[0]) : 33);
    if (!(st.frameMs > 0)) st.frameMs = 33;
    var wc = first(meta, "00281050"), ww = first(meta, "00281051");
    wcInput.value = wc ? Number(wc[0]) : "";
    wwInput.value = ww ? Number(ww[0]) : "";
  }

  function frameUrl(n) {
    var item = st.items[n - 1];  // the n-th picture of the stack: an image and one of its frames
    var url = base + "/series/" + encodeURIComponent(st.inst.series) + "/instances/" +
      encodeURIComponent(item.sop) + "/frames/" + item.frame + "/rendered?format=jpeg&quality=85";
    if (st.window) url += "&window=" + encodeURIComponent(st.window[0] + "," + st.window[1]);
    return url;
  }

  function loadFrame(n) {
    var existing = st.images[n];
    if (existing) return existing.promise;
    var gen = st.generation;
    var img = new Image();
    var entry = { img: img, ready: false };
    entry.promise = new Promise(function (resolve, reject) {
      img.onload = function () {
        if (gen !== st.generation) return;
        entry.ready = true;
        st.loaded += 1;
        showStatus();
        resolve(img);
      };
      img.onerror = function () { status.textContent = root.dataset.msgFailed; reject(new Error("frame")); };
    });
    st.images[n] = entry;
    img.src = frameUrl(n);
    return entry.promise;
  }

  function prefetch() {
    // Frames one after another, so the first ones arrive first on a slow link.
    var n = 1, gen = st.generation;
    function next() {
      if (gen !== st.generation || n > st.frames) return;
      loadFrame(n++).then(next, next);
    }
    next();
  }

  function showStatus() {
    var text = fmt(root.dataset.msgFrame, { n: st.frame, total: st.frames });
    if (st.loaded < st.frames) text += " · " + fmt(root.dataset.msgLoading, { done: st.loaded, total: st.frames });
    status.textContent = text;
  }

  function draw() {
    var entry = st.images[st.frame];
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (entry && entry.ready) {
      ctx.setTransform(st.zoom, 0, 0, st.zoom, st.panX, st.panY);
      ctx.drawImage(entry.img, 0, 0);
      canvas.dataset.frame = String(st.frame);
    }
    if (st.measure) {
      var m = st.measure;
      ctx.setTransform(st.zoom, 0, 0, st.zoom, st.panX, st.panY);
      ctx.strokeStyle = "#ffdd00";
      ctx.lineWidth = 2 / st.zoom;
      ctx.beginPath();
      ctx.moveTo(m.a[0], m.a[1]);
      ctx.lineTo(m.b[0], m.b[1]);
      ctx.stroke();
    }
    slider.value = String(st.frame);
    showStatus();
  }

  function showFrame(n) {
    st.frame = n;
    loadFrame(n).then(function () { if (st.frame === n) draw(); }, function () {});
    draw();
  }

  function reload() {
    st.generation += 1;
    st.images = {};
    st.loaded = 0;
    showFrame(st.frame);
    prefetch();
  }

  function pick(button) {
    root.querySelectorAll(".viewer-pick").forEach(function (b) { b.removeAttribute("aria-current"); });
    button.setAttribute("aria-current", "true");
    stop();
    st.items = [];
    button.dataset.sops.trim().split(/\s+/).forEach(function (pair) {
      var cut = pair.lastIndexOf(":"), sop = pair.slice(0, cut), count = Number(pair.slice(cut + 1)) || 1;
      for (var f = 1; f <= count; f++) st.items.push({ sop: sop, frame: f });
    });
    st.inst = { series: button.dataset.series, sop: st.items[0].sop };
    st.frames = st.items.length;
    st.frame = 1;
    st.window = null;
    st.measure = null;
    measureOut.textContent = "";
    canvas.width = Number(button.dataset.columns) || 512;
    canvas.height = Number(button.dataset.rows) || 512;
    st.zoom = 1; st.panX = 0; st.panY = 0;
    slider.max = String(st.frames);
    slider.disabled = st.frames < 2;
    playButton.disabled = st.frames < 2;
    var metaUrl = base + "/series/" + encodeURIComponent(st.inst.series) + "/instances/" +
      encodeURIComponent(st.inst.sop) + "/metadata";
    fetch(metaUrl, { credentials: "same-origin", headers: { Accept: "application/dicom+json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) { if (list.length) readMetadata(list[0]); }, function () {});
    reload();
  }

  // ---- cine
  function tick() {
    if (!st.playing) return;
    var next = st.frame >= st.frames ? 1 : st.frame + 1;
    var entry = st.images[next];
    if (entry && entry.ready) showFrame(next);
    else loadFrame(next).then(function () {}, function () {});
    st.timer = window.setTimeout(tick, st.frameMs);
  }
  function play() {
    if (st.frames < 2) return;
    st.playing = true;
    playButton.setAttribute("aria-pressed", "true");
    tick();
  }
  function stop() {
    st.playing = false;
    playButton.setAttribute("aria-pressed", "false");
    if (st.timer) window.clearTimeout(st.timer);
  }

  // ---- pointer tools
  function toImage(ev) {
    var rect = canvas.getBoundingClientRect();
    var cx = (ev.clientX - rect.left) * canvas.width / rect.width;
    var cy = (ev.clientY - rect.top) * canvas.height / rect.height;
    return [(cx - st.panX) / st.zoom, (cy - st.panY) / st.zoom, cx, cy];
  }

  function showLength() {
    var m = st.measure;
    if (!m) return;
    var dx = m.b[0] - m.a[0], dy = m.b[1] - m.a[1];
    if (st.spacing) {
      var mm = Math.sqrt(Math.pow(dx * st.spacing[1], 2) + Math.pow(dy * st.spacing[0], 2));
      measureOut.textContent = mm.toFixed(1) + " mm";
    } else {
      measureOut.textContent = Math.sqrt(dx * dx + dy * dy).toFixed(0) + " px (" + root.dataset.msgNospacing + ")";
    }
  }

  canvas.addEventListener("pointerdown", function (ev) {
    if (!st.inst) return;
    canvas.setPointerCapture(ev.pointerId);
    var p = toImage(ev);
    st.drag = { x: ev.clientX, y: ev.clientY, panX: st.panX, panY: st.panY, p: p,
                wc: Number(wcInput.value) || 128, ww: Number(wwInput.value) || 256 };
    if (st.tool === "measure") st.measure = { a: [p[0], p[1]], b: [p[0], p[1]] };
  });
  canvas.addEventListener("pointermove", function (ev) {
    var d = st.drag;
    if (!d) return;
    var scale = canvas.width / canvas.getBoundingClientRect().width;
    if (st.tool === "pan") {
      st.panX = d.panX + (ev.clientX - d.x) * scale;
      st.panY = d.panY + (ev.clientY - d.y) * scale;
      draw();
    } else if (st.tool === "measure") {
      var p = toImage(ev);
      st.measure.b = [p[0], p[1]];
      showLength();
      draw();
    } else if (st.tool === "wl") {
      wcInput.value = Math.round(d.wc + (ev.clientY - d.y));
      wwInput.value = Math.max(1, Math.round(d.ww + (ev.clientX - d.x) * 2));
    }
  });
  canvas.addEventListener("pointerup", function () {
    var d = st.drag;
    st.drag = null;
    if (d && st.tool === "wl") applyWindow();
  });
  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    zoomBy(ev.deltaY < 0 ? 1.2 : 1 / 1.2);
  }, { passive: false });

  function zoomBy(f) {
    var cx = canvas.width / 2, cy = canvas.height / 2;
    st.panX = cx - (cx - st.panX) * f;
    st.panY = cy - (cy - st.panY) * f;
    st.zoom *= f;
    draw();
  }

  function applyWindow() {
    var wc = Number(wcInput.value), ww = Number(wwInput.value);
    if (!isFinite(wc) || !(ww > 0)) return;
    st.window = [wc, ww];
    reload();
  }

  root.addEventListener("click", function (ev) {
    var t = ev.target.closest("button");
    if (!t || !root.contains(t)) return;
    if (t.classList.contains("viewer-pick")) return pick(t);
    if (t.dataset.tool) {
      st.tool = t.dataset.tool;
      root.querySelectorAll("[data-tool]").forEach(function (b) {
        b.setAttribute("aria-pressed", b === t ? "true" : "false");
      });
      return;
    }
    switch (t.dataset.action) {
      case "zoom-in": return zoomBy(1.25);
      case "zoom-out": return zoomBy(0.8);
      case "reset": st.zoom = 1; st.panX = 0; st.panY = 0; st.measure = null; measureOut.textContent = ""; return draw();
      case "apply-window": return applyWindow();
      case "play": return st.playing ? stop() : play();
    }
  });
  slider.addEventListener("input", function () { stop(); showFrame(Number(slider.value)); });

  var firstPick = root.querySelector(".viewer-pick");
  if (firstPick) pick(firstPick);
})();
