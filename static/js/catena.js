/* Catena screens: small progressive enhancements. Every page works without this file. */
(function () {
  "use strict";

  // A chosen logo file is shown before it is uploaded.
  function setUpLogoPreview(input) {
    var preview = document.getElementById(input.dataset.logoPreview);
    if (!preview) { return; }
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file || !/^image\//.test(file.type)) { return; }
      var reader = new FileReader();
      reader.addEventListener("load", function () {
        preview.src = reader.result;
        preview.hidden = false;
      });
      reader.readAsDataURL(file);
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  // A masked secret with "Reveal" and "Copy" buttons.
  function setUpSecret(box) {
    var shown = box.querySelector("[data-secret-value]");
    var reveal = box.querySelector("[data-secret-reveal]");
    var copy = box.querySelector("[data-secret-copy]");
    var secret = shown.dataset.secretValue;
    var masked = shown.textContent;
    if (reveal) {
      reveal.hidden = false;
      reveal.addEventListener("click", function () {
        var revealed = reveal.getAttribute("aria-pressed") === "true";
        shown.textContent = revealed ? masked : secret;
        reveal.setAttribute("aria-pressed", revealed ? "false" : "true");
        reveal.textContent = revealed ? "Reveal" : "Hide";
      });
    }
    if (copy) {
      copy.hidden = false;
      copy.addEventListener("click", function () {
        copyText(secret).then(function () {
          copy.textContent = "Copied";
          setTimeout(function () { copy.textContent = "Copy"; }, 2000);
        }, function () {
          copy.textContent = "Copy failed";
        });
      });
    }
  }

  // A search box that narrows a rendered list as you type (the server search still finds the rest).
  function setUpListFilter(input) {
    var list = document.getElementById(input.dataset.filterList);
    if (!list) { return; }
    var empty = list.parentNode.querySelector("[data-filter-empty]");
    function apply() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      list.querySelectorAll("[data-filter-text]").forEach(function (item) {
        var text = item.dataset.filterText;
        var match = words.every(function (word) { return text.indexOf(word) !== -1; });
        item.hidden = !match;
        if (match) { shown += 1; }
      });
      if (empty) { empty.hidden = shown > 0; }
    }
    input.addEventListener("input", apply);
  }

  // Field rules shown while typing: every input with a ``pattern`` and a ``data-validate`` message. Submitting
  // is never stopped here: the server checks every field and answers with all their errors at once (stopping
  // on the fields known here would reveal the others' errors only in a second round).
  function setUpLiveValidation(form) {
    form.noValidate = true;  // our messages instead of the browser's bubbles
    var inputs = Array.prototype.slice.call(form.querySelectorAll("input[data-validate]"));
    function show(input) {
      var field = input.closest(".form-field");
      if (!field) { return; }
      var live = field.querySelector("[data-live-error]");
      var valid = input.checkValidity();
      if (input.value === "" && !input.dataset.touched) { return; }
      if (!live) {
        live = document.createElement("ul");
        live.className = "field-errors";
        live.setAttribute("data-live-error", "");
        live.setAttribute("aria-live", "polite");
        field.appendChild(live);
      }
      // The server's answer to the last submission no longer describes the value being typed.
      field.querySelectorAll(".field-errors:not([data-live-error])").forEach(function (old) { old.remove(); });
      live.innerHTML = "";
      if (!valid) {
        var item = document.createElement("li");
        item.textContent = input.dataset.validate;
        live.appendChild(item);
      }
      field.classList.toggle("has-error", !valid);
      input.setAttribute("aria-invalid", valid ? "false" : "true");
    }
    inputs.forEach(function (input) {
      input.addEventListener("input", function () { show(input); });
      input.addEventListener("blur", function () { input.dataset.touched = "1"; show(input); });
    });
  }

  // Bulk selection on the subscriber list: this page's rows, or every subscriber matching the filter.
  function setUpBulk(form) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("input[data-bulk-row]"));
    var page = document.querySelector("input[data-bulk-page]");
    var all = form.querySelector("input[data-bulk-all]");
    var count = form.querySelector("[data-bulk-count]");
    var bar = form.querySelector(".bulk-bar");
    function update() {
      var checked = rows.filter(function (row) { return row.checked; }).length;
      if (all && all.checked) {
        count.textContent = "";
      } else {
        count.textContent = checked ? checked + " selected on this page" : "";
      }
      if (page) {
        page.checked = checked > 0 && checked === rows.length;
        page.indeterminate = checked > 0 && checked < rows.length;
      }
      if (bar) { bar.classList.toggle("all-selected", !!(all && all.checked)); }
    }
    rows.forEach(function (row) { row.addEventListener("change", update); });
    if (page) {
      page.addEventListener("change", function () {
        rows.forEach(function (row) { row.checked = page.checked; });
        update();
      });
    }
    if (all) { all.addEventListener("change", update); }
    update();
  }

  // Live blocks refresh themselves with htmx (``hx-get`` of their own page, ``hx-trigger="every …"``; see
  // templates/monitoring/play_sessions_live.html and templates/content/epg_live_status.html). Here only what htmx
  // leaves to the page: a block ([data-live-block]) asks nothing while the tab is hidden and asks at once when it
  // shows again ("catena:visible", in its hx-trigger); a failed request keeps the rows and says so.
  function setUpLiveBlocks() {
    function blockOf(event) {
      return event.target instanceof Element ? event.target.closest("[data-live-block]") : null;
    }
    document.body.addEventListener("htmx:confirm", function (event) {
      if (document.hidden && blockOf(event)) { event.preventDefault(); }
    });
    document.addEventListener("visibilitychange", function () {
      if (document.hidden || !window.htmx) { return; }
      document.querySelectorAll("[data-live-block]").forEach(function (block) {
        window.htmx.trigger(block, "catena:visible");
      });
    });
    function failed(event) {
      var block = blockOf(event);
      if (!block) { return; }
      block.dataset.stale = "true";
      var state = block.querySelector("[data-live-state]");
      if (state) { state.textContent = "not updated: connection problem, retrying"; }
    }
    document.body.addEventListener("htmx:responseError", failed);
    document.body.addEventListener("htmx:sendError", failed);
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var block = blockOf(event);
      if (block) { block.dataset.stale = "false"; }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[type=file][data-logo-preview]").forEach(setUpLogoPreview);
    document.querySelectorAll("[data-secret]").forEach(setUpSecret);
    document.querySelectorAll("input[data-filter-list]").forEach(setUpListFilter);
    document.querySelectorAll("form[data-live-validate]").forEach(setUpLiveValidation);
    document.querySelectorAll("form[data-bulk]").forEach(setUpBulk);
    setUpLiveBlocks();
  });
})();
