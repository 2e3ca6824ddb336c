// The reset page's address holds the link's token: take it out of the
// address bar and the history as soon as the page runs, so it is neither
// shown, bookmarked nor synced. The form still carries it in its body.
"use strict";
if (document.querySelector("form[data-drop-link-token]")) {
  history.replaceState(null, "", "/login/reset");
}
