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

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[type=file][data-logo-preview]").forEach(setUpLogoPreview);
    document.querySelectorAll("[data-secret]").forEach(setUpSecret);
  });
})();
