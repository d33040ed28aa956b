// Live updates for the review page: re-fetch the #live region every few seconds and put in what changed.
// The server renders (and escapes) every fragment; this script only moves its nodes into place.
//
// A request's fragment is made of parts (data-part, with a data-key): each part whose key changed is
// redrawn, wherever it is on the page (the arguments too, so what the page says will run is never
// stale). The decision forms (data-guard) are kept while they hold what the person typed, has open or
// focused; they then show their "this request changed" notice instead. The queue's fragment is one
// piece, redrawn when its data-state changes and the keyboard focus is not in it.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.poll) {
    return;
  }
  var every = Number(live.dataset.every) || 2000;

  if (live.dataset.page && window.location.pathname !== live.dataset.page) {
    // a refused decision is answered at the form's POST address: reloading shows the request instead
    window.history.replaceState(null, "", live.dataset.page);
  }

  function stateOf(root) {
    var marked = root.querySelector("[data-state]");
    return marked ? marked.getAttribute("data-state") : null;
  }

  function focusedIn(root) {
    return root.contains(document.activeElement) && document.activeElement !== document.body;
  }

  function edited(field) {
    if (field.type === "hidden") {
      return false;
    }
    if (field.type === "checkbox" || field.type === "radio") {
      return field.checked !== field.defaultChecked;
    }
    if (field.tagName === "SELECT") {
      return Array.prototype.some.call(field.options, function (option) {
        return option.selected !== option.defaultSelected;
      });
    }
    return field.value !== field.defaultValue;
  }

  function inUse(part) {
    return (
      focusedIn(part) ||
      part.querySelector("details[open]") !== null ||
      Array.prototype.some.call(part.querySelectorAll("input, textarea, select"), edited)
    );
  }

  function redraw(part) {
    var current = document.querySelector('[data-part="' + part.dataset.part + '"]');
    if (!current || current.dataset.key === part.dataset.key) {
      return;
    }
    if (current.hasAttribute("data-guard") && inUse(current)) {
      var changed = current.querySelector("[data-changed]");
      if (changed) {
        changed.hidden = false;
      }
      return;
    }
    current.replaceWith(part);
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
    var fresh = doc.body.firstElementChild;
    var before = stateOf(live);
    var after = stateOf(fresh);
    if (before !== null && before === after) {
      return; // nothing changed
    }
    var parts = Array.prototype.slice.call(fresh.querySelectorAll("[data-part]"));
    if (parts.length > 0) {
      parts.forEach(redraw);
      live.querySelector("[data-state]").setAttribute("data-state", after);
      return;
    }
    if (focusedIn(live)) {
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
