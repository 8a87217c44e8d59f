// Resumable uploads (tus 1.0) with progress, pause/resume, automatic retry after a lost
// connection, and resume after a page reload (the upload URL is kept in localStorage, keyed
// by the file's name, size, date and patient; choosing the same file again continues it).
(function () {
  "use strict";
  if (window.telebridgeUploads) { return; }
  window.telebridgeUploads = true;
  var CHUNK = 4 * 1024 * 1024;
  var STORE = "telebridge.uploads";
  var RETRY = [1000, 2000, 4000, 8000, 15000, 30000];

  function saved() {
    try { return JSON.parse(localStorage.getItem(STORE) || "{}"); } catch (e) { return {}; }
  }
  function remember(key, value) {
    var all = saved();
    if (value) { all[key] = value; } else { delete all[key]; }
    try { localStorage.setItem(STORE, JSON.stringify(all)); } catch (e) { /* private mode */ }
  }
  function b64(s) { return btoa(unescape(encodeURIComponent(s))); }
  function bufferB64(buf) {
    var bytes = new Uint8Array(buf), s = "";
    for (var i = 0; i < bytes.length; i++) { s += String.fromCharCode(bytes[i]); }
    return btoa(s);
  }
  // Site CSS may style buttons over the [hidden] attribute: toggle display directly.
  function show(el, visible) { el.hidden = !visible; el.style.display = visible ? "" : "none"; }
  function errorText(xhr) {
    try { return JSON.parse(xhr.responseText).error.message; } catch (e) { return "HTTP " + xhr.status; }
  }

  function Upload(widget, file, item) {
    this.w = widget; this.file = file; this.item = item;
    this.key = [widget.dataset.patientId, widget.dataset.contextType, widget.dataset.contextId,
                file.name, file.size, file.lastModified].join("|");
    this.url = saved()[this.key] ? saved()[this.key].url : null;
    this.offset = 0; this.paused = false; this.xhr = null; this.attempt = 0; this.finished = false;
  }
  Upload.prototype.msg = function (name) { return this.w.dataset["msg" + name[0].toUpperCase() + name.slice(1)] || name; };
  Upload.prototype.status = function (name, extra) {
    this.item.querySelector("[data-status]").textContent = this.msg(name) + (extra ? ": " + extra : "");
    this.item.dataset.state = name;
  };
  Upload.prototype.progress = function (sent) {
    var pct = this.file.size ? Math.floor(sent * 100 / this.file.size) : 100;
    this.item.querySelector("[data-progress]").value = pct;
    this.item.querySelector("[data-percent]").textContent = pct + "%";
  };
  Upload.prototype.request = function (method, url, headers, body, onprogress) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      self.xhr = xhr;
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      xhr.setRequestHeader("X-CSRF-Token", self.w.dataset.csrf);
      Object.keys(headers).forEach(function (h) { xhr.setRequestHeader(h, headers[h]); });
      if (onprogress) { xhr.upload.onprogress = onprogress; }
      xhr.onload = function () { self.xhr = null; resolve(xhr); };
      xhr.onerror = xhr.ontimeout = function () { self.xhr = null; reject(new Error("network")); };
      xhr.onabort = function () { self.xhr = null; reject(new Error("abort")); };
      xhr.send(body);
    });
  };
  Upload.prototype.create = function () {
    var d = this.w.dataset, meta = [
      "patient_id " + b64(d.patientId), "filename " + b64(this.file.name), "filetype " + b64(this.file.type || "")];
    if (d.contextType) { meta.push("context_type " + b64(d.contextType), "context_id " + b64(d.contextId)); }
    var self = this;
    return this.request("POST", d.endpoint, {"Upload-Length": String(this.file.size), "Upload-Metadata": meta.join(",")})
      .then(function (xhr) {
        if (xhr.status !== 201) { throw {fatal: errorText(xhr)}; }
        self.url = xhr.getResponseHeader("Location");
        remember(self.key, {url: self.url, name: self.file.name});
        self.offset = 0;
      });
  };
  Upload.prototype.head = function () {
    var self = this;
    return this.request("HEAD", this.url, {}, null).then(function (xhr) {
      if (xhr.status === 200) { self.offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10) || 0; return true; }
      if (xhr.status === 404 || xhr.status === 410 || xhr.status === 403) { remember(self.key, null); self.url = null; return false; }
      throw new Error("network");
    });
  };
  Upload.prototype.checksum = function (blob) {
    if (!(window.crypto && crypto.subtle && blob.arrayBuffer)) { return Promise.resolve(null); }
    return blob.arrayBuffer().then(function (buf) { return crypto.subtle.digest("SHA-256", buf); })
      .then(function (digest) { return "sha256 " + bufferB64(digest); });
  };
  Upload.prototype.sendChunk = function () {
    var self = this, end = Math.min(this.offset + CHUNK, this.file.size), blob = this.file.slice(this.offset, end);
    var start = this.offset;
    return this.checksum(blob).then(function (sum) {
      var headers = {"Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream"};
      if (sum) { headers["Upload-Checksum"] = sum; }
      return self.request("PATCH", self.url, headers, blob, function (e) {
        self.progress(start + e.loaded);
        if (start + e.loaded >= self.file.size) { self.status("checking"); }
      });
    }).then(function (xhr) {
      if (xhr.status === 204) {
        self.offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
        self.attempt = 0;
        self.progress(self.offset);
        var fileId = xhr.getResponseHeader("Telebridge-File-Id");
        if (fileId) { self.done(fileId); }
        return;
      }
      if (xhr.status === 409 || xhr.status === 460) { return self.head(); }  // resync and resend
      if (xhr.status >= 500 && xhr.status !== 500) { throw new Error("network"); }
      throw {fatal: errorText(xhr)};
    });
  };
  Upload.prototype.done = function (fileId) {
    this.finished = true;
    remember(this.key, null);
    var patient = this.w.dataset.patientId + "|";
    if (!Object.keys(saved()).some(function (k) { return k.indexOf(patient) === 0; })) {
      show(this.w.querySelector("[data-resume-hint]"), false);
    }
    this.status("done");
    show(this.item.querySelector("[data-pause]"), false);
    show(this.item.querySelector("[data-resume]"), false);
    var link = this.item.querySelector("[data-link]"), self = this;
    fetch("/api/v1/files/" + fileId, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (f) {
      link.href = f.download_url; link.textContent = self.msg("open"); show(link, true);
    }).catch(function () { /* the file is stored; the link is optional */ });
    this.w.dispatchEvent(new CustomEvent("telebridge:uploaded", {bubbles: true, detail: {fileId: fileId}}));
  };
  Upload.prototype.run = function () {
    var self = this;
    if (this.paused || this.finished) { return; }
    var ready = this.url ? this.head().then(function (ok) { if (!ok) { return self.create(); } self.status("resuming"); })
                         : this.create();
    ready.then(function loop() {
      if (self.paused || self.finished) { return; }
      self.status("uploading");
      return self.sendChunk().then(function () { if (!self.finished) { return loop(); } });
    }).catch(function (err) {
      if (self.paused) { self.status("paused"); return; }
      if (err && err.fatal) {
        self.status("failed", err.fatal);
        remember(self.key, null);
        show(self.item.querySelector("[data-pause]"), false);
        return;
      }
      var wait = RETRY[Math.min(self.attempt, RETRY.length - 1)];
      self.attempt += 1;
      self.status("offline");
      setTimeout(function () { self.run(); }, wait);
    });
  };
  Upload.prototype.pause = function () {
    this.paused = true;
    if (this.xhr) { this.xhr.abort(); }
    this.status("paused");
    show(this.item.querySelector("[data-pause]"), false);
    show(this.item.querySelector("[data-resume]"), true);
  };
  Upload.prototype.resume = function () {
    this.paused = false;
    show(this.item.querySelector("[data-pause]"), true);
    show(this.item.querySelector("[data-resume]"), false);
    this.run();
  };

  function init(widget) {
    if (widget.dataset.ready) { return; }
    widget.dataset.ready = "1";
    var input = widget.querySelector("[data-input]");
    var list = widget.querySelector("[data-list]");
    var template = widget.querySelector("[data-item-template]");
    var pending = Object.keys(saved()).filter(function (k) { return k.indexOf(widget.dataset.patientId + "|") === 0; });
    show(widget.querySelector("[data-resume-hint]"), pending.length > 0);
    if (pending.length) {
      widget.querySelector("[data-resume-names]").textContent = pending.map(function (k) { return saved()[k].name; }).join(", ");
    }
    input.addEventListener("change", function () {
      Array.prototype.forEach.call(input.files, function (file) {
        var item = template.content.firstElementChild.cloneNode(true);
        item.querySelector("[data-name]").textContent = file.name;
        show(item.querySelector("[data-resume]"), false);
        show(item.querySelector("[data-link]"), false);
        list.appendChild(item);
        var up = new Upload(widget, file, item);
        up.status("waiting");
        item.querySelector("[data-pause]").addEventListener("click", function () { up.pause(); });
        item.querySelector("[data-resume]").addEventListener("click", function () { up.resume(); });
        up.run();
      });
      input.value = "";
    });
  }

  function start() { document.querySelectorAll("[data-uploader]").forEach(init); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
