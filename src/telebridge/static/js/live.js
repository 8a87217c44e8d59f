// Live events for every signed-in page (Server-Sent Events from /events): the notification
// bell, work lists and the open case refresh themselves without a reload.
(() => {
  "use strict";
  if (!window.EventSource) return;

  function idle() {
    const el = document.activeElement;
    if (el && ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) return false;
    return !Array.from(document.querySelectorAll("main textarea, main input[type=text], main input:not([type])"))
      .some((f) => f.value && !f.closest("[data-ignore-dirty]") && f.name !== "icd10_q");
  }

  function refreshLists() {
    document.querySelectorAll("[data-live-refresh]").forEach((el) => {
      if (window.htmx) window.htmx.ajax("GET", el.dataset.liveRefresh, { target: el, swap: "innerHTML" });
    });
  }

  function caseChanged(id) {
    const page = document.querySelector("[data-case]");
    if (!page || page.dataset.case !== id) return;
    if (idle()) {
      window.location.reload();
    } else if (window.htmx) {
      window.htmx.ajax("GET", page.dataset.liveCase, { target: "#case-status", swap: "innerHTML" });
    }
  }

  const source = new EventSource("/events");
  source.addEventListener("notification", (event) => {
    document.body.dispatchEvent(new CustomEvent("tb:notification", { detail: JSON.parse(event.data) }));
    refreshLists();
  });
  source.addEventListener("case", (event) => {
    const data = JSON.parse(event.data);
    refreshLists();
    caseChanged(data.id);
  });
  window.telebridgeLive = { caseChanged, idle };
})();
