// Reads the capture time that `camcast serve --pattern-timecode` draws at the bottom of the test pattern
// (see camcast/timecode.py, which this mirrors): a white and a black reference block, 32 bits of the
// capture time in milliseconds modulo 2^32, and a 4-bit check, each block 1/40 of the width.
// camcastTimecode.read(element) takes a <video> or <img> showing the pattern and returns the capture
// time as Unix milliseconds, or null when the picture holds no readable code.
(function () {
  "use strict";
  var BITS = 32, CHECK = 4, BLOCKS = 2 + BITS + CHECK, PER_WIDTH = 40, MIN_CONTRAST = 64;
  var WRAP = 4294967296;
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d", { willReadFrequently: true });

  function checkOf(value) {
    var sum = 0;
    for (var shift = 0; shift < BITS; shift += 4) sum += Math.floor(value / Math.pow(2, shift)) % 16;
    return sum % 16;
  }

  function read(element) {
    var width = element.videoWidth || element.naturalWidth;
    var height = element.videoHeight || element.naturalHeight;
    if (!width || !height) return null;
    var size = Math.max(4, Math.floor(width / PER_WIDTH) & ~1);
    var left = Math.floor((width - BLOCKS * size) / 2) & ~1;
    var top = (height - size) & ~1;
    if (canvas.width !== width || canvas.height !== size) { canvas.width = width; canvas.height = size; }
    context.drawImage(element, 0, top, width, size, 0, 0, width, size);
    var quarter = Math.floor(size / 4);
    var inner = size - 2 * quarter;
    var data = context.getImageData(0, quarter, width, inner).data;
    var levels = [];
    for (var i = 0; i < BLOCKS; i++) {
      var x0 = left + i * size + quarter, total = 0;
      for (var y = 0; y < inner; y++) {
        for (var x = x0; x < x0 + inner; x++) {
          var p = (y * width + x) * 4;
          total += (data[p] + data[p + 1] + data[p + 2]) / 3;
        }
      }
      levels.push(total / (inner * inner));
    }
    var white = levels[0], black = levels[1];
    if (white - black < MIN_CONTRAST) return null;
    var middle = (white + black) / 2, value = 0, check = 0;
    for (i = 0; i < BITS; i++) value = value * 2 + (levels[2 + i] > middle ? 1 : 0);
    for (i = 0; i < CHECK; i++) check = check * 2 + (levels[2 + BITS + i] > middle ? 1 : 0);
    if (check !== checkOf(value)) return null;
    var now = Date.now();
    var behind = ((now - value) % WRAP + WRAP) % WRAP;
    if (behind > WRAP / 2) behind -= WRAP;
    return now - behind;
  }

  window.camcastTimecode = { read: read };
})();
