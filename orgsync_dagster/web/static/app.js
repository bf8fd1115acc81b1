// orgsync web app: inline edits without page reloads, live updates over Server-Sent Events, presence.
// Written for this project (no framework). Every request carries the session's CSRF token.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const body = document.body;

  function applyColors(root) {
    (root || document).querySelectorAll("[data-color]").forEach((el) => {
      el.style.color = el.dataset.color;
    });
  }

  function flash(text, kind) {
    const box = document.getElementById("flash");
    if (!box || !text) return;
    const p = document.createElement("p");
    p.className = "flash " + (kind || "info");
    p.setAttribute("role", kind === "error" ? "alert" : "status");
    p.textContent = text;
    box.prepend(p);
    while (box.children.length > 4) box.lastChild.remove();
  }

  function build(html) {
    const tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    const fresh = tpl.content.firstElementChild;
    if (fresh) {
      // rows pushed by the live stream are rendered once for every viewer: this session's token goes in here
      fresh.querySelectorAll('input[name="csrf_token"]').forEach((i) => (i.value = csrf));
      applyColors(fresh);
    }
    return fresh;
  }

  function replaceRow(el, html) {
    const fresh = build(html);
    if (!fresh) return null;
    el.replaceWith(fresh);
    return fresh;
  }

  // -- inline edits ------------------------------------------------------------------------------------------
  async function submitEdit(form) {
    const row = form.closest("[data-entity]");
    const data = new FormData(form);
    if (form.dataset.pending === "1") return;
    form.dataset.pending = "1";
    try {
      const resp = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: data,
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
        credentials: "same-origin",
      });
      let payload = {};
      try {
        payload = await resp.json();
      } catch (e) {
        payload = { ok: false, error: "the server answered " + resp.status };
      }
      if (payload.html && row) {
        const fresh = replaceRow(row, payload.html);
        if (fresh && payload.conflict) fresh.classList.add("conflict");
      }
      if (!payload.ok) {
        flash(payload.error || "not saved", "error");
      } else if (payload.message) {
        flash(payload.message, "info");
      }
      if (payload.ok && form.dataset.reload === "1") refreshRegion();
    } catch (e) {
      flash("Not saved: the server could not be reached. Try again.", "error");
    } finally {
      delete form.dataset.pending;
    }
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("js-edit")) return;
    ev.preventDefault();
    submitEdit(form);
  });
  document.addEventListener("change", (ev) => {
    const el = ev.target;
    if (el.matches && el.matches("[data-navigate]")) {
      window.location.assign(el.value);
      return;
    }
    if (el.matches && el.matches("[data-autosubmit]")) {
      const form = el.closest("form");
      if (form.classList.contains("js-edit")) submitEdit(form);
      else form.requestSubmit();
    }
  });

  // -- live updates ------------------------------------------------------------------------------------------
  const fragmentBase = body.dataset.fragmentBase || "";
  const scopeQuery = body.dataset.scopeQuery || "";
  const mode = body.dataset.liveMode || "rows";
  let refreshTimer = null;

  async function refreshRegion() {
    const region = document.getElementById("live-region");
    if (!region) return;
    const checked = new Set(
      Array.from(region.querySelectorAll("input[type=checkbox]:checked")).map((i) => i.name + "=" + i.value.split(":")[0])
    );
    const resp = await fetch(window.location.href, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!resp.ok) return;
    const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
    const fresh = doc.getElementById("live-region");
    if (!fresh) return;
    region.replaceChildren(...fresh.childNodes);
    region.querySelectorAll("input[type=checkbox]").forEach((i) => {
      if (checked.has(i.name + "=" + i.value.split(":")[0])) i.checked = true;
    });
    applyColors(region);
  }

  async function rowHtml(ev) {
    if (ev.html !== undefined) return ev.html; // rendered by the server once for all viewers of this page
    const url = `${fragmentBase}/${ev.e}/${ev.id}${scopeQuery ? "?" + scopeQuery : ""}`;
    const resp = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (resp.status === 204) return null;
    if (!resp.ok) return "";
    return await resp.text();
  }

  async function applyChange(ev) {
    if (mode === "region") {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refreshRegion, 300);
      return;
    }
    if (ev.e === "shift" && body.dataset.page === "kph") {
      // a volunteer's status changed: who can go out in a new group may have changed
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(refreshRegion, 300);
      return;
    }
    const id = ev.e + "-" + ev.id;
    const el = document.getElementById(id);
    if (el && ev.v != null && Number(el.dataset.version) >= Number(ev.v)) return; // already shown
    if (!fragmentBase) return;
    const html = await rowHtml(ev);
    const current = document.getElementById(id);
    if (html === null) {
      if (current) current.remove();
      return;
    }
    if (!html) return;
    const fresh = build(html);
    if (!fresh) return;
    if (current) {
      if (Number(current.dataset.version) > Number(fresh.dataset.version)) return; // an older rendering
      if (current.contains(document.activeElement) && document.activeElement.tagName === "INPUT") {
        current.classList.add("stale");
        current.dataset.pendingHtml = html; // applied when the organizer leaves the row
        return;
      }
      current.replaceWith(fresh);
    } else {
      const list = document.querySelector(`[data-list="${ev.e}"]`);
      if (!list) return;
      list.append(fresh);
    }
    fresh.classList.add("flash-row");
    const by = fresh.querySelector(".who");
    if (by && ev.by) by.textContent = ev.by;
  }

  document.addEventListener("focusout", (ev) => {
    const row = ev.target.closest && ev.target.closest(".stale");
    if (row && row.dataset.pendingHtml && !row.contains(ev.relatedTarget)) {
      replaceRow(row, row.dataset.pendingHtml);
    }
  });

  function showPresence(viewers) {
    const box = document.getElementById("presence");
    if (!box) return;
    box.replaceChildren();
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = viewers.length ? "Viewing now:" : "";
    box.append(label);
    for (const v of viewers) {
      const b = document.createElement("span");
      b.className = "viewer";
      b.title = v.name;
      b.textContent = v.initials;
      b.dataset.color = v.color;
      b.dataset.name = v.name;
      box.append(b);
    }
    applyColors(box);
  }

  function connect(url) {
    const source = new EventSource(url);
    source.addEventListener("change", (e) => applyChange(JSON.parse(e.data)));
    source.addEventListener("presence", (e) => showPresence(JSON.parse(e.data).viewers || []));
    source.addEventListener("reload", () => window.location.reload());
    source.addEventListener("open", () => body.classList.add("live"));
    source.addEventListener("error", () => body.classList.remove("live"));
  }

  (body.dataset.live || "")
    .split(" ")
    .filter(Boolean)
    .forEach(connect);
  applyColors(document);
})();
