// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Move keyboard and screen-reader focus to the error summary when a form comes back with errors.
  var summary = document.querySelector(".error-summary");
  if (summary) {
    summary.focus();
  }
})();
// The Menu folds the navigation on phones only; browsers without ::details-content support get it opened
// here on wide screens (the CSS does it everywhere else; without this file the Menu button still works).
(function () {
  "use strict";
  var menu = document.querySelector("details.menu");
  if (menu && window.matchMedia && window.matchMedia("(min-width: 48rem)").matches) {
    menu.open = true;
  }
})();
