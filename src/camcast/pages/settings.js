// The owner's settings page: saves what changed, draws masks and zones on the live picture, manages
// accounts and share links. Every change is a POST carrying the session's CSRF token.
"use strict";
(function () {
  var root = document.getElementById("settings");
  if (!root) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      var type = r.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") === 0) {
        return r.json().then(function (doc) { return { status: r.status, doc: doc }; });
      }
      return r.text().then(function (text) { return { status: r.status, doc: { error: text.trim() } }; });
    });
  }
  function getJson(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); });
  }
  function text(el, value) { if (el) el.textContent = value; }
  function cell(row, value) { var td = document.createElement("td"); td.textContent = value; row.appendChild(td); return td; }
  function when(seconds) { return seconds ? new Date(seconds * 1000).toLocaleString() : "never"; }

  // --- the settings forms: only what was changed is sent ------------------------------------------
  function valueOf(input) {
    if (input.type === "checkbox") return input.checked;
    if (input.tagName === "TEXTAREA") {
      return input.value.split("\n").map(function (l) { return l.trim(); }).filter(function (l) { return l; });
    }
    return input.value;
  }
  function changes(form) {
    var values = {};
    form.querySelectorAll("[data-dirty]").forEach(function (input) { values[input.name] = valueOf(input); });
    form.querySelectorAll("input[data-clear]").forEach(function (box) {
      if (box.checked) values[box.getAttribute("data-clear")] = "";
    });
    return values;
  }
  function showErrors(form, doc) {
    form.querySelectorAll("output.error").forEach(function (o) { o.textContent = ""; });
    form.querySelectorAll(".field.invalid").forEach(function (f) { f.classList.remove("invalid"); });
    var first = null;
    Object.keys(doc.errors || {}).forEach(function (key) {
      var input = form.querySelector('[name="' + key + '"]');
      var out = input ? document.getElementById(input.id + "-error") : null;
      if (!out) { doc.error = (doc.error ? doc.error + "; " : "") + key + ": " + doc.errors[key]; return; }
      out.textContent = doc.errors[key];
      input.closest(".field").classList.add("invalid");
      var details = input.closest("details");
      if (details) details.open = true;
      first = first || input;
    });
    text(form.querySelector(".save output.error"), doc.error || "");
    if (first) first.focus();
  }
  document.querySelectorAll("form.settings").forEach(function (form) {
    var camera = form.getAttribute("data-camera") || null;
    function setting(el) { return el.name && el.parentNode.classList.contains("field"); }
    form.addEventListener("input", function (e) {
      if (setting(e.target)) e.target.setAttribute("data-dirty", "");
      if (e.target.type === "range") text(form.querySelector('output[for="' + e.target.id + '"]'), e.target.value);
      text(form.querySelector("output.saved"), "");
    });
    form.addEventListener("change", function (e) { if (setting(e.target)) e.target.setAttribute("data-dirty", ""); });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var values = changes(form);
      var saved = form.querySelector("output.saved");
      if (!Object.keys(values).length) { text(saved, "Nothing changed."); return; }
      text(saved, "Saving…");
      post(root.dataset.save, { camera: camera, values: values }).then(function (r) {
        if (r.status !== 200) { text(saved, "Not saved: see what is marked."); showErrors(form, r.doc); return; }
        showErrors(form, {});
        form.querySelectorAll("[data-dirty]").forEach(function (i) { i.removeAttribute("data-dirty"); });
        form.querySelectorAll('input[type="password"]').forEach(function (i) { i.value = ""; });
        text(saved, (r.doc.restart.length ? "Saved. Restart camcast to apply: " + r.doc.restart.join(", ") :
          "Saved and applied.") + (r.doc.private ? " The file holds a password now: only you can read it." : ""));
      }).catch(function () { text(saved, "The server did not answer."); });
    });
    form.querySelectorAll("button.test").forEach(function (button) {
      button.addEventListener("click", function () {
        var out = button.parentNode.querySelector("output.test-result");
        text(out, "Testing…");
        out.className = "test-result";
        post(root.dataset.test, { camera: camera, test: button.getAttribute("data-test"), values: changes(form) })
          .then(function (r) {
            if (r.status === 400 && r.doc.errors) { showErrors(form, r.doc); text(out, "Fix the values first."); return; }
            out.className = "test-result " + (r.doc.ok ? "ok" : "failed");
            text(out, (r.doc.ok ? "✔ " : "✘ ") + (r.doc.message || r.doc.error || ""));
          }).catch(function () { text(out, "The server did not answer."); });
      });
    });
    var draw = form.querySelector(".draw");
    if (draw) drawing(draw, form);
  });

  // --- masks and zones drawn on the live picture -------------------------------------------------
  function drawing(box, form) {
    var img = box.querySelector("img.live"), view = box.querySelector("img.motion-view");
    var svg = box.querySelector("svg.shapes"), del = box.querySelector("button.delete-shape");
    var fields = { mask: form.querySelector('[name="mask"]'), motion_zones: form.querySelector('[name="motion_zones"]'),
      motion_ignore: form.querySelector('[name="motion_ignore"]') };
    var shapes = [], selected = -1, pending = null, drag = null;
    var NS = "http://www.w3.org/2000/svg";

    var section = box.closest("details");
    function refresh(image, url) {
      if (image.hidden && image !== img) return;
      if (section && !section.open) {  // nothing fetched while the section is closed
        setTimeout(function () { refresh(image, url); }, 1000);
        return;
      }
      var next = new Image();
      next.onload = function () { image.src = next.src; setTimeout(function () { refresh(image, url); }, 1000); };
      next.onerror = function () { setTimeout(function () { refresh(image, url); }, 3000); };
      next.src = url + (url.indexOf("?") < 0 ? "?" : "&") + "t=" + Date.now();
    }
    refresh(img, box.dataset.snapshot);
    box.querySelector("input.show-motion").addEventListener("change", function (e) {
      view.hidden = !e.target.checked;
      if (!view.hidden) refresh(view, box.dataset.motion);
    });

    function layer() { return box.querySelector('input[name^="layer-"]:checked').value; }
    function tool() { return box.querySelector('input[name="shape"]:checked').value; }
    function show(list) { shapes = list; selected = -1; render(); }
    var asked = 0;
    function read() {
      // The fields' text, read by the server with each setting's own parser (the page never parses it).
      var mine = ++asked, query = [], url = box.dataset.shapesUrl;
      Object.keys(fields).forEach(function (name) {
        if (fields[name]) query.push(encodeURIComponent(name) + "=" + encodeURIComponent(fields[name].value));
      });
      fetch(url + (url.indexOf("?") < 0 ? "?" : "&") + query.join("&"), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        // a line still being typed does not read yet: the last drawing stays
        .then(function (doc) { if (doc && mine === asked) show(doc.shapes); })
        .catch(function () {});
    }
    function fixed(v, digits) { return String(Math.round(v * Math.pow(10, digits)) / Math.pow(10, digits)); }
    function write(name) {
      var lines = shapes.filter(function (s) { return s.layer === name; }).map(function (s) {
        var xs = s.pts.map(function (p) { return p[0]; }), ys = s.pts.map(function (p) { return p[1]; });
        var l = Math.min.apply(null, xs), t = Math.min.apply(null, ys), r = Math.max.apply(null, xs), b = Math.max.apply(null, ys);
        function pct(v) { return fixed(v * 100, 2) + "%"; }
        if (name === "mask" && s.kind === "poly") {
          return s.pts.map(function (p) { return pct(p[0]) + "," + pct(p[1]); }).join(" ");
        }
        if (name === "mask") return [l, t, r - l, b - t].map(pct).join(",");
        if (s.kind === "rect") return [l, t, r, b].map(function (v) { return fixed(v, 4); }).join(",");
        return s.pts.map(function (p) { return fixed(p[0], 4) + "," + fixed(p[1], 4); }).join(" ");
      });
      var field = fields[name];
      field.value = lines.join("\n");
      field.rows = Math.max(2, lines.length + 1);
      field.setAttribute("data-dirty", "");
      text(form.querySelector("output.saved"), "Not saved yet.");
    }
    function points(pts) { return pts.map(function (p) { return p[0] * 1000 + "," + p[1] * 1000; }).join(" "); }
    function render() {
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      shapes.forEach(function (s, i) {
        var el = document.createElementNS(NS, "polygon");
        el.setAttribute("points", points(s.pts));
        el.setAttribute("class", "shape " + s.layer + (i === selected ? " selected" : ""));
        el.setAttribute("data-index", i);
        svg.appendChild(el);
      });
      if (pending && pending.pts.length) {
        var line = document.createElementNS(NS, "polyline");
        line.setAttribute("points", points(pending.pts));
        line.setAttribute("class", "shape pending " + pending.layer);
        svg.appendChild(line);
      }
      del.disabled = selected < 0;
    }
    function at(e) {
      var r = svg.getBoundingClientRect();
      return [Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)), Math.min(1, Math.max(0, (e.clientY - r.top) / r.height))];
    }
    function remove() {
      if (selected < 0) return;
      var name = shapes[selected].layer;
      shapes.splice(selected, 1);
      selected = -1;
      write(name);
      render();
    }
    function move(dx, dy) {
      var s = shapes[selected];
      var xs = s.pts.map(function (p) { return p[0]; }), ys = s.pts.map(function (p) { return p[1]; });
      dx = Math.min(Math.max(dx, -Math.min.apply(null, xs)), 1 - Math.max.apply(null, xs));
      dy = Math.min(Math.max(dy, -Math.min.apply(null, ys)), 1 - Math.max.apply(null, ys));
      s.pts = s.pts.map(function (p) { return [p[0] + dx, p[1] + dy]; });
    }
    function closePolygon() {
      if (pending && pending.pts.length >= 3) {
        shapes.push({ layer: pending.layer, kind: "poly", pts: pending.pts });
        selected = shapes.length - 1;
        write(pending.layer);
      }
      pending = null;
      render();
    }
    svg.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      svg.focus();
      var p = at(e), index = e.target.getAttribute("data-index");
      var target = index !== null ? shapes[Number(index)].layer : layer();
      if (!fields[target] || fields[target].disabled) return;  // set by a flag: not changed here
      if (index !== null && !pending) {
        selected = Number(index);
        drag = { move: true, from: p, pts: shapes[selected].pts.slice() };
        svg.setPointerCapture(e.pointerId);
        render();
        return;
      }
      if (tool() === "rect") {
        pending = null;
        drag = { move: false, from: p, shape: { layer: layer(), kind: "rect", pts: [p, p, p, p] } };
        shapes.push(drag.shape);
        selected = shapes.length - 1;
        svg.setPointerCapture(e.pointerId);
      } else {
        if (!pending || pending.layer !== layer()) pending = { layer: layer(), pts: [] };
        var first = pending.pts[0];
        if (first && pending.pts.length >= 3 && Math.abs(first[0] - p[0]) < 0.02 && Math.abs(first[1] - p[1]) < 0.02) {
          closePolygon();
          return;
        }
        pending.pts.push(p);
      }
      render();
    });
    svg.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var p = at(e);
      if (drag.move) {
        shapes[selected].pts = drag.pts.slice();
        move(p[0] - drag.from[0], p[1] - drag.from[1]);
      } else {
        var a = drag.from;
        drag.shape.pts = [a, [p[0], a[1]], p, [a[0], p[1]]];
      }
      render();
    });
    svg.addEventListener("pointerup", function () {
      if (!drag) return;
      var done = drag;
      drag = null;
      if (!done.move) {
        var xs = done.shape.pts.map(function (q) { return q[0]; }), ys = done.shape.pts.map(function (q) { return q[1]; });
        if (Math.max.apply(null, xs) - Math.min.apply(null, xs) < 0.01 || Math.max.apply(null, ys) - Math.min.apply(null, ys) < 0.01) {
          shapes.pop();
          selected = -1;
          render();
          return;
        }
      }
      write(shapes[selected].layer);
      render();
    });
    svg.addEventListener("dblclick", closePolygon);
    svg.addEventListener("keydown", function (e) {
      var step = e.shiftKey ? 0.05 : 0.01;
      var arrows = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (e.key === "Enter") { closePolygon(); e.preventDefault(); }
      else if (e.key === "Escape") { pending = null; selected = -1; render(); }
      else if (e.key === "Delete" || e.key === "Backspace") { remove(); e.preventDefault(); }
      else if (e.key === "Tab" && shapes.length && !e.shiftKey && selected < shapes.length - 1) {
        selected += 1; render(); e.preventDefault();
      } else if (arrows[e.key] && selected >= 0) {
        move(arrows[e.key][0], arrows[e.key][1]);
        write(shapes[selected].layer);
        render();
        e.preventDefault();
      }
    });
    del.addEventListener("click", remove);
    Object.keys(fields).forEach(function (name) {
      if (fields[name]) fields[name].addEventListener("input", read);
    });
    show(JSON.parse(box.dataset.shapes || "[]"));
  }

  // --- accounts ------------------------------------------------------------------------------------
  var accounts = root.querySelector("table.accounts tbody"), names = root.querySelector("#pw-name");
  function showAccounts(doc) {
    if (doc.signed_out) { location.reload(); return; }
    accounts.textContent = "";
    names.textContent = "";
    doc.accounts.forEach(function (a) {
      var row = document.createElement("tr");
      cell(row, a.name); cell(row, a.role + (a.onvif ? " · ONVIF" : "")); cell(row, a.cameras.join(", ") || "all");
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = "Remove";
      button.setAttribute("aria-label", "remove " + a.name);
      button.addEventListener("click", function () {
        if (!confirm("Remove the account " + a.name + "? Its sessions end at once.")) return;
        changeAccounts({ action: "remove", name: a.name }, root.querySelector("form.account-add output.error"));
      });
      cell(row, "").appendChild(button);
      accounts.appendChild(row);
      var option = document.createElement("option");
      option.textContent = a.name;
      names.appendChild(option);
    });
    if (!doc.accounts.length) {
      var row = document.createElement("tr");
      cell(row, "No accounts: only this computer can watch and change settings.").colSpan = 4;
      accounts.appendChild(row);
    }
  }
  function changeAccounts(body, out) {
    text(out, "");
    return post(root.dataset.accountsChange, body).then(function (r) {
      if (r.status !== 200) { text(out, r.doc.error || "refused"); return false; }
      if (r.doc.csrf) {
        csrf = r.doc.csrf;
        document.querySelectorAll('input[name="csrf"]').forEach(function (i) { i.value = csrf; });
      }
      showAccounts(r.doc);
      return true;
    });
  }
  [["form.account-add", "add"], ["form.account-password", "password"]].forEach(function (pair) {
    var form = root.querySelector(pair[0]);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = { action: pair[1] };
      new FormData(form).forEach(function (v, k) { body[k] = v; });
      changeAccounts(body, form.querySelector("output.error")).then(function (ok) {
        if (ok) form.querySelectorAll('input[type="password"]').forEach(function (i) { i.value = ""; });
        if (ok && pair[1] === "add") form.reset();
      });
    });
  });
  getJson(root.dataset.accounts).then(showAccounts);

  // --- share links ---------------------------------------------------------------------------------
  var links = root.querySelector("table.links tbody");
  function showLinks(doc) {
    links.textContent = "";
    doc.links.forEach(function (link) {
      var row = document.createElement("tr");
      cell(row, link.id); cell(row, link.name); cell(row, link.scope + (link.cameras.length ? " (" + link.cameras.join(", ") + ")" : ""));
      cell(row, link.revoked ? "revoked" : when(link.expires)); cell(row, when(link.last_used));
      var td = cell(row, "");
      if (!link.revoked) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = "Revoke";
        button.setAttribute("aria-label", "revoke the link " + link.id + " for " + link.name);
        button.addEventListener("click", function () {
          post(root.dataset.sharesChange, { action: "revoke", id: link.id }).then(loadLinks);
        });
        td.appendChild(button);
      }
      links.appendChild(row);
    });
  }
  function loadLinks() { return getJson(root.dataset.shares).then(showLinks); }
  var create = root.querySelector("form.share-create");
  create.addEventListener("submit", function (e) {
    e.preventDefault();
    var body = { action: "create" }, out = create.querySelector("output.error");
    new FormData(create).forEach(function (v, k) { body[k] = v; });
    text(out, "");
    post(root.dataset.sharesChange, body).then(function (r) {
      if (r.status !== 200) { text(out, r.doc.error || "refused"); return; }
      var shown = root.querySelector(".share-new"), a = shown.querySelector("a.share-url"), qr = shown.querySelector(".qr");
      a.href = r.doc.url;
      a.textContent = r.doc.url;
      var others = shown.querySelector("ul.share-urls");
      others.textContent = "";
      r.doc.urls.slice(1).forEach(function (url) {  // the streams' addresses, for programs
        var li = document.createElement("li"), code = document.createElement("code");
        code.textContent = url;
        li.appendChild(code);
        others.appendChild(li);
      });
      qr.textContent = "";
      var picture = new DOMParser().parseFromString(r.doc.qr, "image/svg+xml").documentElement;
      qr.appendChild(document.importNode(picture, true));
      shown.hidden = false;
      loadLinks();
    });
  });
  loadLinks();

  // --- who is watching now -------------------------------------------------------------------------
  var watching = root.querySelector("table.watching tbody");
  function loadViewers() {
    getJson(root.dataset.viewers).then(function (doc) {
      watching.textContent = "";
      doc.watching.forEach(function (s) {
        var row = document.createElement("tr");
        cell(row, when(s.start)); cell(row, s.who + " (" + s.via + ")"); cell(row, s.address); cell(row, s.camera); cell(row, s.route);
        watching.appendChild(row);
      });
    }).catch(function () {});
  }
  loadViewers();
  setInterval(loadViewers, 5000);
})();
