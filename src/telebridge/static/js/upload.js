// Resumable uploads (tus 1.0) with progress, pause/resume, automatic retry after a lost
// connection, and resume after a page reload (the upload URLs are kept in localStorage, keyed
// by the file's name, size, date and patient; choosing the same file again continues it).
// A large file travels as parts, up to PARALLEL streams side by side (tus concatenation: partial
// uploads, then a final upload joining them), so a TCP connection stalled by losses on a weak link
// no longer leaves the link idle. Each stream starts with one long part; the last TAIL of the file
// is cut into shrinking parts taken by whichever stream is free first (created a step ahead), so a
// stream that got a smaller share of the link delays the end by one small part only. Each part
// goes in CHUNK-sized PATCHes with a SHA-256 checksum.
(function () {
  "use strict";
  if (window.telebridgeUploads) { return; }
  window.telebridgeUploads = true;
  // A checksummed PATCH is kept whole or not at all: short ones lose little to a dropped link.
  var CHUNK = 1024 * 1024;
  var PARALLEL_FROM = 8 * 1024 * 1024;
  var PARALLEL = 4;
  var TAIL = 0.3;
  var SMALLEST = 128 * 1024;
  var MAX_PARTS = 64;  // the server's limit (files/uploads.py MAX_PARTS)
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
  // Part ranges: the whole file below PARALLEL_FROM; else a long part per stream, then parts that
  // shrink as the file runs out (an eighth of what is left, down to a floor), so the streams end
  // within one small part of each other (bench/upload_weak_link.py plans alike).
  function plan(size) {
    if (size < PARALLEL_FROM) { return [[0, size]]; }
    var streams = PARALLEL, head = Math.floor(size * (1 - TAIL)), cuts = [], tail, at, rest, i;
    var smallest = Math.max(SMALLEST, Math.floor(size / 512));
    for (i = 0; i <= streams; i++) { cuts.push(Math.floor(head * i / streams)); }
    for (;;) {
      tail = []; at = head;
      while (at < size) {
        rest = size - at;
        at += rest <= smallest ? rest : Math.max(smallest, Math.floor(rest / (2 * streams)));
        tail.push(at);
      }
      if (streams + tail.length <= MAX_PARTS) { break; }
      smallest *= 2;
    }
    cuts = cuts.concat(tail);
    var parts = [];
    for (i = 1; i < cuts.length; i++) { if (cuts[i] > cuts[i - 1]) { parts.push([cuts[i - 1], cuts[i]]); } }
    parts.streams = streams;
    return parts;
  }

  // One tus upload: the whole file, or a part of it (bytes start..end) sent as a partial upload.
  function Part(up, start, end, partial) {
    this.up = up; this.start = start; this.end = end; this.partial = partial;
    this.url = null; this.offset = 0; this.loaded = 0;
  }
  Part.prototype.length = function () { return this.end - this.start; };
  Part.prototype.create = function () {
    var headers = {"Upload-Length": String(this.length()), "Upload-Metadata": this.up.metadata()};
    if (this.partial) { headers["Upload-Concat"] = "partial"; }
    var self = this;
    return this.up.request("POST", this.up.w.dataset.endpoint, headers, null).then(function (xhr) {
      if (xhr.status !== 201) { throw {fatal: errorText(xhr)}; }
      self.url = xhr.getResponseHeader("Location");
      self.offset = 0;
    });
  };
  // The server's offset (a HEAD also stops a transfer the server still thinks is running).
  Part.prototype.head = function () {
    var self = this;
    return this.up.request("HEAD", this.url, {}, null).then(function (xhr) {
      if (xhr.status === 200) {
        self.offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10) || 0;
        return true;
      }
      if (xhr.status === 404 || xhr.status === 410 || xhr.status === 403) { return false; }
      throw new Error("network");
    });
  };
  Part.prototype.sendChunk = function () {
    var self = this, start = this.offset;
    var blob = this.up.file.slice(this.start + start, Math.min(this.start + start + CHUNK, this.end));
    return this.up.checksum(blob).then(function (sum) {
      var headers = {"Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream"};
      if (sum) { headers["Upload-Checksum"] = sum; }
      return self.up.request("PATCH", self.url, headers, blob, function (e) {
        self.loaded = e.loaded;
        self.up.progress();
      });
    }).then(function (xhr) {
      self.loaded = 0;
      var offset = parseInt(xhr.getResponseHeader("Upload-Offset"), 10);
      if (xhr.status === 204) {
        self.offset = offset;
        self.up.attempt = 0;
        self.up.progress();
        return xhr.getResponseHeader("Telebridge-File-Id");
      }
      if (xhr.status === 409 && !isNaN(offset)) { self.offset = offset; return null; }  // resync, no HEAD needed
      if (xhr.status === 409 || xhr.status === 460) { return self.head().then(function () { return null; }); }
      if (xhr.status >= 500 && xhr.status !== 500) { throw new Error("network"); }
      throw {fatal: errorText(xhr)};
    });
  };
  Part.prototype.send = function () {  // resolves with the file id when this upload completes the file
    var self = this;
    if (this.up.paused || this.offset >= this.length()) { return Promise.resolve(null); }
    return this.sendChunk().then(function (fileId) { return fileId || self.send(); });
  };
  Part.prototype.ensure = function () {  // created once, kept for a reload
    var self = this, up = this.up;
    if (!this.creating) {
      this.creating = this.url ? Promise.resolve() : this.create().then(function () {
        remember(up.key, {urls: up.parts.map(function (p) { return p.url; }), name: up.file.name});
      });
      this.creating.catch(function () { self.creating = null; });
    }
    return this.creating;
  };

  function Upload(widget, file, item) {
    this.w = widget; this.file = file; this.item = item;
    this.key = [widget.dataset.patientId, widget.dataset.contextType, widget.dataset.contextId,
                file.name, file.size, file.lastModified].join("|");
    this.xhrs = []; this.paused = false; this.attempt = 0; this.finished = false;
    var ranges = plan(file.size), self = this;
    this.parts = ranges.map(function (r) { return new Part(self, r[0], r[1], ranges.length > 1); });
    this.streams = ranges.streams || 1;
    var urls = (saved()[this.key] || {}).urls;
    if (urls && urls.length === ranges.length) { urls.forEach(function (url, i) { self.parts[i].url = url; }); }
  }
  Upload.prototype.msg = function (name) { return this.w.dataset["msg" + name[0].toUpperCase() + name.slice(1)] || name; };
  Upload.prototype.status = function (name, extra) {
    this.item.querySelector("[data-status]").textContent = this.msg(name) + (extra ? ": " + extra : "");
    this.item.dataset.state = name;
  };
  Upload.prototype.progress = function () {
    var sent = this.parts.reduce(function (sum, p) { return sum + Math.min(p.offset + p.loaded, p.length()); }, 0);
    var pct = this.file.size ? Math.floor(sent * 100 / this.file.size) : 100;
    this.item.querySelector("[data-progress]").value = pct;
    this.item.querySelector("[data-percent]").textContent = pct + "%";
    if (sent >= this.file.size && !this.finished) { this.status("checking"); }
  };
  Upload.prototype.metadata = function () {  // the same for a part (its name is checked early) and the whole
    var d = this.w.dataset, meta = [
      "patient_id " + b64(d.patientId), "filename " + b64(this.file.name), "filetype " + b64(this.file.type || "")];
    if (d.contextType) { meta.push("context_type " + b64(d.contextType), "context_id " + b64(d.contextId)); }
    return meta.join(",");
  };
  Upload.prototype.request = function (method, url, headers, body, onprogress) {
    var self = this;
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      self.xhrs.push(xhr);
      var forget = function () { self.xhrs = self.xhrs.filter(function (x) { return x !== xhr; }); };
      xhr.open(method, url);
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      xhr.setRequestHeader("X-CSRF-Token", self.w.dataset.csrf);
      Object.keys(headers).forEach(function (h) { xhr.setRequestHeader(h, headers[h]); });
      if (onprogress) { xhr.upload.onprogress = onprogress; }
      xhr.onload = function () { forget(); resolve(xhr); };
      xhr.onerror = xhr.ontimeout = function () { forget(); reject(new Error("network")); };
      xhr.onabort = function () { forget(); reject(new Error("abort")); };
      xhr.send(body);
    });
  };
  Upload.prototype.checksum = function (blob) {
    if (!(window.crypto && crypto.subtle && blob.arrayBuffer)) { return Promise.resolve(null); }
    return blob.arrayBuffer().then(function (buf) { return crypto.subtle.digest("SHA-256", buf); })
      .then(function (digest) { return "sha256 " + bufferB64(digest); });
  };
  // Every part known to the server is resumed at its offset; if one is gone, all start anew.
  Upload.prototype.prepare = function () {
    var self = this, known = this.parts.filter(function (p) { return p.url; });
    return Promise.all(known.map(function (p) { return p.head(); })).then(function (found) {
      if (found.every(Boolean)) {
        if (known.length) { self.status("resuming"); }
        return;
      }
      self.parts.forEach(function (p) { p.url = null; p.offset = 0; p.creating = null; });
      remember(self.key, null);
    });
  };
  // The streams: each sends its long part, then the next short part nobody has taken (and creates
  // the one after it meanwhile). Resolves with the file's id when a lone upload completes it.
  Upload.prototype.sendParts = function () {
    var self = this, next = this.streams, fileId = null;
    function stream(part) {
      if (!part || self.paused) { return Promise.resolve(); }
      if (next < self.parts.length) { self.parts[next].ensure(); }
      return part.ensure().then(function () { return part.send(); }).then(function (id) {
        fileId = fileId || id;
        return stream(self.parts[next++]);
      });
    }
    return Promise.all(this.parts.slice(0, this.streams).map(stream)).then(function () { return fileId; });
  };
  Upload.prototype.join = function () {
    var urls = this.parts.map(function (p) { return p.url; }).join(" ");
    return this.request("POST", this.w.dataset.endpoint, {"Upload-Concat": "final;" + urls,
                                                          "Upload-Metadata": this.metadata()}, null)
      .then(function (xhr) {
        if (xhr.status === 201) { return xhr.getResponseHeader("Telebridge-File-Id"); }
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
    this.prepare().then(function () {
      if (self.paused) { return null; }
      self.status("uploading");
      return self.sendParts();
    }).then(function (fileId) {
      if (self.paused || self.finished) { return; }
      if (self.parts.length === 1) {
        if (fileId) { self.done(fileId); return; }
        return self.request("GET", self.parts[0].url, {}, null).then(function (xhr) {  // its answer was lost
          var info = JSON.parse(xhr.responseText || "{}");
          if (info.file_id) { self.done(info.file_id); return; }
          throw new Error("network");
        });
      }
      self.status("checking");
      return self.join().then(function (fileId) { self.done(fileId); });
    }).catch(function (err) {
      if (self.paused) { self.status("paused"); return; }
      if (err && err.fatal) {
        self.status("failed", err.fatal);
        remember(self.key, null);
        self.xhrs.forEach(function (x) { x.abort(); });
        show(self.item.querySelector("[data-pause]"), false);
        return;
      }
      // A lost connection: every part resumes from the server's offset.
      self.xhrs.forEach(function (x) { x.abort(); });
      var wait = RETRY[Math.min(self.attempt, RETRY.length - 1)];
      self.attempt += 1;
      self.status("offline");
      setTimeout(function () { self.run(); }, wait);
    });
  };
  Upload.prototype.pause = function () {
    this.paused = true;
    this.xhrs.forEach(function (x) { x.abort(); });
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
