// Auscultation exam page: upload with progress, waveform with heart-cycle phases, per-beat looping,
// playback speed, and live recording from a stethoscope/microphone over WebSocket.
// No inline scripts (CSP script-src 'self'); texts come translated from data-* attributes.
(function () {
  "use strict";

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  }
  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (m, k) { return k in values ? values[k] : m; });
  }

  // ------------------------------------------------------------------ upload with progress
  function initUpload() {
    var form = document.getElementById("upload-form");
    if (!form) return;
    var box = document.getElementById("upload-progress");
    var bar = box.querySelector("progress");
    var status = document.getElementById("upload-status");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData();
      data.append("site", form.elements.site.value);
      data.append("file", form.elements.file.files[0]);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.api);
      xhr.setRequestHeader("X-CSRF-Token", csrfToken());
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        var p = Math.round((e.loaded / e.total) * 100);
        bar.value = p;
        status.textContent = fmt(form.dataset.uploading, { p: p + "%" });
      });
      xhr.upload.addEventListener("load", function () {
        bar.removeAttribute("value"); // indeterminate while the server analyses
        status.textContent = form.dataset.analysing;
      });
      xhr.addEventListener("load", function () {
        if (xhr.status === 201) {
          var body = JSON.parse(xhr.responseText);
          window.location.assign(window.location.pathname + "?added=" + body.recording.id + "#rec-" + body.recording.id);
          return;
        }
        var message = form.dataset.failed;
        try { message = JSON.parse(xhr.responseText).error.message; } catch (e) { /* keep the generic text */ }
        box.hidden = false;
        bar.value = 0;
        status.textContent = message;
        status.className = "error";
        Array.prototype.forEach.call(form.elements, function (el) { el.disabled = false; });
      });
      xhr.addEventListener("error", function () {
        status.textContent = form.dataset.failed;
        status.className = "error";
        Array.prototype.forEach.call(form.elements, function (el) { el.disabled = false; });
      });
      box.hidden = false;
      status.className = "";
      bar.value = 0;
      status.textContent = fmt(form.dataset.uploading, { p: "0%" });
      xhr.send(data);
      Array.prototype.forEach.call(form.elements, function (el) { el.disabled = true; });
    });
  }

  // ------------------------------------------------------------------ waveform and player
  var PHASE = { 1: "rgba(214, 69, 65, .35)", 2: "rgba(244, 179, 80, .30)", 3: "rgba(65, 131, 215, .35)", 4: "rgba(120, 190, 140, .25)" };

  function Player(section) {
    this.section = section;
    this.canvas = section.querySelector("canvas");
    this.audio = section.querySelector("audio");
    this.label = section.querySelector(".ausc-loop");
    this.data = null;
    this.beat = -1;
    var self = this;
    fetch(section.dataset.waveform, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (d) { self.data = d; self.draw(); section.dataset.ready = "1"; })
      .catch(function () { section.dataset.ready = "error"; });
    this.canvas.addEventListener("click", function (e) {
      if (!self.data) return;
      var rect = self.canvas.getBoundingClientRect();
      var t = ((e.clientX - rect.left) / rect.width) * self.data.duration;
      var i = self.data.beats.findIndex(function (b) { return t >= b[0] && t < b[1]; });
      if (i < 0 && self.data.beats.length) i = t < self.data.beats[0][0] ? 0 : self.data.beats.length - 1;
      self.loop(i);
    });
    section.querySelector(".ausc-speed").addEventListener("change", function (e) {
      self.audio.playbackRate = parseFloat(e.target.value);
    });
    section.querySelector(".ausc-pitch").addEventListener("change", function (e) {
      self.audio.preservesPitch = e.target.checked;
    });
    section.querySelector(".ausc-prev").addEventListener("click", function () { self.loop(Math.max(0, self.beat - 1)); });
    section.querySelector(".ausc-next").addEventListener("click", function () {
      if (self.data) self.loop(Math.min(self.data.beats.length - 1, self.beat + 1));
    });
    section.querySelector(".ausc-unloop").addEventListener("click", function () { self.loop(-1); });
    this.audio.addEventListener("play", function () { self.tick(); });
    this.audio.addEventListener("seeked", function () { self.draw(); });
  }

  Player.prototype.loop = function (i) {
    this.beat = this.data && i >= 0 && i < this.data.beats.length ? i : -1;
    this.section.dataset.beat = String(this.beat);
    if (this.beat >= 0) {
      var b = this.data.beats[this.beat];
      this.label.textContent = fmt(this.section.dataset.beatLabel, { n: this.beat + 1, total: this.data.beats.length });
      this.audio.currentTime = b[0];
      var playing = this.audio.play();
      if (playing && playing.catch) playing.catch(function () { /* autoplay refused: the user presses play */ });
    } else {
      this.label.textContent = this.section.dataset.noLoop;
    }
    this.draw();
  };

  Player.prototype.tick = function () {
    var self = this;
    if (this.beat >= 0 && this.data) {
      var b = this.data.beats[this.beat];
      if (this.audio.currentTime >= b[1] || this.audio.currentTime < b[0] - 0.05) this.audio.currentTime = b[0];
    }
    this.draw();
    if (!this.audio.paused) window.requestAnimationFrame(function () { self.tick(); });
  };

  Player.prototype.draw = function () {
    var d = this.data;
    if (!d) return;
    var c = this.canvas, ctx = c.getContext("2d"), w = c.width, h = c.height, x = function (t) { return (t / d.duration) * w; };
    ctx.clearRect(0, 0, w, h);
    d.segments.forEach(function (s) {
      ctx.fillStyle = PHASE[s[2]] || "transparent";
      ctx.fillRect(x(s[0]), 0, Math.max(1, x(s[1]) - x(s[0])), h);
    });
    if (this.beat >= 0) {
      var b = d.beats[this.beat];
      ctx.strokeStyle = "#0b3954";
      ctx.lineWidth = 3;
      ctx.strokeRect(x(b[0]), 1, x(b[1]) - x(b[0]), h - 2);
    }
    ctx.fillStyle = "#14213d";
    var n = d.min.length, mid = h / 2;
    for (var i = 0; i < n; i++) {
      var px = (i / n) * w, top = mid - d.max[i] * (mid - 4), bottom = mid - d.min[i] * (mid - 4);
      ctx.fillRect(px, top, Math.max(1, w / n), Math.max(1, bottom - top));
    }
    var t = this.audio.currentTime || 0;
    ctx.fillStyle = "#b3261e";
    ctx.fillRect(x(t) - 1, 0, 2, h);
  };

  // ------------------------------------------------------------------ live recording
  function initLive() {
    var box = document.getElementById("live");
    if (!box) return;
    var start = document.getElementById("live-start"), stop = document.getElementById("live-stop");
    var status = document.getElementById("live-status"), out = document.getElementById("live-result");
    var session = null;

    start.addEventListener("click", function () {
      start.disabled = true;
      navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } })
        .then(function (stream) {
          var ctx = new AudioContext();
          return ctx.audioWorklet.addModule("/static/js/auscultation-worklet.js").then(function () {
            var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
            var ws = new WebSocket(proto + window.location.host + box.dataset.ws);
            ws.binaryType = "arraybuffer";
            var node = new AudioWorkletNode(ctx, "pcm16-capture");
            var source = ctx.createMediaStreamSource(stream);
            session = { ctx: ctx, ws: ws, stream: stream, node: node, ready: false };
            ws.addEventListener("open", function () {
              ws.send(JSON.stringify({ site: document.getElementById("live-site").value, rate: ctx.sampleRate, channels: 1, format: "s16le" }));
            });
            ws.addEventListener("message", function (e) {
              var m = JSON.parse(e.data);
              if (m.type === "ready") { session.ready = true; stop.disabled = false; source.connect(node); }
              else if (m.type === "progress") { status.textContent = fmt(box.dataset.waiting, { s: m.seconds.toFixed(1) }); }
              else if (m.type === "result") {
                out.textContent = m.result.usable
                  ? m.result.murmur + " · " + Math.round(m.result.probability_present * 100) + "% · " + (m.result.heart_rate_bpm || "–") + " bpm"
                  : m.result.quality_message;
              }
              else if (m.type === "saved") { status.textContent = box.dataset.saved; window.location.assign(window.location.pathname + "#rec-" + m.recording_id); window.location.reload(); }
              else if (m.type === "error") { status.textContent = m.message; status.className = "error"; finish(false); }
            });
            node.port.onmessage = function (e) { if (session && session.ready && ws.readyState === 1) ws.send(e.data); };
          });
        })
        .catch(function () { status.textContent = box.dataset.denied; status.className = "error"; start.disabled = false; });
    });

    function finish(save) {
      if (!session) return;
      session.stream.getTracks().forEach(function (t) { t.stop(); });
      session.node.disconnect();
      session.ctx.close();
      if (save && session.ws.readyState === 1) session.ws.send(JSON.stringify({ type: "end" }));
      stop.disabled = true;
      start.disabled = false;
      session = null;
    }
    stop.addEventListener("click", function () { finish(true); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initUpload();
    initLive();
    document.querySelectorAll(".ausc-recording").forEach(function (s) { s.player = new Player(s); });
  });
})();
