/* visiondata catalogue: the SQL box of `visiondata cards serve`. Queries go to api/query on the
   same server (read-only, with the limits of `cards query`); results come back as JSON, and the
   CSV link asks the server for the same query as CSV. */
(function () {
  "use strict";
  var form = document.getElementById("sql");
  if (!form) { return; }
  var area = document.getElementById("sql-text");
  var result = document.getElementById("sql-result");
  var error = document.getElementById("sql-error");
  var status = document.getElementById("sql-status");
  var csv = document.getElementById("csv");
  var questions = JSON.parse(document.getElementById("vd-questions").textContent);

  function cell(value) {
    if (value === null || value === undefined) { return ""; }
    if (Array.isArray(value)) { return value.map(cell).join(", "); }
    if (typeof value === "number" && !Number.isInteger(value)) { return String(Number(value.toPrecision(6))); }
    if (typeof value === "object") { return JSON.stringify(value); }
    return String(value);
  }

  function show(data) {
    var table = document.createElement("table");
    var head = table.createTHead().insertRow();
    data.columns.forEach(function (name) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      head.appendChild(th);
    });
    var body = table.createTBody();
    data.rows.forEach(function (values) {
      var tr = body.insertRow();
      values.forEach(function (v) {
        var td = tr.insertCell();
        td.textContent = cell(v);
        if (typeof v === "number") { td.className = "num"; }
      });
    });
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.appendChild(table);
    result.replaceChildren(wrap);
    var cut = data.total - data.rows.length;
    status.textContent = data.total + " row(s)" + (cut > 0 ? ", " + cut + " not shown (the row limit)" : "");
  }

  function run() {
    var sql = area.value;
    var url = "api/query?sql=" + encodeURIComponent(sql);
    csv.href = url + "&format=csv";
    error.hidden = true;
    status.textContent = "Running…";
    fetch(url, { headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        if (data.error) {
          error.textContent = data.error;
          error.hidden = false;
          result.replaceChildren();
          status.textContent = "";
        } else {
          show(data);
        }
      })
      .catch(function (e) {
        error.textContent = "The server did not answer: " + e;
        error.hidden = false;
        status.textContent = "";
      });
  }

  form.addEventListener("submit", function (event) { event.preventDefault(); run(); });
  area.addEventListener("input", function () {
    csv.href = "api/query?format=csv&sql=" + encodeURIComponent(area.value);
  });
  document.querySelectorAll("button.ask").forEach(function (button) {
    button.addEventListener("click", function () {
      area.value = questions[Number(button.getAttribute("data-question"))].sql;
      area.scrollIntoView({ block: "center" });
      run();
    });
  });
}());
