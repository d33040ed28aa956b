// Live updates for the review page: re-fetch the #live region every few seconds and swap it in.
// The server renders (and escapes) every fragment; this script only moves its nodes into place.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.poll) {
    return;
  }
  var every = Number(live.dataset.every) || 2000;

  function stateOf(root) {
    var marked = root.querySelector("[data-state]");
    return marked ? marked.getAttribute("data-state") : null;
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
    var fresh = doc.body.firstElementChild;
    var before = stateOf(live);
    if (before !== null) {
      if (before === stateOf(fresh)) {
        return; // the request did not change: keep what the person is typing
      }
    } else if (live.contains(document.activeElement) && document.activeElement !== document.body) {
      return; // the queue: never pull the focus from under a keyboard user
    }
    live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
  }

  function tick() {
    if (document.hidden) {
      window.setTimeout(tick, every); // nobody is looking: ask the server nothing
      return;
    }
    fetch(live.dataset.poll, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status !== 200) {
          return null; // signed out or gone: leave the page as it is
        }
        return response.text();
      })
      .then(function (html) {
        if (html !== null) {
          swap(html);
        }
      })
      .catch(function () {})
      .then(function () {
        window.setTimeout(tick, every);
      });
  }

  window.setTimeout(tick, every);
})();
