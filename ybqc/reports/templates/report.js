/* The findings table: search, severity filter, sort by any column, pages of 100 rows.
   No library, no network: the rows are in the page (script#ybqc-data). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("ybqc-data").textContent);
  var table = document.getElementById("ftable");
  if (!table) { return; }
  var PAGE = 100, page = 0, sortCol = -1, sortDir = 1;
  var all = data.rows.map(function (r) { return {r: r, text: r.join(" ").toLowerCase()}; });
  var rows = all;
  var head = table.querySelector("thead tr"), body = table.querySelector("tbody");
  var q = document.getElementById("q"), sev = document.getElementById("sev"), count = document.getElementById("count");
  var rank = {error: 0, warning: 1, info: 2};
  data.cols.forEach(function (c, i) {
    var th = document.createElement("th");
    th.textContent = c;
    th.addEventListener("click", function () {
      sortDir = sortCol === i ? -sortDir : 1; sortCol = i; apply();
      Array.prototype.forEach.call(head.children, function (h) { h.className = ""; });
      th.className = sortDir > 0 ? "asc" : "desc";
    });
    head.appendChild(th);
  });
  function cmp(a, b) {
    var x = a.r[sortCol], y = b.r[sortCol];
    if (sortCol === 0) { x = rank[x]; y = rank[y]; }
    return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
  }
  function apply() {
    var words = q.value.toLowerCase().split(/\s+/).filter(Boolean), s = sev.value;
    rows = all.filter(function (o) {
      if (s && o.r[0] !== s) { return false; }
      for (var i = 0; i < words.length; i++) { if (o.text.indexOf(words[i]) < 0) { return false; } }
      return true;
    });
    if (sortCol >= 0) { rows = rows.slice().sort(cmp); }
    page = 0; draw();
  }
  function draw() {
    var frag = document.createDocumentFragment();
    rows.slice(page * PAGE, page * PAGE + PAGE).forEach(function (o) {
      var tr = document.createElement("tr");
      o.r.forEach(function (v, i) {
        var td = document.createElement("td");
        if (i === 0) {
          var b = document.createElement("span"); b.className = "sev sev-" + v; b.textContent = data.sev[v] || v; td.appendChild(b);
        } else { td.textContent = v; }
        tr.appendChild(td);
      });
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
    var a = rows.length ? (page * PAGE + 1) + "–" + Math.min(rows.length, page * PAGE + PAGE) : "0";
    count.textContent = YBQC_TEXT.shown.replace("{a}", a).replace("{b}", rows.length.toLocaleString());
  }
  q.addEventListener("input", apply);
  sev.addEventListener("change", apply);
  document.getElementById("prev").addEventListener("click", function () { if (page > 0) { page--; draw(); } });
  document.getElementById("next").addEventListener("click", function () { if ((page + 1) * PAGE < rows.length) { page++; draw(); } });
  apply();
}());
