/* visiondata catalogue: sorting, filtering and search on the index; the copy button on cards.
   Plain JavaScript over the JSON index embedded in the page (the same data as index.json); the
   page works without it, unfiltered. The state lives in the URL fragment, so a view can be linked. */
(function () {
  "use strict";

  function text(value) {
    return value === null || value === undefined ? "" : String(value);
  }

  function setupCopy() {
    document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var status = document.getElementById(button.getAttribute("data-copy") + "-status");
      if (!source) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var value = source.textContent;
        var done = function () { if (status) { status.textContent = "Copied."; } };
        var fallback = function () {
          var area = document.createElement("textarea");
          area.value = value;
          document.body.appendChild(area);
          area.select();
          var ok = false;
          try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
          document.body.removeChild(area);
          if (status) { status.textContent = ok ? "Copied." : "Select the text and copy it."; }
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(value).then(done, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  function setupIndex() {
    var data = document.getElementById("vd-index");
    var table = document.getElementById("cards");
    var form = document.getElementById("filters");
    if (!data || !table || !form) { return; }
    var cards = JSON.parse(data.textContent).cards;
    var byId = {};
    cards.forEach(function (c) {
      c._search = [c.id, c.name].concat(c.aliases).join("\n").toLowerCase();
      byId[c.id] = c;
    });
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var search = document.getElementById("q");
    var selects = Array.prototype.slice.call(form.querySelectorAll("select[data-filter]"));
    var shown = document.getElementById("shown");
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var sort = { key: "id", dir: 1 };

    function matches(card) {
      var q = search.value.trim().toLowerCase();
      if (q && q.split(/\s+/).some(function (word) { return card._search.indexOf(word) < 0; })) {
        return false;
      }
      return selects.every(function (select) {
        var want = select.value;
        if (!want) { return true; }
        var have = card[select.getAttribute("data-filter")];
        return Array.isArray(have) ? have.indexOf(want) >= 0 : text(have) === want;
      });
    }

    function compare(a, b) {
      var x = byId[a.getAttribute("data-id")][sort.key];
      var y = byId[b.getAttribute("data-id")][sort.key];
      if (Array.isArray(x)) { x = x.join(", "); y = y.join(", "); }
      var xNull = x === null || x === undefined, yNull = y === null || y === undefined;
      if (xNull || yNull) { return xNull === yNull ? 0 : (xNull ? 1 : -1); }
      var order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
      return order * sort.dir || a.getAttribute("data-id").localeCompare(b.getAttribute("data-id"));
    }

    function apply() {
      var visible = 0;
      rows.slice().sort(compare).forEach(function (row) {
        var ok = matches(byId[row.getAttribute("data-id")]);
        row.hidden = !ok;
        visible += ok ? 1 : 0;
        body.appendChild(row);
      });
      shown.textContent = visible + " of " + rows.length + " cards";
      headers.forEach(function (th) {
        if (th.getAttribute("data-key") === sort.key) {
          th.setAttribute("aria-sort", sort.dir > 0 ? "ascending" : "descending");
        } else {
          th.removeAttribute("aria-sort");
        }
      });
      saveState();
    }

    function saveState() {
      var parts = [];
      if (search.value) { parts.push("q=" + encodeURIComponent(search.value)); }
      selects.forEach(function (s) { if (s.value) { parts.push(s.name + "=" + encodeURIComponent(s.value)); } });
      if (sort.key !== "id" || sort.dir !== 1) { parts.push("sort=" + sort.key + (sort.dir > 0 ? "" : "-desc")); }
      var hash = parts.length ? "#" + parts.join("&") : "";
      if (window.location.hash !== hash && window.history && window.history.replaceState) {
        window.history.replaceState(null, "", hash || window.location.pathname);
      }
    }

    function loadState() {
      var hash = window.location.hash.replace(/^#/, "");
      hash.split("&").forEach(function (part) {
        var kv = part.split("="), key = kv[0], value = decodeURIComponent(kv[1] || "");
        if (key === "q") { search.value = value; }
        if (key === "sort") {
          var desc = /-desc$/.test(value);
          sort = { key: value.replace(/-desc$/, ""), dir: desc ? -1 : 1 };
        }
        selects.forEach(function (s) {
          if (s.name === key && s.querySelector('option[value="' + CSS.escape(value) + '"]')) { s.value = value; }
        });
      });
      if (!headers.some(function (th) { return th.getAttribute("data-key") === sort.key; })) {
        sort = { key: "id", dir: 1 };
      }
    }

    headers.forEach(function (th) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      button.setAttribute("aria-label", "sort by " + th.textContent);
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var key = th.getAttribute("data-key");
        var numeric = th.hasAttribute("data-numeric");
        sort = sort.key === key ? { key: key, dir: -sort.dir } : { key: key, dir: numeric ? -1 : 1 };
        apply();
      });
    });
    search.addEventListener("input", apply);
    selects.forEach(function (s) { s.addEventListener("change", apply); });
    form.addEventListener("reset", function () {
      window.setTimeout(function () { sort = { key: "id", dir: 1 }; apply(); }, 0);
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.hidden = false;
    loadState();
    apply();
  }

  setupIndex();
  setupCopy();
}());
