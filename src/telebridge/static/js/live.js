// Live events for every signed-in page (Server-Sent Events from /events): the notification
// bell, work lists and the open case refresh themselves without a reload.
(() => {
  "use strict";
  if (!window.EventSource) return;

  // The page may reload itself only when the user has not typed into it (a message being
  // written in the thread counts only while it is not empty).
  let typed = false;
  document.addEventListener("input", (event) => {
    if (!event.target.closest("[data-ignore-dirty]")) typed = true;
  });

  function idle() {
    const thread = document.querySelector("#message-form textarea");
    return !typed && !(thread && thread.value.trim());
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
  let opened = 0;
  source.addEventListener("open", () => {
    opened += 1;
    if (opened > 1) refreshLists(); // events may have been missed while reconnecting
  });
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
