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

  // Live stream from camcast's server, in the first way this browser and server manage: WebRTC (H.264
  // with a delay under a second), else H.264 over HLS (through hls.js where Media Source Extensions
  // exist, as hls.js itself advises, since it plays low-latency HLS; else natively, as Safari on older
  // iPhones does), else the MJPEG stream, which every browser shows. The page says which it uses (and
  // #camcast-player's data-mode holds it). The WebRTC page (data-only="webrtc") plays WebRTC alone.
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
  var playing = function (name, text) {
    video.hidden = false;
    video.addEventListener("playing", function () { mode(name, text); });
    var started = video.play();
    if (started && started.catch) started.catch(function () {});
  };
  var hls = function (hlsUrl, why) {
    var native = function (reason) {
      if (!video.canPlayType("application/vnd.apple.mpegurl")) return mjpeg(reason);
      video.addEventListener("error", function () { mjpeg(" (the video failed)"); });
      video.src = hlsUrl;
      video.addEventListener("loadedmetadata", function () {
        soundButton(Boolean(video.audioTracks && video.audioTracks.length));
      }, { once: true });
      playing("hls-native", "Live: H.264 video (HLS, played by the browser)" + why + ".");
    };
    if (!(window.MediaSource || window.ManagedMediaSource)) return native(" (this browser cannot play HLS)");
    var script = document.createElement("script");
    script.src = video.getAttribute("data-hlsjs");
    script.onerror = function () { native(" (hls.js could not be loaded)"); };
    script.onload = function () {
      var Hls = window.Hls;
      if (!Hls || !Hls.isSupported()) return native(" (this browser cannot play HLS)");
      // Low-latency HLS: parts and blocking reloads; no worker, since the page's CSP allows none. A
      // stall (most often at the start, while the encoder makes its first segment) moves hls.js's
      // target back by a fifth of a second rather than its default whole second, and hls.js plays up
      // to 1.25 times as fast to get back to the target, where by default it never catches up: a
      // start-up stall had left the page 2 s behind for good (bench/webrtc.py --delay).
      var player = new Hls({
        lowLatencyMode: true, enableWorker: false, backBufferLength: 10,
        liveSyncOnStallIncrease: 0.2, maxLiveSyncPlaybackRate: 1.25,
      });
      video.camcastHls = player;  // for tests: the levels hls.js chose from
      // With several renditions the page starts with the smallest one that fills the room it has for
      // the video (counting at most 1.5 device pixels a CSS pixel, so a phone's narrow screen takes the
      // small one however dense its pixels), and hls.js goes no higher, nor lower unless the link
      // falls short (hls.js's own bandwidth guesses at the start, and its switches up while parts are
      // held for low latency, were measured to stay on the smallest). The room, not the video's own
      // size: the video is as large as the rendition it plays.
      var cap = function (event) {
        var levels = player.levels || [];
        // Sizes not listed yet (a camera that sent no picture before the list was made): hls.js decides.
        if (levels.length < 2 || levels.some(function (level) { return !level.width; })) return;
        var room = (video.parentNode.clientWidth || window.innerWidth) * Math.min(window.devicePixelRatio || 1, 1.5);
        var best = -1, widest = 0;
        levels.forEach(function (level, i) {
          if (level.width > levels[widest].width) widest = i;
          if (level.width >= room && (best < 0 || level.width < levels[best].width)) best = i;
        });
        player.autoLevelCapping = best < 0 ? widest : best;
        if (event === Hls.Events.MANIFEST_PARSED) player.startLevel = player.autoLevelCapping;
      };
      player.on(Hls.Events.MANIFEST_PARSED, cap);
      // The segments carry the camera's sound when its audio is on and this viewer may hear it.
      // (hls.js lists a segment holding both as one "audiovideo" track.)
      player.on(Hls.Events.BUFFER_CODECS, function (event, data) {
        var both = data.audiovideo && /mp4a/.test(data.audiovideo.codec || "");
        soundButton(Boolean(data.audio || both));
      });
      window.addEventListener("resize", cap);
      player.on(Hls.Events.ERROR, function (event, data) {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
          setStatus("Video interrupted at " + hhmmss(new Date()) + "; reconnecting…", true);
          window.setTimeout(function () { player.startLoad(); }, 2000);
        } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          player.recoverMediaError();
        } else {
          player.destroy();
          mjpeg(" (the video failed)");
        }
      });
      player.loadSource(hlsUrl);
      player.attachMedia(video);
      playing("hls.js", "Live: H.264 video (low-latency HLS, played by hls.js)" + why + ".");
    };
    document.head.appendChild(script);
  };

  // WebRTC by WHEP (RFC 9725): POST an offer for H.264 video, receive-only; the answer comes back with
  // the session's URL, which is DELETEd when the page goes. failed(why) is called if it cannot start.
  var webrtc = function (whepUrl, iceUrls, failed) {
    var caps = window.RTCPeerConnection && window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities &&
      RTCRtpReceiver.getCapabilities("video");
    if (!caps) return failed(" (this browser has no WebRTC)");
    var h264 = caps.codecs.filter(function (c) { return /^video\/h264$/i.test(c.mimeType); });
    if (!h264.length) return failed(" (this browser cannot decode H.264 over WebRTC)");
    var pc = new RTCPeerConnection({ iceServers: iceUrls.map(function (url) { return { urls: url }; }) });
    video.camcastPeer = pc;  // for tests and the benchmark: getStats()
    var session = null;
    var over = false;
    var end = function (why, retry) {
      if (over) return;
      over = true;
      window.clearTimeout(timer);
      if (session) fetch(session, { method: "DELETE", keepalive: true }).catch(function () {});
      pc.close();
      if (retry) {
        setStatus("Video interrupted at " + hhmmss(new Date()) + "; reconnecting…", true);
        window.setTimeout(function () { webrtc(whepUrl, iceUrls, failed); }, 2000);
      } else {
        failed(why);
      }
    };
    // Not playing within 10 s (say, a network that lets no UDP through): try the next way.
    var timer = window.setTimeout(function () { end(" (WebRTC did not connect)", false); }, 10000);
    var transceiver = pc.addTransceiver("video", { direction: "recvonly" });
    // Sound too, if the camera's audio is on and this viewer may hear it (the server decides); it
    // plays muted, as browsers require, until the viewer presses the sound button.
    pc.addTransceiver("audio", { direction: "recvonly" });
    if (transceiver.setCodecPreferences) {
      transceiver.setCodecPreferences(caps.codecs.filter(function (c) {
        return /^video\/(h264|rtx)$/i.test(c.mimeType);
      }));
    }
    pc.ontrack = function (event) {
      if (event.track.kind === "audio") {
        if (video.srcObject) video.srcObject.addTrack(event.track);
        else video.srcObject = new MediaStream([event.track]);
        soundButton(true);
        return;
      }
      if (video.srcObject) video.srcObject.addTrack(event.track);
      else video.srcObject = event.streams[0] || new MediaStream([event.track]);
      video.hidden = false;
      video.addEventListener("playing", function () {
        window.clearTimeout(timer);
        mode("webrtc", "Live: H.264 video over WebRTC.");
      }, { once: true });
      var started = video.play();
      if (started && started.catch) started.catch(function () {});
    };
    pc.onconnectionstatechange = function () {
      var state = pc.connectionState;
      var shown = player && player.getAttribute("data-mode") === "webrtc";
      if (state === "failed" || (state === "closed" && !over)) end(" (WebRTC failed)", shown);
    };
    var gathered = new Promise(function (resolve) {
      // Send the offer once this side's candidates are in it (no trickle ICE), or after a second.
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") resolve();
      });
      window.setTimeout(resolve, 1000);
    });
    pc.createOffer()
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return gathered; })
      .then(function () {
        return fetch(whepUrl, {
          method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp,
        });
      })
      .then(function (response) {
        return response.text().then(function (text) {
          if (response.status !== 201) throw new Error(text.trim() || "the server answered " + response.status);
          session = new URL(response.headers.get("Location"), window.location.href).href;
          return pc.setRemoteDescription({ type: "answer", sdp: text });
        });
      })
      .catch(function (error) { end(" (" + error.message + ")", false); });
    window.addEventListener("pagehide", function () { end("", false); });
  };

  // The sound button: shown while the stream carries sound; the video stays muted until pressed.
  var soundButton = function (carried) {
    var button = document.getElementById("camcast-sound");
    if (!button) return;
    button.hidden = !carried;
    var show = function () {
      button.textContent = video.muted ? "Sound off: listen" : "Sound on: mute";
      button.setAttribute("aria-pressed", video.muted ? "false" : "true");
    };
    button.onclick = function () { video.muted = !video.muted; show(); };
    show();
  };

  var whepUrl = video && video.getAttribute("data-whep");
  var hlsUrl = video && video.getAttribute("data-hls");
  var next = function (why) {
    if (player && player.getAttribute("data-only") === "webrtc") {
      if (why) setStatus("WebRTC cannot play here" + why + "; the Live page plays HLS or MJPEG instead.", true);
      return;
    }
    video.removeAttribute("src");
    video.srcObject = null;
    if (hlsUrl) hls(hlsUrl, why); else mjpeg(why);
  };
  if (video && whepUrl) {
    webrtc(whepUrl, JSON.parse(video.getAttribute("data-ice") || "[]"), next);
  } else if (video && hlsUrl) {
    hls(hlsUrl, "");
  } else if (stream) {
    mjpeg("");
  }

  // Push-to-talk (the owner's home page, a camera with a speaker): while the button is held, this
  // browser's microphone goes to the camera's speaker in a WebRTC session of its own, ended (DELETE)
  // when the button is let go. The browser asks for the microphone the first time.
  var talkButton = document.getElementById("camcast-talk");
  if (talkButton) {
    var talking = null;
    var csrf = document.querySelector('meta[name="csrf-token"]');
    var headers = function (extra) {
      var all = extra || {};
      if (csrf) all["X-CSRF-Token"] = csrf.content;
      return all;
    };
    // Ends a talk, whatever step it is at (each step checks talk.stop, and ends it again when it must).
    var end = function (talk) {
      talk.stop = true;
      if (talking === talk) {
        talking = null;
        talkButton.setAttribute("aria-pressed", "false");
        talkButton.textContent = "Hold to talk";
      }
      if (talk.session) {
        fetch(talk.session, { method: "DELETE", credentials: "same-origin", headers: headers(), keepalive: true })
          .catch(function () {});
        talk.session = null;
      }
      if (talk.pc) talk.pc.close();
      if (talk.stream) talk.stream.getTracks().forEach(function (t) { t.stop(); });
    };
    var start = function () {
      if (talking) return;
      var talk = talking = { stop: false };
      talkButton.setAttribute("aria-pressed", "true");
      talkButton.textContent = "Talking… (let go to stop)";
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        talk.stream = stream;
        if (talk.stop) return end(talk);
        var pc = talk.pc = new RTCPeerConnection();
        stream.getAudioTracks().forEach(function (t) { pc.addTransceiver(t, { direction: "sendonly" }); });
        return pc.createOffer().then(function (offer) { return pc.setLocalDescription(offer); }).then(function () {
          return new Promise(function (resolve) {
            if (pc.iceGatheringState === "complete") return resolve();
            pc.addEventListener("icegatheringstatechange", function () {
              if (pc.iceGatheringState === "complete") resolve();
            });
            window.setTimeout(resolve, 1000);
          });
        }).then(function () {
          return fetch(talkButton.getAttribute("data-talk"), {
            method: "POST", credentials: "same-origin", body: pc.localDescription.sdp,
            headers: headers({ "Content-Type": "application/sdp" }),
          });
        }).then(function (response) {
          return response.text().then(function (text) {
            if (response.status !== 201) throw new Error(text.trim());
            talk.session = new URL(response.headers.get("Location"), window.location.href).href;
            if (talk.stop) return end(talk);
            return pc.setRemoteDescription({ type: "answer", sdp: text });
          });
        });
      }).catch(function (error) {
        var asked = !talk.stop;
        end(talk);
        if (asked) setStatus("Cannot talk: " + error.message, true);
      });
    };
    var release = function () { if (talking) end(talking); };
    // The pointer is captured while held, so the button let go anywhere (or the capture lost) ends it.
    talkButton.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      if (talkButton.setPointerCapture) talkButton.setPointerCapture(event.pointerId);
      start();
    });
    ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (kind) {
      talkButton.addEventListener(kind, release);
    });
    window.addEventListener("pagehide", release);
  }

  // The home page: the camera's state (live, paused, offline) and viewers, kept current.
  var stateBadge = document.getElementById("camcast-state");
  var viewerCount = document.getElementById("camcast-viewers");
  if (stateBadge && stateBadge.getAttribute("data-status")) {
    var statusUrl = stateBadge.getAttribute("data-status");
    var cameraName = stateBadge.getAttribute("data-camera");
    window.setInterval(function () {
      getJSON(statusUrl, function (doc) {
        var mine = (doc.cameras || []).filter(function (c) { return c.name === cameraName; })[0] || doc;
        stateBadge.textContent = mine.state;
        stateBadge.className = "state " + mine.state;
        var watching = document.getElementById("camcast-motion");
        if (watching) watching.hidden = !mine.motion;
        var rec = document.getElementById("camcast-rec");
        if (rec) rec.hidden = !mine.recording;
        var mic = document.getElementById("camcast-mic");
        if (mic) mic.hidden = mine.microphone !== "on";
        var talkingBadge = document.getElementById("camcast-talking");
        if (talkingBadge) talkingBadge.hidden = !mine.talking;
        if (viewerCount) viewerCount.textContent = mine.viewers + " watching";
      }, function () {
        stateBadge.textContent = "unreachable";
        stateBadge.className = "state offline";
      });
    }, 5000);
  }

  // The owner's list of motion events, newest first, each with its picture; and the detector's view.
  var eventsBox = document.getElementById("camcast-events");
  if (eventsBox && eventsBox.getAttribute("data-events")) {
    var eventsUrl = eventsBox.getAttribute("data-events");
    var list = eventsBox.querySelector("ol.events");
    var view = document.getElementById("camcast-motion-view");
    if (view) {  // 404 until motion has seen a picture: no broken image meanwhile
      view.hidden = true;
      view.onload = function () { view.hidden = false; };
      view.onerror = function () { view.hidden = true; };
    }
    var showEvents = function () {
      getJSON(eventsUrl + (eventsUrl.indexOf("?") < 0 ? "?" : "&") + "limit=20", function (doc) {
        list.textContent = "";
        (doc.events || []).slice().reverse().forEach(function (e) {
          var item = document.createElement("li");
          if (e.picture_url) {
            var link = document.createElement("a");
            link.href = e.picture_url;
            var pic = document.createElement("img");
            pic.src = e.picture_url;
            pic.alt = "motion at " + e.start;
            pic.loading = "lazy";
            pic.className = "event";
            link.appendChild(pic);
            item.appendChild(link);
          }
          var text = document.createElement("span");
          var when = new Date(e.start).toLocaleString();
          var length = e.interrupted ? "interrupted (camcast stopped)" : (e.end ? e.seconds.toFixed(1) + " s" : "now");
          text.textContent = when + " · " + length + " · " + (e.kind === "sound"
            ? "sound, up to " + Math.round(e.level) + " dBFS" : (e.peak * 100).toFixed(1) + "% of the picture");
          item.appendChild(text);
          if (e.clip_url) {
            var clip = document.createElement("a");
            clip.href = e.clip_url;
            clip.textContent = " · clip";
            item.appendChild(clip);
          }
          list.appendChild(item);
        });
        if (!list.children.length) list.textContent = "No motion events yet.";
      }, function () {});
      if (view && view.getAttribute("data-src")) {
        var src = view.getAttribute("data-src");
        view.src = src + (src.indexOf("?") < 0 ? "?" : "&") + "t=" + Date.now();
      }
    };
    showEvents();
    window.setInterval(showEvents, 5000);
  }

  // The recordings page: each day as a timeline (recordings as bars, events as ticks) and a list; a
  // recording plays in the page's own <video>, downloads, or (the owner) is deleted.
  var recBox = document.getElementById("camcast-recordings");
  if (recBox) {
    var recUrl = recBox.getAttribute("data-recordings");
    var evUrl = recBox.getAttribute("data-events");
    var mayDelete = !!recBox.getAttribute("data-delete");
    var player = document.getElementById("camcast-rec-player");
    var nowPlaying = document.getElementById("camcast-rec-now");
    var daysBox = document.getElementById("camcast-days");
    var recState = document.getElementById("camcast-rec-state");
    var el = function (tag, cls, text) {
      var node = document.createElement(tag);
      if (cls) node.className = cls;
      if (text) node.textContent = text;
      return node;
    };
    var play = function (r) {
      player.hidden = false;
      player.src = r.url;
      player.play().catch(function () {});
      nowPlaying.textContent = "Playing " + new Date(r.start).toLocaleString() + " (" + r.seconds.toFixed(0) + " s)";
    };
    var secondsOfDay = function (d) { return d.getHours() * 3600 + d.getMinutes() * 60 + d.getSeconds(); };
    var showAll = function (recs, events) {
      daysBox.textContent = "";
      recState.textContent = recs.recording.length ? "REC: recording now" : (recs.recordings.length ? "" : "No recordings yet.");
      var gib = function (n) { return (n / 1073741824).toFixed(n < 10737418240 ? 2 : 1) + " GiB"; };
      var kept = Object.keys(recs.limits || {}).map(function (name) {
        var l = recs.limits[name];
        if (!l || l.used === undefined) return "";
        var parts = [gib(l.used) + " used" + (l.max_size ? " of at most " + gib(l.max_size) : "")];
        parts.push(l.max_days ? "kept " + l.max_days + " days" : "kept with no age limit");
        parts.push("leaving " + gib(l.min_free) + " free" + (l.free !== null ? " (" + gib(l.free) + " free now)" : ""));
        return (Object.keys(recs.limits).length > 1 ? name + ": " : "") + parts.join(", ") + (l.disk_short ? ": the disk is short, recording waits for room" : "");
      }).filter(Boolean);
      var limitsLine = document.getElementById("camcast-rec-limits");
      if (limitsLine) limitsLine.textContent = kept.length ? "Limits: " + kept.join("; ") + "." : "";
      recState.className = recs.recording.length ? "state rec" : "status";
      var days = {};
      recs.recordings.forEach(function (r) {
        var day = new Date(r.start).toDateString();
        (days[day] = days[day] || []).push(r);
      });
      Object.keys(days).reverse().forEach(function (day) {
        var section = el("section", "day");
        section.appendChild(el("h3", "", day));
        var line = el("div", "timeline");
        days[day].forEach(function (r) {
          var start = new Date(r.start);
          var bar = el("button", "span");
          bar.style.left = (secondsOfDay(start) / 864) + "%";
          bar.style.width = Math.max(r.seconds / 864, 0.3) + "%";
          bar.title = start.toLocaleTimeString() + ", " + r.seconds.toFixed(0) + " s";
          bar.onclick = function () { play(r); };
          line.appendChild(bar);
        });
        events.filter(function (e) { return new Date(e.start).toDateString() === day; }).forEach(function (e) {
          var tick = el("span", "event");
          tick.style.left = (secondsOfDay(new Date(e.start)) / 864) + "%";
          tick.title = "motion at " + new Date(e.start).toLocaleTimeString();
          line.appendChild(tick);
        });
        section.appendChild(line);
        var list = el("ul", "recordings");
        days[day].slice().reverse().forEach(function (r) {
          var item = el("li");
          item.appendChild(el("span", "", new Date(r.start).toLocaleTimeString() + " · " + r.seconds.toFixed(0) +
            " s · " + (r.bytes / 1e6).toFixed(1) + " MB" + (r.events.length ? " · " + r.events.length + " event(s)" : "") +
            (r.complete ? "" : " · cut off")));
          events.filter(function (e) { return r.events.indexOf(e.id) >= 0 && e.picture_url; }).forEach(function (e) {
            var pic = el("img", "event");
            pic.src = e.picture_url;
            pic.alt = "motion at " + e.start;
            pic.loading = "lazy";
            item.appendChild(pic);
          });
          var playButton = el("button", "play", "Play");
          playButton.onclick = function () { play(r); };
          item.appendChild(playButton);
          var down = el("a", "", "Download");
          down.href = r.url + (r.url.indexOf("?") < 0 ? "?" : "&") + "download=1";
          item.appendChild(down);
          if (mayDelete) {
            var del = el("button", "delete", "Delete");
            del.onclick = function () {
              if (!window.confirm("Delete this recording for good?")) return;
              var token = document.querySelector('meta[name="csrf-token"]');
              fetch(r.url.replace("/recordings/", "/api/recordings/"), {
                method: "DELETE", credentials: "same-origin", headers: token ? { "X-CSRF-Token": token.content } : {}
              })
                .then(function () { refresh(); });
            };
            item.appendChild(del);
          }
          list.appendChild(item);
        });
        section.appendChild(list);
        daysBox.appendChild(section);
      });
    };
    var refresh = function () {
      getJSON(recUrl, function (recs) {
        if (!evUrl) { showAll(recs, []); return; }
        getJSON(evUrl + (evUrl.indexOf("?") < 0 ? "?" : "&") + "limit=1000", function (doc) {
          showAll(recs, doc.events || []);
        }, function () { showAll(recs, []); });
      }, function () { recState.textContent = "Recordings could not be loaded."; });
    };
    refresh();
    window.setInterval(function () { if (player.paused) refresh(); }, 15000);
  }

  // Near-live on a static host: a ring of pictures stream/000.jpg … and a JSON file naming the newest.
  // Poll it once a second and play the pictures not shown yet, in order, at the rate they were taken.
  var ring = document.getElementById("camcast-ring");
  if (ring) {
    var ringUrl = ring.getAttribute("data-ring");
    var folder = ringUrl.replace(/[^\/]*$/, "") + "stream/";
    var shown = -1;
    var queue = [];
    var ringPlaying = false;
    var lastNew = new Date();
    var pad = function (n) { return ("00" + n).slice(-3); };
    var play = function (interval) {
      if (!queue.length) { ringPlaying = false; return; }
      ringPlaying = true;
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
          if (!ringPlaying) play(1000 / info.fps);
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
