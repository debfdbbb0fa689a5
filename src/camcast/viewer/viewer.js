// camcast viewer pages: no inline script (the pages are served with a CSP that forbids it).
// Image refresh: every data-every seconds, load the next picture off-screen with a cache-busting query,
// and swap it in only once it has fully loaded, so the visible picture never flickers or tears.
(function () {
  "use strict";
  var status = document.getElementById("camcast-status");

  function hhmmss(date) {
    return date.toTimeString().slice(0, 8);
  }

  function bust(url) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "t=" + Date.now();
  }

  function setStatus(text, stale) {
    if (!status) return;
    status.textContent = text;
    status.className = stale ? "status stale" : "status";
  }

  var img = document.getElementById("camcast-image");
  if (img) {
    var every = Math.max(0.2, parseFloat(img.getAttribute("data-every")) || 2) * 1000;
    var src = img.getAttribute("data-src");
    var lastOk = new Date();
    var loading = false;
    var tick = function () {
      if (loading) return;
      loading = true;
      var next = new Image();
      next.onload = function () {
        loading = false;
        img.src = next.src;
        lastOk = new Date();
        setStatus("Updated " + hhmmss(lastOk) + ", every " + every / 1000 + " s.", false);
      };
      next.onerror = function () {
        loading = false;
        setStatus("Stale since " + hhmmss(lastOk) + ": the picture could not be loaded.", true);
      };
      next.src = bust(src);
    };
    window.setInterval(tick, every);
  }

  var stream = document.getElementById("camcast-stream");
  if (stream) {
    // A dropped stream is reopened after a pause instead of leaving a frozen picture.
    stream.addEventListener("error", function () {
      setStatus("Stream interrupted at " + hhmmss(new Date()) + "; reconnecting…", true);
      window.setTimeout(function () {
        stream.src = bust(stream.getAttribute("data-src"));
      }, 2000);
    });
    stream.addEventListener("load", function () { setStatus("Live.", false); });
  }
})();
