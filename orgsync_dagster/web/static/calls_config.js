// Calls configuration page (web/pages/calls_config.py): add result rows, jump to a problem's field.
// Written for this project; the form works without it (two empty result rows are always there).
"use strict";

(function () {
  const form = document.getElementById("candidate-form");
  const add = document.getElementById("add-result");
  const template = document.getElementById("result-row-template");
  if (form && add && template) {
    const count = form.querySelector('input[name="rows"]');
    const rows = document.getElementById("result-rows");
    add.hidden = false;
    add.addEventListener("click", () => {
      const i = Number(count.value);
      rows.insertAdjacentHTML("beforeend", template.innerHTML.split("__i__").join(String(i)));
      count.value = String(i + 1);
      const key = document.getElementById("f-r" + i + "-key");
      if (key) key.focus();
    });
  }
  document.querySelectorAll("#problems a[data-slot]").forEach((a) => {
    a.addEventListener("click", (ev) => {
      const el = document.getElementById("f-" + a.dataset.slot);
      if (!el) return;
      ev.preventDefault();
      const target = el.matches("input, select, textarea") ? el : el.querySelector("input, select, textarea");
      (target || el).scrollIntoView({ block: "center" });
      if (target) target.focus();
    });
  });
  // a problem shown inline disappears from view as soon as its field is changed (the server checks again on save)
  document.addEventListener("input", (ev) => {
    const el = ev.target;
    if (el && el.getAttribute && el.getAttribute("aria-invalid") === "true") {
      el.closest(".has-error")?.classList.add("edited");
    }
  });
})();
