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

  // Field rules shown while typing: every input with a ``pattern`` and a ``data-validate`` message.
  function setUpLiveValidation(form) {
    form.noValidate = true;  // our messages instead of the browser's bubbles
    var inputs = Array.prototype.slice.call(form.querySelectorAll("input[data-validate]"));
    function show(input, force) {
      var field = input.closest(".form-field");
      if (!field) { return true; }
      var live = field.querySelector("[data-live-error]");
      var valid = input.checkValidity();
      if (!force && input.value === "" && !input.dataset.touched) { return valid; }
      if (!live) {
        live = document.createElement("ul");
        live.className = "field-errors";
        live.setAttribute("data-live-error", "");
        live.setAttribute("aria-live", "polite");
        field.appendChild(live);
      }
      field.querySelectorAll(".field-errors:not([data-live-error])").forEach(function (old) { old.hidden = true; });
      live.innerHTML = "";
      if (!valid) {
        var item = document.createElement("li");
        item.textContent = input.dataset.validate;
        live.appendChild(item);
      }
      field.classList.toggle("has-error", !valid);
      input.setAttribute("aria-invalid", valid ? "false" : "true");
      return valid;
    }
    inputs.forEach(function (input) {
      input.addEventListener("input", function () { show(input, false); });
      input.addEventListener("blur", function () { input.dataset.touched = "1"; show(input, false); });
    });
    form.addEventListener("submit", function (event) {
      var firstInvalid = null;
      inputs.forEach(function (input) {
        if (!show(input, true) && !firstInvalid) { firstInvalid = input; }
      });
      if (firstInvalid) {
        event.preventDefault();
        firstInvalid.focus();
      }
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

  // The channel form: the EPG channel IDs found in the chosen EPG source, offered while typing (a datalist).
  function setUpEpgChannelNames(list) {
    var select = document.getElementById(list.dataset.sourceSelect);
    var input = document.getElementById(list.dataset.channelInput);
    var hint = document.getElementById(list.id + "-hint");
    if (!select || !input) { return; }
    input.setAttribute("list", list.id);
    input.setAttribute("autocomplete", "off");
    var field = input.closest(".form-field");
    if (hint && field) { field.appendChild(hint); }
    var known = {};
    function say(text) {
      if (!hint) { return; }
      hint.textContent = text;
      hint.hidden = !text;
    }
    function names(source) {
      if (known[source]) { return Promise.resolve(known[source]); }
      var url = list.dataset.url + "?source=" + encodeURIComponent(source);
      return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { epgChannelNames: [] }; })
        .then(function (data) {
          known[source] = data.epgChannelNames || [];
          return known[source];
        });
    }
    function load() {
      var source = select.value;
      list.innerHTML = "";
      list.dataset.source = source;
      if (!source) { say(""); return; }
      names(source).then(function (found) {
        if (select.value !== source) { return; }  // another source was chosen meanwhile
        var fragment = document.createDocumentFragment();
        found.forEach(function (name) {
          var option = document.createElement("option");
          option.value = name;
          fragment.appendChild(option);
        });
        list.appendChild(fragment);
        list.dataset.loaded = source;
        say(found.length
          ? found.length + " EPG channel ID" + (found.length === 1 ? "" : "s") + " in " + source + ": type to search them."
          : source + " has no programmes yet, so no EPG channel IDs to suggest.");
      }, function () { say(""); });
    }
    select.addEventListener("change", load);
    load();
  }

  // The live status of an EPG source: while a fetch is queued or running, ask for it every couple of
  // seconds; when it ends, refresh the page's figures, history and programmes in place.
  function setUpLiveStatus(box) {
    var url = box.dataset.epgStatusUrl;
    var interval = parseInt(box.dataset.pollInterval, 10) || 2000;
    var failures = 0;
    function refreshSections() {
      return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-epg-refresh]").forEach(function (old) {
            var replacement = fresh.getElementById(old.id);
            if (replacement) { old.replaceWith(document.importNode(replacement, true)); }
          });
        });
    }
    function finished() {
      box.dataset.active = "false";
      refreshSections().then(function () { box.dataset.refreshed = "true"; },
                             function () { box.dataset.refreshed = "failed"; });
    }
    function poll() {
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          failures = 0;
          box.innerHTML = data.html;
          box.dataset.status = data.status;
          if (data.active) {
            setTimeout(poll, interval);
          } else {
            finished();
          }
        })
        .catch(function () {
          failures += 1;  // a network hiccup: try a few more times, more slowly; a logged-out session stops
          if (failures < 5) { setTimeout(poll, interval * 2); }
        });
    }
    if (box.dataset.active === "true") { setTimeout(poll, interval); }
  }

  // The live play sessions: ask for the block every few seconds and swap it in place (no page reload).
  // While the tab is hidden no request is made; a failed request keeps the rows and says so.
  function setUpLiveSessions(box) {
    var url = box.dataset.liveUrl;
    var interval = parseInt(box.dataset.pollInterval, 10) || 5000;
    var failures = 0;
    var timer = null;
    function schedule(delay) {
      clearTimeout(timer);
      timer = setTimeout(poll, delay);
    }
    function sayStale() {
      var state = box.querySelector("[data-live-state]");
      if (state) { state.textContent = "not updated: connection problem, retrying"; }
      box.dataset.stale = "true";
    }
    function poll() {
      if (document.hidden) { return; }  // resumed by visibilitychange
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();  // a logged-out session gets the login page: not JSON, so a failure
        })
        .then(function (data) {
          failures = 0;
          box.innerHTML = data.html;
          box.dataset.stale = "false";
          box.dataset.activeSessions = data.activeSessions;
          box.dataset.polls = (parseInt(box.dataset.polls, 10) || 0) + 1;
          schedule(interval);
        })
        .catch(function () {
          failures += 1;
          sayStale();
          schedule(Math.min(interval * Math.pow(2, failures), 60000));
        });
    }
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { schedule(0); }
    });
    schedule(interval);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[type=file][data-logo-preview]").forEach(setUpLogoPreview);
    document.querySelectorAll("[data-secret]").forEach(setUpSecret);
    document.querySelectorAll("input[data-filter-list]").forEach(setUpListFilter);
    document.querySelectorAll("form[data-live-validate]").forEach(setUpLiveValidation);
    document.querySelectorAll("form[data-bulk]").forEach(setUpBulk);
    document.querySelectorAll("datalist[data-epg-names]").forEach(setUpEpgChannelNames);
    document.querySelectorAll("[data-epg-status-url]").forEach(setUpLiveStatus);
    document.querySelectorAll("[data-live-sessions]").forEach(setUpLiveSessions);
  });
})();
