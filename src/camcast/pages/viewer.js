// camcast viewer pages: no inline script (the pages are served with a CSP that forbids it), and the same
// file works on camcast's own server and on a static web host the pictures are published to.
(function () {
  "use strict";
  var status = document.getElementById("camcast-status");

  function hhmmss(date) {
    return date.toTimeString().slice(0, 8);
  }

  function bust(url, value) {
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "t=" + (value === undefined ? Date.now() : value);
  }

  function setStatus(text, stale) {
    if (!status) return;
    status.textContent = text;
    status.className = stale ? "status stale" : "status";
  }

  function getJSON(url, done, failed) {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", bust(url));
    xhr.onload = function () {
      if (xhr.status !== 200) return failed();
      try { done(JSON.parse(xhr.responseText)); } catch (e) { failed(); }
    };
    xhr.onerror = failed;
    xhr.send();
  }

  // Image refresh: every data-every seconds, load the next picture off-screen with a cache-busting query,
  // and swap it in only once it has fully loaded, so the visible picture never flickers or tears.
  var img = document.getElementById("camcast-image");
  if (img) {
    var every = Math.max(0.2, parseFloat(img.getAttribute("data-every")) || 2) * 1000;
    var src = img.getAttribute("data-src");
    var meta = img.getAttribute("data-meta");
    var lastOk = new Date();
    var loading = false;
    var describe = function () {
      if (!meta) {
        setStatus("Updated " + hhmmss(lastOk) + ", every " + every / 1000 + " s.", false);
        return;
      }
      // A published site says when the picture was taken; if that stops moving, uploads have stopped.
      getJSON(meta, function (info) {
        var taken = new Date(info.captured * 1000);
        var late = Date.now() - taken.getTime() > Math.max(3 * info.every * 1000, 10000);
        if (late) setStatus("Stale since " + hhmmss(taken) + ": no newer picture has been published.", true);
        else setStatus("Last updated " + hhmmss(taken) + ", every " + info.every + " s.", false);
      }, function () {
        setStatus("Updated " + hhmmss(lastOk) + ".", false);
      });
    };
    var tick = function () {
      if (loading) return;
      loading = true;
      var next = new Image();
      next.onload = function () {
        loading = false;
        img.src = next.src;
        lastOk = new Date();
        describe();
      };
      next.onerror = function () {
        loading = false;
        setStatus("Stale since " + hhmmss(lastOk) + ": the picture could not be loaded.", true);
      };
      next.src = bust(src);
    };
    window.setInterval(tick, every);
  }

  // The camera grid: every tile's picture reloads the same way, without a status line.
  var tiles = document.querySelectorAll("img.tile");
  Array.prototype.forEach.call(tiles, function (tile) {
    var tileEvery = Math.max(0.5, parseFloat(tile.getAttribute("data-every")) || 2) * 1000;
    var tileSrc = tile.getAttribute("data-src");
    var busy = false;
    window.setInterval(function () {
      if (busy) return;
      busy = true;
      var next = new Image();
      next.onload = function () { busy = false; tile.src = next.src; tile.classList.remove("stale"); };
      next.onerror = function () { busy = false; tile.classList.add("stale"); };
      next.src = bust(tileSrc);
    }, tileEvery);
  });

  // Live stream from camcast's server: H.264 video over HLS where the browser can play it (through
  // hls.js where Media Source Extensions exist, as hls.js itself advises, since it plays low-latency
  // HLS; else natively, as Safari on older iPhones does), else the MJPEG stream, which every browser
  // shows. The page says which it uses (and #camcast-player's data-mode holds it).
  var player = document.getElementById("camcast-player");
  var stream = document.getElementById("camcast-stream");
  var video = document.getElementById("camcast-video");
  var mode = function (name, text) {
    if (player) player.setAttribute("data-mode", name);
    setStatus(text, false);
  };
  var mjpeg = function (why) {
    if (!stream) return;
    if (video) { video.hidden = true; video.removeAttribute("src"); }
    if (!stream.getAttribute("data-src")) {
      // A published site has no MJPEG stream to fall back to: say so, and point to the pictures.
      setStatus("This browser cannot play the video" + why + "; the other pages show the pictures.", true);
      return;
    }
    stream.hidden = false;
    stream.addEventListener("error", function () {
      setStatus("Stream interrupted at " + hhmmss(new Date()) + "; reconnecting…", true);
      window.setTimeout(function () {
        stream.src = bust(stream.getAttribute("data-src"));
      }, 2000);
    });
    stream.addEventListener("load", function () { mode("mjpeg", "Live: MJPEG stream" + why + "."); });
    stream.src = stream.getAttribute("data-src");
    mode("mjpeg", "Live: MJPEG stream" + why + ".");
  };
  var hlsUrl = video && video.getAttribute("data-hls");
  if (stream && !hlsUrl) {
    mjpeg("");
  } else if (video && hlsUrl) {
    var playing = function (name, text) {
      video.hidden = false;
      video.addEventListener("playing", function () { mode(name, text); });
      var started = video.play();
      if (started && started.catch) started.catch(function () {});
    };
    var native = function (why) {
      if (!video.canPlayType("application/vnd.apple.mpegurl")) return mjpeg(why);
      video.addEventListener("error", function () { mjpeg(" (the video failed)"); });
      video.src = hlsUrl;
      playing("hls-native", "Live: H.264 video (HLS, played by the browser).");
    };
    if (window.MediaSource || window.ManagedMediaSource) {
      var script = document.createElement("script");
      script.src = video.getAttribute("data-hlsjs");
      script.onerror = function () { native(" (hls.js could not be loaded)"); };
      script.onload = function () {
        var Hls = window.Hls;
        if (!Hls || !Hls.isSupported()) return native(" (this browser cannot play HLS)");
        // Low-latency HLS: parts and blocking reloads; no worker, since the page's CSP allows none.
        var hls = new Hls({ lowLatencyMode: true, enableWorker: false, backBufferLength: 10 });
        hls.on(Hls.Events.ERROR, function (event, data) {
          if (!data.fatal) return;
          if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
            setStatus("Video interrupted at " + hhmmss(new Date()) + "; reconnecting…", true);
            window.setTimeout(function () { hls.startLoad(); }, 2000);
          } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
            hls.recoverMediaError();
          } else {
            hls.destroy();
            mjpeg(" (the video failed)");
          }
        });
        hls.loadSource(hlsUrl);
        hls.attachMedia(video);
        playing("hls.js", "Live: H.264 video (low-latency HLS, played by hls.js).");
      };
      document.head.appendChild(script);
    } else {
      native(" (this browser cannot play HLS)");
    }
  }

  // Near-live on a static host: a ring of pictures stream/000.jpg … and a JSON file naming the newest.
  // Poll it once a second and play the pictures not shown yet, in order, at the rate they were taken.
  var ring = document.getElementById("camcast-ring");
  if (ring) {
    var ringUrl = ring.getAttribute("data-ring");
    var folder = ringUrl.replace(/[^\/]*$/, "") + "stream/";
    var shown = -1;
    var queue = [];
    var playing = false;
    var lastNew = new Date();
    var pad = function (n) { return ("00" + n).slice(-3); };
    var play = function (interval) {
      if (!queue.length) { playing = false; return; }
      playing = true;
      var item = queue.shift();
      var pic = new Image();
      pic.onload = function () {
        ring.src = pic.src;
        window.setTimeout(function () { play(interval); }, interval);
      };
      pic.onerror = function () { play(interval); };
      pic.src = bust(folder + pad(item.index) + ".jpg", item.seq);
    };
    var poll = function () {
      getJSON(ringUrl, function (info) {
        if (info.seq > shown) {
          var first = Math.max(shown + 1, info.seq - info.size + 2);
          for (var s = first; s <= info.seq; s++) {
            queue.push({ seq: s, index: ((info.newest - (info.seq - s)) % info.size + info.size) % info.size });
          }
          shown = info.seq;
          lastNew = new Date();
          setStatus("Near-live, " + info.fps + " pictures a second.", false);
          if (!playing) play(1000 / info.fps);
        } else if (Date.now() - lastNew.getTime() > 5000) {
          setStatus("Stale since " + hhmmss(lastNew) + ": no new pictures.", true);
        }
      }, function () {
        setStatus("Stale since " + hhmmss(lastNew) + ": the pictures could not be loaded.", true);
      });
    };
    poll();
    window.setInterval(poll, 1000);
  }
})();
