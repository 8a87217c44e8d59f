// ICD-10 picker: choose suggestions (click, Enter, arrow keys) into a list of hidden inputs.
// Works with the fragment from /terminology/icd10/suggest; no inline script (CSP script-src 'self').
(() => {
  "use strict";

  function choose(picker, option) {
    const code = option.dataset.code;
    if (!code) return;
    const chosen = picker.querySelector("[data-chosen]");
    if (chosen.querySelector(`li[data-code="${CSS.escape(code)}"]`)) return;
    const li = document.createElement("li");
    li.dataset.code = code;
    const hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = picker.dataset.name;
    hidden.value = code;
    const strong = document.createElement("strong");
    strong.textContent = code;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.dataset.remove = "";
    remove.setAttribute("aria-label", picker.dataset.removeLabel || "×");
    remove.textContent = "×";
    li.append(hidden, strong, " " + (option.dataset.title || ""), " ", remove);
    chosen.append(li);
    const input = picker.querySelector("input[type=search]");
    input.value = "";
    picker.querySelector(".icd10-suggestions").innerHTML = "";
    input.setAttribute("aria-expanded", "false");
    input.focus();
    picker.dispatchEvent(new CustomEvent("icd10:chosen", { bubbles: true, detail: { code } }));
  }

  function options(picker) {
    return Array.from(picker.querySelectorAll(".icd10-suggestions li[data-code]"));
  }

  document.addEventListener("click", (event) => {
    const picker = event.target.closest("[data-icd10-picker]");
    if (!picker) return;
    const remove = event.target.closest("[data-remove]");
    if (remove) {
      remove.closest("li").remove();
      return;
    }
    const option = event.target.closest(".icd10-suggestions li[data-code]");
    if (option) choose(picker, option);
  });

  document.addEventListener("keydown", (event) => {
    const picker = event.target.closest("[data-icd10-picker]");
    if (!picker || !["ArrowDown", "ArrowUp", "Enter", "Escape"].includes(event.key)) return;
    const list = options(picker);
    const current = list.indexOf(document.activeElement);
    if (event.key === "Escape") {
      picker.querySelector(".icd10-suggestions").innerHTML = "";
      picker.querySelector("input[type=search]").focus();
      return;
    }
    if (event.key === "Enter") {
      const target = current >= 0 ? list[current] : (event.target.matches("input[type=search]") ? list[0] : null);
      if (target) {
        event.preventDefault(); // never submit the enclosing form from the picker
        choose(picker, target);
      }
      return;
    }
    if (!list.length) return;
    event.preventDefault();
    const next = event.key === "ArrowDown" ? Math.min(current + 1, list.length - 1) : Math.max(current - 1, 0);
    list[next].focus();
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const picker = event.target.closest("[data-icd10-picker]");
    if (picker) {
      picker.querySelector("input[type=search]").setAttribute("aria-expanded", options(picker).length ? "true" : "false");
    }
  });
})();
