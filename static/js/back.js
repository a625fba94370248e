// "Go back" on the 503 page: the previous page (where the user's input is), without an inline
// script (the Content-Security-Policy allows scripts from this site's files only). Without
// JavaScript the link goes to the dashboard.
(function () {
  "use strict";
  document.querySelectorAll("[data-history-back]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (window.history.length > 1) {
        event.preventDefault();
        window.history.back();
      }
    });
  });
})();
