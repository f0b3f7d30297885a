// WI web UI: tabs, showing only the chosen method's fields, certificate upload, Fetch Token.
// No inline script anywhere (the Content-Security-Policy forbids it).
(function () {
  "use strict";

  function show(el, visible) {
    if (!el) return;
    el.hidden = !visible;
    if (el.tagName === "FIELDSET") el.disabled = !visible;
  }

  function initTabs(root) {
    const tabs = Array.from(root.querySelectorAll('[role="tab"]'));
    function select(tab, focus) {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
      }
      if (focus) tab.focus();
    }
    tabs.forEach(function (tab, i) {
      tab.addEventListener("click", function () { select(tab, false); });
      tab.addEventListener("keydown", function (ev) {
        let next = null;
        if (ev.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
        if (ev.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
        if (ev.key === "Home") next = tabs[0];
        if (ev.key === "End") next = tabs[tabs.length - 1];
        if (next) { ev.preventDefault(); select(next, true); }
      });
    });
  }

  function initServerForm(form) {
    const method = form.querySelector("#auth_method");
    const grant = form.querySelector("#oauth_grant_type");
    const verify = form.querySelector("#verify_certificate");
    const protocol = form.querySelector("#protocol");
    const editable = form.dataset.editable === "true";

    function syncAuth() {
      for (const fs of form.querySelectorAll("fieldset.method")) {
        show(fs, editable && fs.dataset.method === method.value);
        if (!editable) fs.hidden = fs.dataset.method !== method.value;
      }
      const oauth = method.value === "oauth2";
      for (const fs of form.querySelectorAll("fieldset.grant")) {
        show(fs, editable && oauth && fs.dataset.grant === grant.value);
        if (!editable) fs.hidden = fs.dataset.grant !== grant.value;
      }
      const area = document.getElementById("fetch-token-area");
      if (area) area.hidden = !(method.value === "oauth2" || method.value === "bearer");
    }
    function syncTls() {
      const section = document.getElementById("certificate-section");
      show(section, verify.value === "certificate");
      if (!editable) section.disabled = true;
      const warning = document.getElementById("tls-warning");
      warning.hidden = !(verify.value === "disable" && protocol.value === "https");
    }
    method.addEventListener("change", syncAuth);
    grant.addEventListener("change", syncAuth);
    verify.addEventListener("change", syncTls);
    protocol.addEventListener("change", syncTls);

    for (const picker of form.querySelectorAll('input[type="file"][data-target]')) {
      picker.addEventListener("change", function () {
        const chosen = picker.files && picker.files[0];
        const target = document.getElementById(picker.dataset.target);
        if (chosen && target) chosen.text().then(function (text) { target.value = text; });
      });
    }

    const file = form.querySelector("#certificate_file");
    const pem = form.querySelector("#certificate");
    if (file && pem) {
      file.addEventListener("change", function () {
        const chosen = file.files && file.files[0];
        if (!chosen) return;
        chosen.text().then(function (text) {
          pem.value = text;
          if (window.htmx) window.htmx.trigger(pem, "certificate-chosen");
        });
      });
    }

    // The error summary's links open the tab holding the field, then focus it.
    const summary = document.getElementById("form-errors");
    if (summary) {
      summary.addEventListener("click", function (ev) {
        const link = ev.target.closest("a[href^='#']");
        if (!link) return;
        const target = document.getElementById(link.getAttribute("href").slice(1));
        if (!target) return;
        ev.preventDefault();
        const panel = target.closest('[role="tabpanel"]');
        if (panel) document.getElementById(panel.getAttribute("aria-labelledby")).click();
        const details = target.closest("details");
        if (details) details.open = true;
        target.focus();
      });
      summary.focus();
    }

    const button = document.getElementById("fetch-token");
    if (button) button.addEventListener("click", function () { fetchToken(form, button); });
    const tester = document.getElementById("test-connection");
    if (tester) tester.addEventListener("click", function () { testConnection(tester); });
  }

  function setPath(doc, path, value) {
    const parts = path.split(".");
    let node = doc;
    for (let i = 0; i < parts.length - 1; i++) {
      node = node[parts[i]] = node[parts[i]] || {};
    }
    node[parts[parts.length - 1]] = value;
  }

  // The dialog's values as the API's server document (what Save would send).
  function formDocument(form) {
    const doc = {};
    for (const el of form.querySelectorAll("[data-path]")) {
      if (el.matches(":disabled")) continue;
      const path = el.dataset.path;
      if (el.type === "checkbox") { setPath(doc, path, el.checked); continue; }
      const value = el.value;
      if (value === "") {
        if (el.hasAttribute("data-secret") || path === "auth.scope" || path === "auth.token_script"
            || path === "proxy" || path === "certificate" || path === "client_certificate" || path === "auth.token_script_ttl_seconds") setPath(doc, path, null);
        continue;
      }
      if (path === "secret_headers") {
        setPath(doc, path, value.split(",").map(function (n) { return n.trim(); }).filter(Boolean));
        continue;
      }
      setPath(doc, path, value);
    }
    return doc;
  }

  function line(parent, cls, text) {
    const p = document.createElement("p");
    if (cls) p.className = cls;
    p.textContent = text;
    parent.appendChild(p);
    return p;
  }

  function clearFetchErrors(form) {
    for (const el of form.querySelectorAll(".fetch-field-error")) el.remove();
  }

  // Each error under its field, and in the result with the field's label (not its API path);
  // a tab holding errors that is not shown gets their count.
  function showFieldErrors(form, detail, out) {
    const counts = {};
    const seen = new Set();
    for (const err of detail) {
      const loc = (err.loc || []).filter(function (p) { return p !== "body"; });
      const path = loc.join(".");
      const input = Array.from(form.querySelectorAll("[data-path]")).find(function (el) {
        return el.dataset.path === path && !el.matches(":disabled");
      });
      const label = input && input.id ? form.querySelector('label[for="' + input.id + '"]') : null;
      const name = label ? label.textContent.trim() : (path || "Settings");
      const text = name + ": " + err.msg;
      if (seen.has(text)) continue;
      seen.add(text);
      if (input) {
        const p = document.createElement("p");
        p.className = "field-error fetch-field-error";
        p.textContent = err.msg;
        input.insertAdjacentElement("afterend", p);
        const panel = input.closest('[role="tabpanel"]');
        if (panel) counts[panel.id] = (counts[panel.id] || 0) + 1;
      }
      line(out, "", text);
    }
    for (const id of Object.keys(counts)) {
      const tab = form.querySelector('[aria-controls="' + id + '"]');
      if (!tab || tab.querySelector(".count")) continue;
      const badge = document.createElement("span");
      badge.className = "count fetch-field-error";
      badge.textContent = String(counts[id]);
      badge.setAttribute("aria-label", counts[id] + " errors");
      tab.appendChild(document.createTextNode(" "));
      tab.appendChild(badge);
    }
  }

  // POST to the API with the session's CSRF token and show the diagnosis in ``out``.
  function diagnose(url, body, out, button, busyText, form) {
    const csrf = document.body.dataset.csrfToken || "";
    if (form) clearFetchErrors(form);
    out.replaceChildren();
    out.className = "result busy";
    line(out, "", busyText);
    button.disabled = true;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    }).then(function (res) {
      out.replaceChildren();
      const d = res.data || {};
      if (res.status === 422 && Array.isArray(d.detail)) {
        out.className = "result fail";
        line(out, "title", "✖ The form has errors; fix them and try again:");
        if (form) showFieldErrors(form, d.detail, out);
        else for (const err of d.detail) line(out, "", err.msg);
        return;
      }
      if (res.status >= 400 || typeof d.ok !== "boolean") {
        out.className = "result fail";
        line(out, "title", "✖ The check could not run (HTTP " + res.status + ")");
        if (d.detail) line(out, "", typeof d.detail === "string" ? d.detail : JSON.stringify(d.detail));
        return;
      }
      const facts = [];
      if (d.ok) {
        out.className = "result ok";
        line(out, "title", "✔ " + d.message);
        if (d.token_type) facts.push("type " + d.token_type);
        if (d.token_preview) facts.push("token " + d.token_preview);
        if (d.expires_in !== null && d.expires_in !== undefined) facts.push("expires in " + d.expires_in + " s");
        if (d.scope) facts.push("scope " + d.scope);
        if (d.status && !d.token_preview) facts.push("HTTP " + d.status);
      } else {
        out.className = "result fail";
        line(out, "title", "✖ Failed at stage " + (d.stage || "unknown") + ": " + d.message);
        if (d.status) facts.push("HTTP " + d.status);
        if (d.oauth_error) facts.push("OAuth error " + d.oauth_error + (d.oauth_error_description ? " (" + d.oauth_error_description + ")" : ""));
      }
      facts.push(d.elapsed_ms + " ms");
      line(out, "facts", facts.join(" · "));
      for (const note of d.notes || []) line(out, "hint", note);
    }).catch(function (error) {
      out.replaceChildren();
      out.className = "result fail";
      line(out, "title", "✖ The check failed: " + error);
    }).finally(function () {
      button.disabled = false;
    });
  }

  function fetchToken(form, button) {
    const body = formDocument(form);
    if (form.dataset.base) body.base = form.dataset.base;
    diagnose("/api/v1/outbound-servers/fetch-token", body,
      document.getElementById("fetch-token-result"), button, "Fetching a token…", form);
  }

  function testConnection(button) {
    const area = document.getElementById("test-connection-area");
    const body = {
      method: document.getElementById("test_method").value,
      path: document.getElementById("test_path").value,
    };
    diagnose("/api/v1/outbound-servers/" + encodeURIComponent(area.dataset.server) + "/test", body,
      document.getElementById("test-connection-result"), button, "Sending the request…", null);
  }

  // Menus built on <details>: Escape or a click elsewhere closes them.
  function initMenus() {
    const menus = Array.from(document.querySelectorAll("details.menu"));
    document.addEventListener("keydown", function (ev) {
      if (ev.key !== "Escape") return;
      for (const menu of menus) {
        if (menu.open) { menu.open = false; menu.querySelector("summary").focus(); }
      }
    });
    document.addEventListener("click", function (ev) {
      for (const menu of menus) if (menu.open && !menu.contains(ev.target)) menu.open = false;
    });
  }

  // The SecureChange connection page: the certificate section follows the TLS mode.
  function initSecureChangeForm(form) {
    const verify = form.querySelector("#verify_certificate");
    const protocol = form.querySelector("#protocol");
    const editable = !form.querySelector("fieldset.plain").disabled;
    function syncTls() {
      const section = document.getElementById("certificate-section");
      section.hidden = verify.value !== "certificate";
      section.disabled = !editable || section.hidden;
      document.getElementById("tls-warning").hidden =
        !(verify.value === "disable" && protocol.value === "https");
    }
    verify.addEventListener("change", syncTls);
    protocol.addEventListener("change", syncTls);
    const file = form.querySelector("#certificate_file");
    const pem = form.querySelector("#certificate");
    file.addEventListener("change", function () {
      const chosen = file.files && file.files[0];
      if (!chosen) return;
      chosen.text().then(function (text) {
        pem.value = text;
        if (window.htmx) window.htmx.trigger(pem, "certificate-chosen");
      });
    });
    const summary = document.getElementById("form-errors");
    if (summary) summary.focus();
  }

  // The server dialog is modal over the list. Links marked data-dialog open it in place
  // (the URL follows, so it can be bookmarked); a deep link renders it over the list.
  let dialogOpener = null;

  function focusFirst(dialog) {
    const summary = dialog.querySelector("#form-errors");
    const panel = dialog.querySelector('[role="tabpanel"]:not([hidden])');
    const field = panel && panel.querySelector("input:not([type=hidden]):not(:disabled), select:not(:disabled), textarea:not(:disabled)");
    const target = summary || field || dialog.querySelector('[role="tab"][aria-selected="true"]');
    if (target) target.focus();
  }

  function returnFocus() {
    // The opener, else its menu's button (a menu link is hidden once the menu closed).
    const opener = dialogOpener;
    dialogOpener = null;
    const menu = opener && opener.closest("details.menu");
    const candidates = [opener, menu && menu.querySelector("summary"),
      document.querySelector("#actions summary"), document.querySelector("main h1")];
    for (const target of candidates) {
      if (!target || !document.contains(target)) continue;
      if (target.matches("h1")) target.tabIndex = -1;
      target.focus();
      if (document.activeElement === target) return;
    }
  }

  let focusAfterBack = false;

  function closeDialog(dialog, fromHistory) {
    if (dialog.open) dialog.close();
    dialog.remove();
    if (!fromHistory && history.state && history.state.wiDialog) {
      // Going back resets focus when it lands: focus follows in the popstate handler.
      focusAfterBack = true;
      history.back();
      return;
    }
    if (!fromHistory) history.replaceState(null, "", "/servers");
    returnFocus();
  }

  function showDialog(dialog) {
    if (dialog.open) dialog.close();
    dialog.addEventListener("cancel", function (ev) { ev.preventDefault(); closeDialog(dialog, false); });
    for (const closer of dialog.querySelectorAll("[data-close-dialog]")) {
      closer.addEventListener("click", function (ev) { ev.preventDefault(); closeDialog(dialog, false); });
    }
    dialog.showModal();
    focusFirst(dialog);
  }

  function openInPlace(link) {
    const href = link.getAttribute("href");
    fetch(href, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(function (text) {
      const parsed = new DOMParser().parseFromString(text, "text/html");
      const found = parsed.getElementById("server-dialog");
      if (!found) throw new Error("no dialog");
      const old = document.getElementById("server-dialog");
      if (old) old.remove();
      const dialog = document.importNode(found, true);
      document.getElementById("main").appendChild(dialog);
      const form = dialog.querySelector("form");
      initTabs(form);
      initServerForm(form);
      if (window.htmx) window.htmx.process(dialog);
      dialogOpener = link;
      history.pushState({ wiDialog: true }, "", href);
      showDialog(dialog);
    }).catch(function () { window.location.href = href; });
  }

  function initDialogs() {
    document.addEventListener("click", function (ev) {
      const link = ev.target.closest && ev.target.closest("a[data-dialog]");
      if (!link || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
      ev.preventDefault();
      const menu = link.closest("details.menu");
      if (menu) menu.open = false;
      openInPlace(link);
    });
    window.addEventListener("popstate", function () {
      const dialog = document.getElementById("server-dialog");
      if (dialog && !(history.state && history.state.wiDialog)) closeDialog(dialog, true);
      else if (focusAfterBack) { focusAfterBack = false; setTimeout(returnFocus, 0); }
    });
    const deepLinked = document.getElementById("server-dialog");
    if (deepLinked) showDialog(deepLinked);
  }

  document.addEventListener("DOMContentLoaded", function () {
    initMenus();
    for (const tablist of document.querySelectorAll('[role="tablist"]')) initTabs(tablist.closest("form") || document);
    const form = document.getElementById("server-form");
    if (form) initServerForm(form);
    const securechange = document.getElementById("securechange-form");
    if (securechange) initSecureChangeForm(securechange);
    initDialogs();
    const editorErrors = document.getElementById("integration-form") && document.getElementById("form-errors");
    if (editorErrors) editorErrors.focus();
  });
})();
