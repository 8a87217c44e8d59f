// The call room: pre-call check, then WebRTC over Telebridge's signaling WebSocket.
// Mesh (<= 3 people): one RTCPeerConnection per other participant, the newcomer offers.
// SFU (Janus, brokered by the server): one publishing connection and one per remote feed.
// Weak links: in SFU rooms the camera is published as VP8 simulcast (three layers) and each
// subscription asks for the layer its link carries (or the one the user picked); in a mesh the
// senders towards a weak peer lower their bitrate and resolution (setParameters).
(function () {
  "use strict";
  const root = document.getElementById("call");
  if (!root) return;
  const $ = (id) => document.getElementById(id);
  const msg = (k) => root.dataset["msg" + k.charAt(0).toUpperCase() + k.slice(1)] || k;
  const sessionId = root.dataset.session;
  const csrf = root.dataset.csrf || "";

  const state = {
    local: null, screen: null, ws: null, peerId: null, mode: null, iceServers: [],
    pcs: new Map(),          // key -> {pc, remote peer id, kind: "mesh"|"pub"|"sub", feed, level, lost, seen, calm}
    inbound: {},             // pc key -> {width, height, frames} of the received video (getStats)
    quality: "auto",         // "auto" or a fixed layer "2" (high), "1", "0" (low)
    people: new Map(),       // peer id -> public info
    muted: false, camOff: false, audioOnly: false, leaving: false, retries: 0,
    stats: { framesDecoded: 0, bitrate_kbps: 0, packet_loss_pct: 0, rtt_ms: 0 }, lastBytes: 0, lastAt: 0,
  };
  window.__tbCall = state;

  function status(text, el) { (el || $("call-status")).textContent = text; }

  // ------------------------------------------------------------------ pre-call
  async function listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (sel, kind) => {
      const cur = sel.value;
      sel.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => {
        const o = document.createElement("option");
        o.value = d.deviceId; o.textContent = d.label || kind + " " + (i + 1);
        return o;
      }));
      if (cur) sel.value = cur;
    };
    fill($("cam"), "videoinput"); fill($("mic"), "audioinput"); fill($("spk"), "audiooutput");
  }

  async function openLocal() {
    if (state.local) state.local.getTracks().forEach((t) => t.stop());
    const audioOnly = $("audio-only").checked;
    const cam = $("cam").value, mic = $("mic").value;
    try {
      state.local = await navigator.mediaDevices.getUserMedia({
        audio: mic ? { deviceId: { exact: mic } } : true,
        video: audioOnly ? false : (cam ? { deviceId: { exact: cam }, width: { ideal: 1280 } } : { width: { ideal: 1280 } }),
      });
      status("", $("precall-status"));
    } catch (err) {
      state.local = new MediaStream();
      status(msg("nodevice"), $("precall-status"));
    }
    $("preview").srcObject = state.local;
    state.audioOnly = audioOnly;
    await listDevices().catch(() => {});
  }

  // ------------------------------------------------------------------ signaling
  async function join() {
    $("join").disabled = true;
    status(msg("connecting"));
    const r = await fetch(`/api/v1/calls/sessions/${sessionId}/join`, {
      method: "POST", credentials: "same-origin", headers: { "x-csrf-token": csrf },
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      status((body.error && body.error.message) || r.statusText, $("precall-status"));
      $("join").disabled = false;
      return;
    }
    state.iceServers = body.ice_servers || [];
    $("precall").hidden = true; $("precall").style.display = "none"; $("incall").hidden = false;
    addTile("local", msg("you"), state.local, true);
    connect(body);
  }

  function connect(grant) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}${grant.ws_path}?token=${encodeURIComponent(grant.token)}`);
    state.ws = ws;
    ws.onmessage = (e) => onMessage(JSON.parse(e.data)).catch((err) => console.warn("call", err));
    ws.onclose = (e) => {
      if (state.leaving || state.ws !== ws) return;
      if (e.code === 4409 || e.code === 4403 || e.code === 4401) {  // refused or replaced: say why, never a blank page
        gone(e.reason === "replaced" ? msg("replaced") : state.lastError || msg("closed"));
        return;
      }
      reconnect();
    };
  }

  async function reconnect() {
    status(msg("reconnecting"));
    for (const key of [...state.pcs.keys()]) closePc(key);
    state.retries += 1;
    await new Promise((ok) => setTimeout(ok, Math.min(10000, 500 * 2 ** state.retries)));
    const r = await fetch(`/api/v1/calls/sessions/${sessionId}/join`, {
      method: "POST", credentials: "same-origin", headers: { "x-csrf-token": csrf },
    }).catch(() => null);
    if (!r || !r.ok) return reconnect();
    connect(await r.json());
  }

  function send(m) { if (state.ws && state.ws.readyState === 1) state.ws.send(JSON.stringify(m)); }

  async function onMessage(m) {
    switch (m.type) {
      case "welcome":
        state.peerId = m.peer_id; state.mode = m.mode; state.retries = 0;
        if (m.ice_servers && m.ice_servers.length) state.iceServers = m.ice_servers;
        status(m.notice || msg("connected"));
        setRecording(!!m.recording);
        m.peers.forEach((p) => state.people.set(p.peer_id, p));
        renderPeople();
        if (m.mode === "mesh") { for (const p of m.peers) await meshOffer(p.peer_id); }
        else {
          await publish();
          for (const p of m.peers) if (p.feed) send({ type: "subscribe", feed: p.feed });
        }
        break;
      case "peer-joined": state.people.set(m.peer.peer_id, m.peer); renderPeople(); break;
      case "peer-left":
        state.people.delete(m.peer_id); renderPeople();
        closePc(m.peer_id); if (m.feed) closePc("sub:" + m.feed);
        removeTile(m.peer_id);
        break;
      case "signal": await meshSignal(m.from, m.data); break;
      case "published": await state.pcs.get("pub").pc.setRemoteDescription(m.jsep); break;
      case "feed":
        state.people.set(m.peer.peer_id, m.peer); renderPeople();
        send({ type: "subscribe", feed: m.peer.feed });
        break;
      case "offer": await subscribeAnswer(m); break;
      case "layer": {  // Janus now relays this layer of the feed (substream and temporal layer come apart)
        const e = state.pcs.get("sub:" + m.feed);
        if (e && m.substream != null) e.substream = m.substream;
        if (e && m.temporal != null) e.temporal = m.temporal;
        break;
      }
      case "replaced": gone(m.message || msg("replaced")); break;
      case "ended": endLocally(m.message || msg("ended")); break;
      case "recording": setRecording(m.on); status(msg(m.on ? "recOn" : "recOff")); break;
      case "error": state.lastError = m.message; status(m.message); break;
    }
  }

  // ------------------------------------------------------------------ peer connections
  function newPc(key, remote, kind, feed) {
    const pc = new RTCPeerConnection({ iceServers: state.iceServers });
    state.pcs.set(key, { pc, remote, kind, feed });
    pc.ontrack = (e) => addTile(remote, nameOf(remote), e.streams[0] || new MediaStream([e.track]), false);
    pc.oniceconnectionstatechange = () => {
      if (pc.iceConnectionState === "failed") iceRestart(key);
    };
    return pc;
  }

  function addLocalTracks(pc) {
    const tracks = state.local ? state.local.getTracks() : [];
    const audio = tracks.find((t) => t.kind === "audio");
    const video = state.screen ? state.screen.getVideoTracks()[0] : tracks.find((t) => t.kind === "video");
    if (audio) pc.addTrack(audio, state.local); else pc.addTransceiver("audio", { direction: "recvonly" });
    if (video && !state.audioOnly) pc.addTrack(video, state.local); else pc.addTransceiver("video", { direction: "recvonly" });
  }

  function gathered(pc) {  // half-trickle: send complete descriptions (no public STUN is configured)
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((ok) => {
      const done = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", done); ok(); } };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(ok, 4000);
    });
  }

  async function meshOffer(remote, restart) {
    const entry = state.pcs.get(remote);
    const pc = entry ? entry.pc : newPc(remote, remote, "mesh");
    if (!entry) addLocalTracks(pc);
    await pc.setLocalDescription(await pc.createOffer(restart ? { iceRestart: true } : {}));
    await gathered(pc);
    send({ type: "signal", to: remote, data: { type: "offer", sdp: pc.localDescription.sdp } });
  }

  async function meshSignal(from, data) {
    if (data.type === "offer") {
      let entry = state.pcs.get(from);
      if (!entry) { const pc = newPc(from, from, "mesh"); addLocalTracks(pc); entry = state.pcs.get(from); }
      await entry.pc.setRemoteDescription(data);
      await entry.pc.setLocalDescription(await entry.pc.createAnswer());
      await gathered(entry.pc);
      send({ type: "signal", to: from, data: { type: "answer", sdp: entry.pc.localDescription.sdp } });
    } else if (data.type === "answer" && state.pcs.has(from)) {
      await state.pcs.get(from).pc.setRemoteDescription(data);
    }
  }

  async function publish(restart) {
    const entry = state.pcs.get("pub");
    const pc = entry ? entry.pc : newPc("pub", state.peerId, "pub");
    if (!entry) {
      const tracks = state.local ? state.local.getTracks() : [];
      tracks.forEach((t) => {
        if (t.kind === "audio") pc.addTrack(t, state.local);
        else if (!state.audioOnly) {  // Janus expects the layers high, medium, low (substream 2, 1, 0)
          pc.addTransceiver(t, { direction: "sendonly", streams: [state.local], sendEncodings: SIMULCAST });
        }
      });
      if (!tracks.length) pc.addTransceiver("audio", { direction: "sendonly" });
    }
    await pc.setLocalDescription(await pc.createOffer(restart ? { iceRestart: true } : {}));
    await gathered(pc);
    send({ type: "publish", jsep: { type: "offer", sdp: pc.localDescription.sdp } });
  }

  async function subscribeAnswer(m) {
    closePc("sub:" + m.feed);
    const pc = newPc("sub:" + m.feed, m.peer_id, "sub", m.feed);
    Object.assign(state.pcs.get("sub:" + m.feed), { simulcast: !!m.simulcast, level: 2 });
    await pc.setRemoteDescription(m.jsep);
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    send({ type: "answer", feed: m.feed, jsep: { type: "answer", sdp: pc.localDescription.sdp } });
  }

  function iceRestart(key) {
    const entry = state.pcs.get(key);
    if (!entry) return;
    status(msg("reconnecting"));
    if (entry.kind === "mesh") meshOffer(key, true);
    else if (entry.kind === "pub") publish(true);
    else send({ type: "subscribe", feed: entry.feed });  // a fresh subscription
  }

  function closePc(key) {
    const entry = state.pcs.get(key);
    if (entry) { entry.pc.close(); state.pcs.delete(key); delete state.inbound[key]; }
  }

  // This window no longer takes part (another window took over, or the server refused it):
  // stop everything and say so, with a way back.
  function gone(text) {
    state.leaving = true;
    for (const key of [...state.pcs.keys()]) closePc(key);
    if (state.local) state.local.getTracks().forEach((t) => t.stop());
    if (state.ws && state.ws.readyState < 2) state.ws.close();
    $("precall").hidden = true; $("precall").style.display = "none"; $("incall").hidden = true;
    $("gone-message").textContent = text;
    $("gone").hidden = false;
  }

  function senders() {
    return [...state.pcs.values()].filter((e) => e.kind !== "sub").flatMap((e) => e.pc.getSenders());
  }

  // ------------------------------------------------------------------ layers for weak links
  const SIMULCAST = [
    { rid: "h", maxBitrate: 900000 },
    { rid: "m", maxBitrate: 300000, scaleResolutionDownBy: 2 },
    { rid: "l", maxBitrate: 100000, scaleResolutionDownBy: 4 },
  ];
  const MESH_LEVELS = [{ maxBitrate: 150000, scale: 4 }, { maxBitrate: 400000, scale: 2 }, { maxBitrate: 0, scale: 1 }];

  // The layer a link carries, from two getStats samples: one down when it is weak (loss above
  // 8 %, a long round trip, too little bandwidth), one up after three calm samples in a row.
  function judge(entry, lost, seen, rtt, bandwidth) {
    const dl = lost - (entry.lost || 0), dn = seen - (entry.seen || 0);
    entry.lost = lost; entry.seen = seen;
    const loss = dl + dn > 0 ? dl / (dl + dn) : 0;
    const weak = loss > 0.08 || rtt > 600 || (bandwidth > 0 && bandwidth < 250000);
    entry.calm = weak ? 0 : (entry.calm || 0) + 1;
    const level = entry.linkLevel === undefined ? 2 : entry.linkLevel;
    entry.linkLevel = weak ? Math.max(0, level - 1) : (entry.calm >= 3 ? Math.min(2, level + 1) : level);
    if (entry.linkLevel > level) entry.calm = 0;
    return entry.linkLevel;
  }

  // The smallest layer that fills a remote tile as shown (layers are full, half and quarter of
  // the camera; a 1280-pixel camera gives 1280, 640 and 320): no use decoding more than is seen.
  function fits(remote) {
    const v = document.querySelector(`#tile-${CSS.escape(remote)} video`);
    const shown = v ? v.clientWidth * (window.devicePixelRatio || 1) : 0;
    return shown > 640 ? 2 : shown > 320 ? 1 : 0;
  }

  function levelFor(entry, link) {
    if (state.quality !== "auto") return Number(state.quality);
    const level = judge(entry, link.lost, link.seen, link.rtt, link.bandwidth);
    return entry.kind === "sub" ? Math.min(level, fits(entry.remote)) : level;
  }

  function applyLevel(key, entry, level) {
    if (level === entry.level) return;
    entry.level = level;
    if (entry.kind === "sub") {  // once media flows (Janus has started the subscription)
      if (!entry.simulcast || entry.pc.connectionState !== "connected") { entry.level = undefined; return; }
      send({ type: "layer", feed: entry.feed, substream: level, temporal: 2 });
      return;
    }
    const target = MESH_LEVELS[level];
    entry.pc.getSenders().filter((s) => s.track && s.track.kind === "video").forEach((s) => {
      const p = s.getParameters();
      if (!p.encodings || !p.encodings.length) return;
      if (target.maxBitrate) p.encodings[0].maxBitrate = target.maxBitrate; else delete p.encodings[0].maxBitrate;
      p.encodings[0].scaleResolutionDownBy = target.scale;
      s.setParameters(p).catch((err) => console.warn("call", err));
    });
  }

  function chooseQuality(value) {
    state.quality = value;
    for (const [key, entry] of state.pcs) {
      if (entry.kind !== "pub" && value !== "auto") applyLevel(key, entry, Number(value));
    }
  }

  // ------------------------------------------------------------------ tiles and people
  function nameOf(peer) {
    const p = state.people.get(peer);
    return p ? `${p.name} · ${p.site}` : "";
  }

  function addTile(id, label, stream, local) {
    let tile = document.getElementById("tile-" + id);
    if (!tile) {
      tile = document.createElement("div");
      tile.className = "tile-video"; tile.id = "tile-" + id;
      const v = document.createElement("video");
      v.autoplay = true; v.playsInline = true; v.muted = local;
      const l = document.createElement("span"); l.className = "label";
      tile.append(v, l);
      $("stage").append(tile);
      if (!document.querySelector(".tile-video.active")) tile.classList.add("active");
    }
    tile.querySelector(".label").textContent = label;
    const v = tile.querySelector("video");
    if (v.srcObject !== stream) { v.srcObject = stream; v.play().catch(() => {}); }
    const spk = $("spk").value;
    if (!local && spk && v.setSinkId) v.setSinkId(spk).catch(() => {});
  }

  function removeTile(id) { const t = document.getElementById("tile-" + id); if (t) t.remove(); }

  function renderPeople() {
    const items = [[msg("you"), root.dataset.site]].concat([...state.people.values()].map((p) => [`${p.name} (${p.title})`, p.site]));
    $("people").replaceChildren(...items.map(([n, s]) => {
      const li = document.createElement("li"); li.textContent = `${n} · ${s}`; return li;
    }));
    for (const [id, p] of state.people) {
      const t = document.querySelector(`#tile-${CSS.escape(id)} .label`);
      if (t) t.textContent = `${p.name} · ${p.site}`;
    }
  }

  // ------------------------------------------------------------------ controls
  function toggle(btn, on) { btn.setAttribute("aria-pressed", on ? "true" : "false"); }

  $("btn-mute").onclick = () => {
    state.muted = !state.muted;
    (state.local ? state.local.getAudioTracks() : []).forEach((t) => { t.enabled = !state.muted; });
    toggle($("btn-mute"), state.muted);
  };
  $("btn-cam").onclick = () => {
    state.camOff = !state.camOff;
    (state.local ? state.local.getVideoTracks() : []).forEach((t) => { t.enabled = !state.camOff; });
    toggle($("btn-cam"), state.camOff);
  };
  $("btn-share").onclick = async () => {
    if (state.screen) { stopShare(); return; }
    try { state.screen = await navigator.mediaDevices.getDisplayMedia({ video: true }); } catch (e) { return; }
    const track = state.screen.getVideoTracks()[0];
    track.onended = stopShare;
    senders().filter((s) => s.track && s.track.kind === "video").forEach((s) => s.replaceTrack(track));
    toggle($("btn-share"), true);
  };
  function stopShare() {
    if (!state.screen) return;
    state.screen.getTracks().forEach((t) => t.stop()); state.screen = null;
    const cam = state.local && state.local.getVideoTracks()[0];
    senders().filter((s) => s.track && s.track.kind === "video").forEach((s) => s.replaceTrack(cam || null));
    toggle($("btn-share"), false);
  }
  function setAudioOnly(on) {
    state.audioOnly = on;
    const cam = state.local && state.local.getVideoTracks()[0];
    senders().filter((s) => (s.track && s.track.kind === "video") || (!s.track && on === false))
      .forEach((s) => s.replaceTrack(on ? null : (cam || null)));
    document.querySelectorAll(".tile-video video").forEach((v) => { v.style.visibility = on ? "hidden" : "visible"; });
    toggle($("btn-audio"), on);
  }
  $("btn-audio").onclick = () => setAudioOnly(!state.audioOnly);
  $("btn-layout").onclick = () => { $("stage").classList.toggle("speaker"); };
  $("quality").addEventListener("change", () => chooseQuality($("quality").value));
  $("btn-here").onclick = () => location.reload();  // joining again from this window replaces the other one
  state.chooseQuality = chooseQuality;
  function endLocally(text) {
    state.leaving = true;
    for (const key of [...state.pcs.keys()]) closePc(key);
    if (state.local) state.local.getTracks().forEach((t) => t.stop());
    if (state.ws) state.ws.close();
    status(text);
    setTimeout(() => { location.href = root.dataset.back; }, 1500);
  }
  if ($("btn-end")) {
    $("btn-end").onclick = async () => {
      if (!window.confirm($("btn-end").dataset.confirm)) return;
      sendQuality();
      const r = await fetch(`/api/v1/calls/sessions/${root.dataset.session}/end`,
        { method: "POST", headers: { "X-CSRF-Token": root.dataset.csrf } });
      if (r.ok) endLocally(msg("ended"));
      else status((await r.json()).error.message);
    };
  }
  // Recording (the host; the server refuses without the patient's consent on record, with the reason).
  function setRecording(on) {
    state.recording = on;
    $("rec-indicator").hidden = !on;
    const b = $("btn-record");
    if (b) { b.textContent = msg(on ? "stopRecord" : "record"); b.setAttribute("aria-pressed", String(on)); }
  }
  if ($("btn-record")) {
    $("btn-record").onclick = async () => {
      const path = `/api/v1/calls/sessions/${root.dataset.session}/recording${state.recording ? "/stop" : ""}`;
      const r = await fetch(path, { method: "POST", headers: { "X-CSRF-Token": root.dataset.csrf } }).catch(() => null);
      if (!r) return;
      if (!r.ok) status((await r.json()).error.message);
    };
  }
  $("btn-leave").onclick = () => {
    state.leaving = true;
    sendQuality();
    send({ type: "leave" });
    for (const key of [...state.pcs.keys()]) closePc(key);
    if (state.local) state.local.getTracks().forEach((t) => t.stop());
    if (state.ws) state.ws.close();
    status(msg("left"));
    setTimeout(() => { location.href = root.dataset.back; }, 800);
  };
  // Key frame: a still of the selected tile (e.g. an ultrasound feed) into the consultation's files (tus upload).
  const b64 = (v) => btoa(unescape(encodeURIComponent(v)));
  $("btn-still").onclick = async () => {
    const video = document.querySelector(".tile-video.active video") || document.querySelector(".tile-video video");
    if (!video || !video.videoWidth) return;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((ok) => canvas.toBlob(ok, "image/jpeg", 0.92));
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const meta = [["patient_id", root.dataset.patient], ["context_type", "consultation"],
      ["context_id", root.dataset.consultation], ["filename", `still-${stamp}.jpg`]]
      .map(([k, v]) => `${k} ${b64(v)}`).join(",");
    const base = { "tus-resumable": "1.0.0", "x-csrf-token": csrf };
    try {
      const created = await fetch("/api/v1/files/uploads", { method: "POST", credentials: "same-origin",
        headers: { ...base, "upload-length": String(blob.size), "upload-metadata": meta } });
      if (!created.ok) throw new Error(String(created.status));
      const sent = await fetch(created.headers.get("location"), { method: "PATCH", credentials: "same-origin",
        headers: { ...base, "upload-offset": "0", "content-type": "application/offset+octet-stream" }, body: blob });
      if (sent.status !== 204) throw new Error(String(sent.status));
      state.lastStill = sent.headers.get("telebridge-file-id");
      status(msg("stillSaved"));
    } catch (err) {
      status(msg("stillFailed"));
    }
  };
  $("stage").addEventListener("click", (e) => {
    const tile = e.target.closest(".tile-video");
    if (!tile) return;
    document.querySelectorAll(".tile-video.active").forEach((t) => t.classList.remove("active"));
    tile.classList.add("active");
  });

  // ------------------------------------------------------------------ quality (getStats)
  async function collect() {
    let frames = 0, bytes = 0, lost = 0, received = 0, rtt = [];
    const perPeer = {};
    for (const [key, entry] of state.pcs) {
      const { pc, remote, kind } = entry;
      const report = await pc.getStats();
      const link = { lost: 0, seen: 0, rtt: 0, bandwidth: 0 };
      report.forEach((s) => {
        if (s.type === "inbound-rtp") {
          if (s.kind === "video") {
            frames += s.framesDecoded || 0;
            if (kind !== "pub") perPeer[remote] = (perPeer[remote] || 0) + (s.framesDecoded || 0);
            state.inbound[key] = { width: s.frameWidth || 0, height: s.frameHeight || 0, frames: s.framesDecoded || 0 };
          }
          bytes += s.bytesReceived || 0; lost += s.packetsLost || 0; received += s.packetsReceived || 0;
          link.lost += s.packetsLost || 0; link.seen += s.packetsReceived || 0;
        } else if (s.type === "remote-inbound-rtp" && kind === "mesh" && s.kind === "video") {
          const pct = Math.round((s.fractionLost || 0) * 100); link.lost = pct; link.seen = 100 - pct;
        } else if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) {
          rtt.push(s.currentRoundTripTime * 1000);
          link.rtt = s.currentRoundTripTime * 1000;
          if (kind === "mesh" && s.availableOutgoingBitrate) link.bandwidth = s.availableOutgoingBitrate;
        }
      });
      if (kind === "sub" || kind === "mesh") {
        if (kind === "mesh") { entry.lost = 0; entry.seen = 0; }  // fractionLost is already per interval
        applyLevel(key, entry, levelFor(entry, link));
      }
    }
    const now = performance.now();
    const kbps = state.lastAt ? ((bytes - state.lastBytes) * 8) / (now - state.lastAt) : 0;
    state.lastBytes = bytes; state.lastAt = now;
    state.stats = {
      frames_decoded: frames, bitrate_kbps: Math.max(0, Math.round(kbps)),
      packet_loss_pct: received + lost ? Math.round((1000 * lost) / (received + lost)) / 10 : 0,
      rtt_ms: rtt.length ? Math.round(rtt.reduce((a, b) => a + b, 0) / rtt.length) : 0,
      audio_only: state.audioOnly,
    };
    state.framesByPeer = perPeer;
    state.stats.framesDecoded = frames;
    if (state.stats.packet_loss_pct > 10 && !state.audioOnly && !state.weakAsked) {
      state.weakAsked = true;
      if (window.confirm(msg("weak"))) setAudioOnly(true);
    }
  }
  function sendQuality() { send({ type: "quality", stats: state.stats }); }
  setInterval(() => { if (state.pcs.size) collect().then(sendQuality).catch(() => {}); }, 3000);

  // ------------------------------------------------------------------ start
  ["cam", "mic", "audio-only"].forEach((id) => $(id).addEventListener("change", openLocal));
  $("join").addEventListener("click", join);
  window.addEventListener("beforeunload", () => { if (!state.leaving) { sendQuality(); send({ type: "leave" }); } });
  openLocal();
})();
