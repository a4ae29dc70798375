// protscope's attention view (bertviz's head and model views, for long proteins). Head view:
// lines from the residues of a sequence window (left) to the residues they attend to (right),
// one colour per head, the rows of the selected residues (click them) summed in the bars on the
// right. Model view: every layer × head as a thumbnail of its whole map; click one to open it.
// Everything is drawn on canvas from one binary block: per (layer, head, row) an edge count,
// then the targets (u16) and the weights (u8, steps of 1/255).
(function () {
  'use strict';
  function bytes(b64) {
    var bin = atob(b64), a = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    return a;
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // Strong colours that read on white (no yellow); beyond them, hues around the wheel.
  var PALETTE = [[31, 119, 180], [214, 39, 40], [44, 160, 44], [148, 103, 189], [255, 127, 14],
    [23, 190, 207], [140, 86, 75], [227, 119, 194], [127, 127, 127], [0, 0, 128], [128, 0, 0],
    [0, 100, 0], [188, 143, 0], [70, 130, 180], [199, 21, 133], [85, 107, 47]];
  function headColour(h, count, alpha) {
    if (h < PALETTE.length) { var c = PALETTE[h]; return 'rgba(' + c[0] + ',' + c[1] + ',' + c[2] + ',' + alpha + ')'; }
    return 'hsla(' + Math.round((h * 137.5) % 360) + ',70%,38%,' + alpha + ')';
  }
  // The SVG namespace name, from the browser's own parser: the page holds no address at all.
  var SVG_NS = (function () { var d = document.createElement('div'); d.innerHTML = '<svg></svg>'; return d.firstChild.namespaceURI; })();
  function download(href, name) {
    var a = el('a', { href: href, download: name });
    document.body.appendChild(a); a.click(); a.remove();
  }

  function init(section) {
    if (section.getAttribute('data-ready')) return;
    section.setAttribute('data-ready', '1');
    var t0 = performance.now();
    var d = JSON.parse(section.querySelector('script.ps-data').textContent);
    var n = d.residues.length, L = d.layers.length, H = d.heads.length, K = L * H;
    var block = bytes(d.block);
    var counts = block.subarray(0, K * n);
    var start = new Uint32Array(K * n + 1);
    for (var r = 0; r < K * n; r++) start[r + 1] = start[r] + counts[r];
    var E = start[K * n];
    var targets = new Uint16Array(block.buffer, d.targets_offset, E);
    var weights = block.subarray(d.targets_offset + 2 * E, d.targets_offset + 3 * E);
    var state = { layer: 0, heads: [], window: Math.min(n, 50), from: 0, selected: [] };
    for (var h0 = 0; h0 < H; h0++) state.heads.push(true);

    // Controls.
    var controls = el('div', { 'class': 'ps-controls' });
    function labelled(text, input) { var l = el('label', {}, text + ' '); l.appendChild(input); controls.appendChild(l); return input; }
    var layerSelect = labelled('layer', el('select', { 'class': 'ps-layer' }));
    d.layers.forEach(function (l, i) { layerSelect.appendChild(el('option', { value: i }, String(l + 1))); });
    var windowSelect = labelled('window', el('select', { 'class': 'ps-window' }));
    [25, 50, 100, 200, n].filter(function (w, i, a) { return w <= n && a.indexOf(w) === i; })
      .forEach(function (w) { windowSelect.appendChild(el('option', { value: w }, w === n ? 'all ' + n : String(w))); });
    windowSelect.value = state.window;
    var fromInput = labelled('from residue', el('input', { type: 'number', 'class': 'ps-from', min: 1, max: n, value: 1 }));
    var clear = el('button', { type: 'button' }, 'Clear selection'); controls.appendChild(clear);
    var savePng = el('button', { type: 'button', 'class': 'ps-save-png' }, 'Save PNG'); controls.appendChild(savePng);
    var saveSvg = el('button', { type: 'button', 'class': 'ps-save-svg' }, 'Save SVG'); controls.appendChild(saveSvg);
    var headBar = el('div', { 'class': 'ps-heads' });
    headBar.appendChild(el('span', {}, 'heads: '));
    var headBoxes = d.heads.map(function (h, i) {
      var l = el('label', { 'class': 'ps-head-box' });
      var b = el('input', { type: 'checkbox' }); b.checked = true;
      var sw = el('span', { 'class': 'ps-swatch' }); sw.style.background = headColour(i, H, 1);
      l.appendChild(b); l.appendChild(sw); l.appendChild(document.createTextNode(String(h + 1)));
      headBar.appendChild(l);
      b.addEventListener('change', function () { state.heads[i] = b.checked; drawHead(); });
      return b;
    });
    var allHeads = el('button', { type: 'button' }, 'all'); headBar.appendChild(allHeads);
    var noHeads = el('button', { type: 'button' }, 'none'); headBar.appendChild(noHeads);

    var overview = el('canvas', { 'class': 'ps-overview', width: 900, height: 56 });
    var headCanvas = el('canvas', { 'class': 'ps-head-view' });
    var info = el('p', { 'class': 'ps-info' });
    var modelTitle = el('p', { 'class': 'ps-model-title' }, 'Model view: every layer (rows) × head (columns), each the whole map (row = attending residue, column = attended); click one to open it above.');
    var T = Math.max(18, Math.min(56, Math.floor(880 / H) - 4));
    var modelCanvas = el('canvas', { 'class': 'ps-model-view', width: 40 + H * (T + 4), height: 18 + L * (T + 4) });
    var rule = section.querySelector('.ps-rule');
    [controls, headBar, overview, headCanvas, info, modelTitle, modelCanvas].forEach(function (e) { section.insertBefore(e, rule); });

    function edgesOf(k, row, f) {
      var r = k * n + row;
      for (var e = start[r]; e < start[r + 1]; e++) f(targets[e], weights[e] / 255);
    }
    function head(i) { return state.layer * H + i; }

    // Overview: the whole sequence, the window shaded; click to move the window there.
    function drawOverview() {
      var c = overview.getContext('2d'), W = overview.width, Hh = overview.height;
      c.fillStyle = '#ffffff'; c.fillRect(0, 0, W, Hh);
      // Attention received per residue, summed over the shown heads, as bars.
      var got = new Float32Array(n), m = 0;
      for (var i = 0; i < H; i++) {
        if (!state.heads[i]) continue;
        for (var row = 0; row < n; row++) edgesOf(head(i), row, function (to, w) { got[to] += w; });
      }
      // Scaled to the 99th percentile: one attention sink would flatten every other bar.
      var sorted = Array.prototype.slice.call(got).sort(function (a, b) { return a - b; });
      m = sorted[Math.min(n - 1, Math.floor(0.99 * n))] || 0;
      c.fillStyle = '#4a6fa5';
      for (var j2 = 0; j2 < n; j2++) {
        var h = m > 0 ? Math.min(1, got[j2] / m) * (Hh - 16) : 0;
        c.fillRect((j2 * W) / n, Hh - 12 - h, Math.max(1, W / n), h);
      }
      c.fillStyle = 'rgba(255,170,0,0.25)';
      c.fillRect((state.from * W) / n, 0, (state.window * W) / n, Hh - 12);
      c.strokeStyle = '#c77700'; c.strokeRect((state.from * W) / n + 0.5, 0.5, (state.window * W) / n - 1, Hh - 13);
      c.fillStyle = '#333'; c.font = '10px sans-serif';
      c.fillText('1', 0, Hh - 2); c.fillText(String(n), W - 8 * String(n).length, Hh - 2);
      c.fillText('attention received (shown heads), whole sequence; window shaded', 60, Hh - 2);
    }

    var layout = {};
    function drawHead(svg) {
      var t = performance.now();
      var w = state.window, from = state.from, rowH = Math.min(14, 840 / w);
      var labels = rowH >= 8, W = 720, left = 70, right = 470, barX = 560;
      var height = 24 + w * rowH + 8;
      layout = { rowH: rowH, left: left, right: right, top: 24 };
      var out = [];
      var c = null;
      if (!svg) {
        headCanvas.width = W; headCanvas.height = height;
        c = headCanvas.getContext('2d');
        c.fillStyle = '#ffffff'; c.fillRect(0, 0, W, height);
        c.font = Math.max(8, Math.min(12, rowH - 2)) + 'px monospace'; c.textBaseline = 'middle';
      } else {
        out.push('<svg xmlns="' + SVG_NS + '" width="' + W + '" height="' + height + '" font-family="monospace" font-size="' + Math.max(8, Math.min(12, rowH - 2)) + '"><rect width="100%" height="100%" fill="#fff"/>');
      }
      function y(i) { return 24 + (i - from + 0.5) * rowH; }
      function text(s, x, yy, colour, anchor) {
        if (c) { c.fillStyle = colour; c.textAlign = anchor; c.fillText(s, x, yy); }
        else out.push('<text x="' + x + '" y="' + (yy + 4) + '" fill="' + colour + '" text-anchor="' + (anchor === 'right' ? 'end' : 'start') + '">' + s + '</text>');
      }
      function line(x1, y1, x2, y2, colour, width) {
        if (c) { c.strokeStyle = colour; c.lineWidth = width; c.beginPath(); c.moveTo(x1, y1); c.lineTo(x2, y2); c.stroke(); }
        else out.push('<line x1="' + x1 + '" y1="' + y1.toFixed(1) + '" x2="' + x2 + '" y2="' + y2.toFixed(1) + '" stroke="' + colour + '" stroke-width="' + width + '"/>');
      }
      function rect(x, yy, ww, hh, colour) {
        if (c) { c.fillStyle = colour; c.fillRect(x, yy, ww, hh); }
        else out.push('<rect x="' + x.toFixed(1) + '" y="' + yy.toFixed(1) + '" width="' + ww.toFixed(1) + '" height="' + hh.toFixed(1) + '" fill="' + colour + '"/>');
      }
      text('layer ' + (d.layers[state.layer] + 1), (left + right) / 2 - 20, 10, '#333', 'left');
      text('from', left - 4, 10, '#333', 'right');
      text('to', right + 4, 10, '#333', 'left');
      text('selected rows summed', barX, 10, '#333', 'left');
      var selected = state.selected.filter(function (s) { return s >= from && s < from + w; });
      var rows = state.selected.length ? state.selected : null;
      for (var i = from; i < from + w; i++) {
        var sel = state.selected.indexOf(i) >= 0;
        if (sel) rect(0, y(i) - rowH / 2, left, rowH, '#ffe9a8');
        if (labels) {
          text(d.residues[i] + (i + 1), left - 4, y(i), sel ? '#000' : '#555', 'right');
          text(d.residues[i] + (i + 1), right + 4, y(i), '#555', 'left');
        }
      }
      var sums = new Float32Array(w * H), outside = 0, drawn = 0;
      // Lines are stroked in one path per head and weight step (8 steps): a 1,000-residue window
      // holds tens of thousands of lines.
      var STEPS = 8;
      for (var hi = 0; hi < H; hi++) {
        if (!state.heads[hi]) continue;
        var paths = [];
        for (var b = 0; b < STEPS; b++) paths.push([]);
        for (var row = from; row < from + w; row++) {
          var chosen = !rows || state.selected.indexOf(row) >= 0;
          if (!chosen) continue;
          edgesOf(head(hi), row, function (to, wt) {
            if (to < from || to >= from + w) { outside++; return; }
            paths[Math.min(STEPS - 1, Math.floor(wt * STEPS))].push(y(row), y(to));
            drawn++;
            if (rows) sums[(to - from) * H + hi] += wt;
          });
        }
        for (var b2 = 0; b2 < STEPS; b2++) {
          var ys = paths[b2];
          if (!ys.length) continue;
          var wt = (b2 + 0.5) / STEPS, colour = headColour(hi, H, Math.min(1, 0.15 + wt)), width = Math.max(0.6, 3 * wt);
          if (c) {
            c.strokeStyle = colour; c.lineWidth = width; c.beginPath();
            for (var q = 0; q < ys.length; q += 2) { c.moveTo(left, ys[q]); c.lineTo(right, ys[q + 1]); }
            c.stroke();
          } else {
            for (var q2 = 0; q2 < ys.length; q2 += 2) line(left, ys[q2], right, ys[q2 + 1], colour, width);
          }
        }
      }
      if (rows) {
        // Summed attention of the selected rows per target, stacked by head.
        var maxSum = 0;
        for (var j = 0; j < w; j++) { var s = 0; for (var h2 = 0; h2 < H; h2++) s += sums[j * H + h2]; maxSum = Math.max(maxSum, s); }
        for (var j2 = 0; j2 < w; j2++) {
          var x = barX;
          for (var h3 = 0; h3 < H; h3++) {
            var v = sums[j2 * H + h3];
            if (v <= 0) continue;
            var len = (v / Math.max(maxSum, 1e-9)) * (W - barX - 10);
            rect(x, y(from + j2) - rowH / 2 + 1, len, Math.max(1, rowH - 2), headColour(h3, H, 0.9));
            x += len;
          }
        }
      }
      info.textContent = drawn + ' lines drawn' + (outside ? ', ' + outside + ' edges reach residues outside the window' : '') +
        (rows ? '; rows of residues ' + state.selected.map(function (s) { return d.residues[s] + (s + 1); }).join(', ') + ' (click a left label to add or remove it)' : '; click a residue on the left to show its row, more to sum them') +
        '. Line opacity and width: weight (' + d.step.toFixed(4) + ' steps).';
      if (svg) { out.push('</svg>'); return out.join(''); }
      drawOverview();
      api.redrawMs = performance.now() - t;
      return null;
    }

    // Model view: one thumbnail per layer × head of its whole map, drawn pixel by pixel.
    function drawModel() {
      var c = modelCanvas.getContext('2d'), W = modelCanvas.width, Hh = modelCanvas.height;
      c.fillStyle = '#ffffff'; c.fillRect(0, 0, W, Hh);
      c.fillStyle = '#333'; c.font = '10px sans-serif'; c.textAlign = 'center';
      for (var hi = 0; hi < H; hi++) c.fillText(String(d.heads[hi] + 1), 40 + hi * (T + 4) + T / 2, 12);
      c.textAlign = 'right';
      var img = c.getImageData(0, 0, W, Hh), px = img.data;
      for (var li = 0; li < L; li++) {
        for (var h = 0; h < H; h++) {
          var x0 = 40 + h * (T + 4), y0 = 18 + li * (T + 4), k = li * H + h;
          for (var row = 0; row < n; row++) {
            var py = y0 + Math.floor((row * T) / n);
            edgesOf(k, row, function (to, wt) {
              var p = 4 * (py * W + x0 + Math.floor((to * T) / n));
              var dark = Math.round(255 * (1 - Math.min(1, 0.25 + wt)));
              if (dark < px[p]) { px[p] = dark; px[p + 1] = dark; px[p + 2] = Math.min(255, dark + 60); }
            });
          }
        }
      }
      c.putImageData(img, 0, 0);
      c.fillStyle = '#333';
      for (var li3 = 0; li3 < L; li3++) c.fillText(String(d.layers[li3] + 1), 34, 18 + li3 * (T + 4) + T / 2 + 4);
      for (var li2 = 0; li2 < L; li2++) {
        for (var h4 = 0; h4 < H; h4++) {
          var sel = li2 === state.layer && state.heads[h4] && state.heads.filter(Boolean).length === 1;
          c.strokeStyle = sel ? '#c77700' : '#cccccc'; c.lineWidth = sel ? 2 : 1;
          c.strokeRect(40 + h4 * (T + 4) - 0.5, 18 + li2 * (T + 4) - 0.5, T + 1, T + 1);
        }
      }
    }

    function setLayer(i) { state.layer = i; layerSelect.value = i; drawHead(); drawModelFrame(); }
    function setHeads(list) {
      for (var i = 0; i < H; i++) { state.heads[i] = list.indexOf(i) >= 0; headBoxes[i].checked = state.heads[i]; }
      drawHead(); drawModelFrame();
    }
    var modelBase = null;
    function drawModelFrame() {
      // The thumbnails are drawn once; only the frame of the open one changes.
      if (!modelBase) { drawModel(); modelBase = modelCanvas.getContext('2d').getImageData(0, 0, modelCanvas.width, modelCanvas.height); return; }
      var c = modelCanvas.getContext('2d');
      c.putImageData(modelBase, 0, 0);
      for (var h = 0; h < H; h++) {
        if (!state.heads[h]) continue;
        c.strokeStyle = '#c77700'; c.lineWidth = 2;
        c.strokeRect(40 + h * (T + 4) - 0.5, 18 + state.layer * (T + 4) - 0.5, T + 1, T + 1);
      }
    }
    function setWindow(from, w) {
      state.window = Math.max(1, Math.min(n, w));
      state.from = Math.max(0, Math.min(n - state.window, from));
      if (!windowSelect.querySelector('option[value="' + state.window + '"]')) windowSelect.appendChild(el('option', { value: state.window }, String(state.window)));
      fromInput.value = state.from + 1; windowSelect.value = state.window;
      drawHead();
    }
    layerSelect.addEventListener('change', function () { setLayer(+layerSelect.value); });
    windowSelect.addEventListener('change', function () { setWindow(state.from, +windowSelect.value); });
    fromInput.addEventListener('change', function () { setWindow(+fromInput.value - 1, state.window); });
    allHeads.addEventListener('click', function () { setHeads(d.heads.map(function (_, i) { return i; })); });
    noHeads.addEventListener('click', function () { setHeads([]); });
    clear.addEventListener('click', function () { state.selected = []; drawHead(); });
    overview.addEventListener('click', function (ev) {
      var rect = overview.getBoundingClientRect();
      var at = Math.floor(((ev.clientX - rect.left) / rect.width) * n);
      setWindow(at - Math.floor(state.window / 2), state.window);
    });
    headCanvas.addEventListener('click', function (ev) {
      var rect = headCanvas.getBoundingClientRect();
      var x = ((ev.clientX - rect.left) / rect.width) * headCanvas.width;
      var yy = ((ev.clientY - rect.top) / rect.height) * headCanvas.height;
      if (x > layout.left + 10) return;
      var i = state.from + Math.floor((yy - layout.top) / layout.rowH);
      if (i < state.from || i >= state.from + state.window) return;
      var at = state.selected.indexOf(i);
      if (at >= 0) state.selected.splice(at, 1); else state.selected.push(i);
      drawHead();
    });
    modelCanvas.addEventListener('click', function (ev) {
      var rect = modelCanvas.getBoundingClientRect();
      var x = ((ev.clientX - rect.left) / rect.width) * modelCanvas.width - 40;
      var yy = ((ev.clientY - rect.top) / rect.height) * modelCanvas.height - 18;
      var h = Math.floor(x / (T + 4)), li = Math.floor(yy / (T + 4));
      if (h < 0 || h >= H || li < 0 || li >= L) return;
      state.layer = li; layerSelect.value = li; setHeads([h]);
    });
    // Named after the layer open when saving.
    function name() { return d.protein + '_layer' + (d.layers[state.layer] + 1); }
    savePng.addEventListener('click', function () { download(headCanvas.toDataURL('image/png'), name() + '_heads.png'); });
    saveSvg.addEventListener('click', function () {
      var url = URL.createObjectURL(new Blob([drawHead(true)], { type: 'image/svg+xml' }));
      download(url, name() + '_heads.svg');
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
    var api = {
      state: state,
      setLayer: setLayer,
      setHeads: setHeads,
      setWindow: setWindow,
      select: function (list) { state.selected = list.slice(); drawHead(); },
      svg: function () { return drawHead(true); },
      // The edges of one shown (layer index, head index) as [from, to, weight], 0-based.
      edges: function (li, hi) {
        var out = [];
        for (var row = 0; row < n; row++) edgesOf(li * H + hi, row, function (to, wt) { out.push([row, to, wt]); });
        return out;
      },
      redrawMs: 0,
      openMs: 0
    };
    section.psView = api;
    if (d.open) {
      // The page opens on one head (e.g. the report's CDR3 head), the others a click away.
      state.layer = d.open[0]; layerSelect.value = d.open[0];
      for (var h5 = 0; h5 < H; h5++) { state.heads[h5] = h5 === d.open[1]; headBoxes[h5].checked = state.heads[h5]; }
    }
    drawHead();
    drawModelFrame();
    api.openMs = performance.now() - t0;
  }
  function start() { document.querySelectorAll('section.ps-attention-view').forEach(init); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
