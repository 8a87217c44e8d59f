// The request form keeps a copy of what is typed in this browser until the server has
// saved it: a dropped connection or a closed tab loses nothing. The server autosaves
// (htmx, 1 s after typing stops); this restores unsaved typing on the next visit.
(() => {
  "use strict";
  const form = document.querySelector("form[data-draft-key]");
  if (!form) return;
  const key = form.dataset.draftKey;

  function values() {
    const out = {};
    for (const el of form.elements) {
      if (el.name && el.name !== "csrf_token" && el.type !== "hidden" && el.type !== "submit") out[el.name] = el.value;
    }
    return out;
  }

  function store(synced) {
    try {
      localStorage.setItem(key, JSON.stringify({ t: Date.now(), synced, v: values() }));
    } catch (e) { /* storage full or disabled: the server copy still works */ }
  }

  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { saved = null; }
  if (saved && !saved.synced && saved.v) {
    let changed = false;
    for (const [name, value] of Object.entries(saved.v)) {
      const el = form.elements.namedItem(name);
      if (el && "value" in el && el.value !== value) { el.value = value; changed = true; }
    }
    if (changed) {
      const notice = document.getElementById("restored");
      if (notice) notice.hidden = false;
      form.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  form.addEventListener("input", () => store(false));
  form.addEventListener("change", () => store(false));
  document.body.addEventListener("htmx:afterRequest", (event) => {
    if (event.detail.elt === form) {
      const ok = event.detail.successful && !(event.detail.xhr.responseText || "").includes('role="alert"');
      store(ok);
    }
  });
  form.addEventListener("submit", () => {
    store(false);
    if (window.htmx) window.htmx.trigger(form, "htmx:abort"); // no autosave racing the send
  });
  // Sent successfully: the case page no longer has this form; forget the copy there.
  window.addEventListener("pageshow", () => {
    if (!document.querySelector("form[data-draft-key]")) localStorage.removeItem(key);
  });
})();
