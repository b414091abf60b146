// The explorer's behaviour: sortable tables and the case browser. No network, no libraries.
(function () {
  "use strict";
  var DATA = null;  // the case browser's data, unpacked by loadData (bench/explorer.py pack_data)
  var MAX_LISTED = 500;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  // --- sortable tables: click a header; numbers by data-value (blanks last), text otherwise ---
  function sortBy(table, col, th) {
    var descending = !th.classList.contains("desc");
    table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(descending ? "desc" : "asc");
    var numeric = th.getAttribute("data-type") === "num";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col], y = b.cells[col];
      if (numeric) {
        var u = parseFloat(x.getAttribute("data-value")), v = parseFloat(y.getAttribute("data-value"));
        if (isNaN(u)) return isNaN(v) ? 0 : 1;
        if (isNaN(v)) return -1;
        return descending ? v - u : u - v;
      }
      var c = x.textContent.localeCompare(y.textContent);
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, i) {
      th.addEventListener("click", function () { sortBy(table, i, th); });
    });
  });

  // --- case browser ---
  var root = document.getElementById("browser");

  function loadData() {
    var text = atob(document.getElementById("data").textContent.trim());
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  function options(select, values, allLabel) {
    select.appendChild(el("option", {value: "", text: allLabel}));
    values.forEach(function (v) { select.appendChild(el("option", {value: v[0], text: v[1]})); });
    return select;
  }

  function unique(values) {
    return values.filter(function (v, i) { return values.indexOf(v) === i; });
  }

  function buildBrowser(root) {
    var cases = DATA.cases, kinds = DATA.kinds, reference = DATA.reference;
    var editors = DATA.editors.filter(function (e) { return reference.indexOf(e) < 0; });
    var present = unique([].concat.apply([], cases.map(function (c) {
      return c.queries.map(function (q) { return q.kind; });
    })));
    var f = {
      editor: options(el("select", {id: "f-editor"}), editors.map(function (e) { return [e, e]; }), "all editors"),
      dataset: options(el("select", {id: "f-dataset"}), unique(cases.map(function (c) {
        return c.dataset + " / " + c.protocol;
      })).map(function (d) { return [d, d]; }), "all datasets"),
      metric: options(el("select", {id: "f-metric"}), Object.keys(kinds).filter(function (k) {
        return present.indexOf(k) >= 0;
      }).map(function (k) { return [k, kinds[k]]; }), "all metrics"),
      disagree: el("input", {type: "checkbox", id: "f-disagree"}),
      failed: el("input", {type: "checkbox", id: "f-failed"}),
      text: el("input", {type: "search", id: "f-text", placeholder: "case id or prompt text"})
    };
    var count = el("span", {id: "case-count"});
    var controls = el("div", {id: "controls"}, [
      el("label", {}, [document.createTextNode("Editor "), f.editor]),
      el("label", {}, [document.createTextNode("Dataset "), f.dataset]),
      el("label", {}, [document.createTextNode("Metric "), f.metric]),
      el("label", {title: "the editors (reference left out) answered a query differently"},
         [f.disagree, document.createTextNode(" editors disagree")]),
      el("label", {title: "the edit prompt was not answered with the new target (Rel < 100%)"},
         [f.failed, document.createTextNode(" edit failed")]),
      f.text, count]);
    var list = el("ul", {id: "case-list"});
    var detail = el("div", {id: "case-detail"}, [el("p", {"class": "note", text: "Pick a case on the left."})]);
    root.appendChild(controls);
    if (DATA.without_rows && DATA.without_rows.length) {
      root.appendChild(el("p", {"class": "note", id: "without-rows", text: "Not in the case browser (their runs "
        + "keep no per-query rows; rerun a run's command to browse them): " + DATA.without_rows.join(", ") + "."}));
    }
    root.appendChild(el("div", {id: "browse"}, [list, detail]));
    var selected = null;

    function shownQueries(c) {
      return c.queries.map(function (q, i) { return i; }).filter(function (i) {
        return !f.metric.value || c.queries[i].kind === f.metric.value;
      });
    }

    function matches(c) {
      if (f.editor.value && !c.answers[f.editor.value]) return false;
      if (f.dataset.value && c.dataset + " / " + c.protocol !== f.dataset.value) return false;
      var qs = shownQueries(c);
      if (!qs.length) return false;
      if (f.disagree.checked && !qs.some(function (i) { return c.queries[i].disagree; })) return false;
      if (f.failed.checked) {
        if (f.editor.value ? c.failed.indexOf(f.editor.value) < 0 : !c.failed.length) return false;
      }
      var t = f.text.value.trim().toLowerCase();
      if (t && c.id.toLowerCase() !== t && !c.queries.some(function (q) {
        return q.prompt.toLowerCase().indexOf(t) >= 0;
      })) return false;
      return true;
    }

    function refresh() {
      var hits = cases.filter(matches);
      count.textContent = hits.length + " of " + cases.length + " cases";
      list.textContent = "";
      hits.slice(0, MAX_LISTED).forEach(function (c) {
        var item = el("li", {"data-case": key(c), title: c.queries[0].prompt,
                             text: c.id + " · " + c.dataset + " · " + c.queries[0].prompt});
        if (selected && key(selected) === key(c)) item.classList.add("selected");
        item.addEventListener("click", function () { show(c); });
        list.appendChild(item);
      });
      if (hits.length > MAX_LISTED) list.appendChild(el("li", {text: "… " + (hits.length - MAX_LISTED) + " more"}));
      if (!hits.length) detail.textContent = "No case matches these filters.";
      else show(hits.indexOf(selected) >= 0 ? selected : hits[0]);
    }

    function key(c) { return c.dataset + "|" + c.protocol + "|" + c.id; }

    // a = [answer, score in percent, the unedited model's answer a locality score compares with (or null)]
    function answerCell(a) {
      if (!a) return el("td", {text: "–"});
      var s = a[1];
      var td = el("td", {"class": s === null ? "" : s >= 100 ? "good" : s <= 0 ? "bad" : "part"},
                  [el("span", {"class": "answer", text: a[0]})]);
      if (s !== null) td.appendChild(el("span", {"class": "score", text: "(" + Math.round(s) + "%)"}));
      if (a[2] !== undefined && a[2] !== null) {
        td.appendChild(el("span", {"class": "unedited", text: "unedited: " + a[2]}));
      }
      return td;
    }

    function uneditedNote(c, ref) {
      var loc = c.queries.some(function (q) { return q.kind === "loc"; });
      var known = ref.length || Object.keys(c.answers).some(function (e) {
        return c.answers[e].some(function (a) { return a && a[2] !== undefined && a[2] !== null; });
      });
      return loc && !known ? " These runs do not record the unedited model's answers (runs made before they were "
        + "stored, and no unedited reference run on the page): a locality score compares an editor's answer with "
        + "an answer not shown here, so it may read 0% against a matching expected answer." : "";
    }

    function show(c) {
      selected = c;
      list.querySelectorAll("li").forEach(function (li) {
        li.classList.toggle("selected", li.getAttribute("data-case") === key(c));
      });
      var ref = reference.filter(function (e) { return c.answers[e]; });
      var eds = (f.editor.value ? [f.editor.value] : editors).filter(function (e) { return c.answers[e]; });
      var head = ["metric", "prompt", "expected"].concat(ref.map(function (e) { return e + " (unedited)"; }),
                                                           eds);
      var rows = shownQueries(c).map(function (i) {
        var q = c.queries[i];
        var tr = el("tr", {"class": q.disagree ? "disagree" : ""}, [
          el("td", {text: kinds[q.kind] || q.kind}), el("td", {text: q.prompt}),
          el("td", {"class": "answer", text: q.answer})]);
        ref.concat(eds).forEach(function (e) { tr.appendChild(answerCell(c.answers[e][i])); });
        return tr;
      });
      detail.textContent = "";
      detail.appendChild(el("h3", {text: "Case " + c.id + " — " + c.dataset + " (" + c.protocol + ")"}));
      detail.appendChild(el("p", {"class": "note", text: (c.failed.length ? "Edit failed for: " + c.failed.join(", ") + "."
        : "Every editor's edit prompt gave the new target.") + " Scores: token accuracy against the expected "
        + "answer; for locality, agreement with the unedited model's prediction (shown as 'unedited: …' in each "
        + "cell, or in the unedited column). An orange bar marks a query the editors answered differently."
        + uneditedNote(c, ref)}));
      detail.appendChild(el("table", {id: "query-table"}, [
        el("thead", {}, [el("tr", {}, head.map(function (h) { return el("th", {text: h}); }))]),
        el("tbody", {}, rows)]));
    }

    [f.editor, f.dataset, f.metric, f.disagree, f.failed].forEach(function (x) {
      x.addEventListener("change", refresh);
    });
    f.text.addEventListener("input", refresh);
    refresh();
  }

  loadData().then(function (data) {
    DATA = data;
    if (root) buildBrowser(root);
    document.body.setAttribute("data-ready", "1");
  }, function (err) {
    if (root) root.appendChild(el("p", {"class": "note", text: "The case browser's data could not be unpacked "
      + "(this browser has no DecompressionStream: Chrome 80, Firefox 113, Safari 16.4 or later): " + err}));
    console.error("explorer data: " + err);
  });
})();
