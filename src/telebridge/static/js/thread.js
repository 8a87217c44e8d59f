// The consultation thread over WebSocket: messages are persisted by the server before they
// are delivered; a message typed while offline waits and is sent on reconnection with the
// same key, so a retry never posts twice. Text is inserted as text (never as HTML).
(() => {
  "use strict";
  const box = document.querySelector("[data-thread]");
  if (!box || !window.WebSocket) return;
  const id = box.dataset.thread;
  const me = box.dataset.me;
  const list = document.getElementById("messages");
  const form = document.getElementById("message-form");
  const state = document.getElementById("thread-state");
  const pendingKey = `tb-pending-${id}`;
  let socket = null;
  let delay = 500;

  function pending() {
    try { return JSON.parse(localStorage.getItem(pendingKey) || "[]"); } catch (e) { return []; }
  }
  function setPending(items) { localStorage.setItem(pendingKey, JSON.stringify(items)); }

  function fmt(iso) {
    const d = new Date(iso);
    return d.toLocaleString(document.documentElement.lang === "vi" ? "vi-VN" : "en-GB",
      { hour: "2-digit", minute: "2-digit", day: "2-digit", month: "2-digit", timeZone: "Asia/Ho_Chi_Minh" });
  }

  function show(m, extraClass) {
    let li = m.id ? list.querySelector(`li[data-id="${m.id}"]`) : null;
    if (!li && m.client_key) li = list.querySelector(`li[data-key="${m.client_key}"]`);
    if (!li) { li = document.createElement("li"); list.append(li); }
    li.replaceChildren();
    if (m.id) li.dataset.id = m.id;
    if (m.client_key) li.dataset.key = m.client_key;
    li.className = (m.author_user_id === me ? "mine " : "") + (extraClass || "");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.author_name || "";
    const time = document.createElement("time");
    time.className = "muted";
    time.textContent = m.created_at ? fmt(m.created_at) : "…";
    if (m.created_at) time.dataset.at = m.created_at;
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = m.body;
    li.append(who, " ", time, body);
    li.scrollIntoView({ block: "nearest" });
  }

  function markLatestSeen(at) {
    // My messages up to the reader's mark are shown as seen.
    const upTo = new Date(at).getTime();
    list.querySelectorAll("li.mine").forEach((li) => {
      const t = li.querySelector("time");
      if (t && t.dataset.at && new Date(t.dataset.at).getTime() <= upTo) li.classList.add("seen");
    });
  }

  function flush() {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    for (const p of pending()) {
      socket.send(JSON.stringify({ type: "send", body: p.body, client_key: p.client_key, mentions: p.mentions || [] }));
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/consultations/${id}/ws`);
    socket.addEventListener("open", () => {
      delay = 500;
      state.textContent = "";
      box.dataset.live = "1";
      flush();
      socket.send(JSON.stringify({ type: "read" }));
    });
    socket.addEventListener("message", (event) => {
      const data = JSON.parse(event.data);
      if (data.kind === "message") {
        show(data.message);
        if (data.message.author_user_id !== me && document.visibilityState === "visible") {
          socket.send(JSON.stringify({ type: "read" }));
        }
      } else if (data.kind === "ack") {
        setPending(pending().filter((p) => p.client_key !== data.client_key));
        const li = list.querySelector(`li[data-key="${data.client_key}"]`);
        if (li) { li.classList.remove("pending"); li.dataset.id = data.id; }
      } else if (data.kind === "error") {
        state.textContent = data.message;
        if (data.client_key) {
          setPending(pending().filter((p) => p.client_key !== data.client_key));
          const li = list.querySelector(`li[data-key="${data.client_key}"]`);
          if (li) li.classList.add("failed");
        }
      } else if (data.kind === "read" && data.user !== me) {
        const mark = document.querySelector(`#receipts [data-reader="${CSS.escape(data.user)}"]`);
        if (mark) mark.dataset.fresh = "1"; // the reader's line is re-rendered on the next visit; mark it live
        markLatestSeen(data.at);
      } else if (data.kind === "minutes" && window.telebridgeLive) {
        window.telebridgeLive.caseChanged(id);
      }
    });
    socket.addEventListener("close", (event) => {
      box.dataset.live = "";
      if (event.code === 4401 || event.code === 4403) { state.textContent = box.dataset.offline; return; }
      state.textContent = box.dataset.offline;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 15000);
    });
  }

  if (form) {
    form.addEventListener("submit", (event) => {
      const area = form.elements.namedItem("body");
      const text = area.value.trim();
      if (!socket || !text) return; // no socket support: the form posts normally
      event.preventDefault();
      if (text.length > Number(box.dataset.max)) { state.textContent = box.dataset.errorTooLong; return; }
      const key = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/-/g, "");
      const picker = form.elements.namedItem("mentions");
      const mentions = picker ? Array.from(picker.selectedOptions).map((o) => o.value) : [];
      if (picker) picker.selectedIndex = -1;
      setPending([...pending(), { body: text, client_key: key, mentions }]);
      show({ body: text, client_key: key, author_user_id: me, author_name: "" }, "pending");
      area.value = "";
      flush();
    });
  }
  for (const p of pending()) show({ body: p.body, client_key: p.client_key, author_user_id: me }, "pending");
  connect();
})();
