// Say the page's messages ("Flight LH 123 added") to screen readers: copy their text into the
// live region #announcer once the page has loaded. A live region is announced when its content
// changes, so one that arrives already filled (the page after a redirect) would stay silent.
(function () {
  "use strict";
  var announcer = document.getElementById("announcer");
  if (!announcer) return;
  var texts = Array.prototype.map.call(document.querySelectorAll("[data-announce]"), function (el) {
    return el.textContent.trim();
  }).filter(Boolean);
  if (!texts.length) return;
  // A moment after load: screen readers settle on the new page first, then hear the change.
  window.setTimeout(function () { announcer.textContent = texts.join(" "); }, 250);
})();
