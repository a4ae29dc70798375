// protscope's 3D view: one chain in 3Dmol.js (cartoon and Cα spheres) coloured by a per-residue
// value, attention as cylinders between Cα atoms for one layer and head at or above θ (provis'
// figure), true and predicted contacts as a second layer. Data: the JSON in the section.
(function () {
  'use strict';
  function bytes(b64) {
    var bin = atob(b64), a = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    return a;
  }
  function hex(r, g, b) {
    return '#' + [r, g, b].map(function (v) {
      var s = Math.round(Math.max(0, Math.min(255, v))).toString(16);
      return s.length < 2 ? '0' + s : s;
    }).join('');
  }
  function mix(a, b, t) { return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]; }
  var WHITE = [247, 247, 247], RED = [178, 24, 43], BLUE = [33, 102, 172], DARK = [8, 48, 107];
  var NONE = '#9aa0a6';
  var MAX_CYLINDERS = 300;
  function diverging(v, m) {
    var t = m > 0 ? Math.max(-1, Math.min(1, v / m)) : 0;
    var c = t >= 0 ? mix(WHITE, RED, t) : mix(WHITE, BLUE, -t);
    return hex(c[0], c[1], c[2]);
  }
  function sequential(v, m) {
    var t = m > 0 ? Math.max(0, Math.min(1, v / m)) : 0;
    var c = mix(WHITE, DARK, t);
    return hex(c[0], c[1], c[2]);
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v) { return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2); }

  function init(section) {
    if (section.getAttribute('data-ready')) return;
    section.setAttribute('data-ready', '1');
    var d = JSON.parse(section.querySelector('script.ps-data').textContent);
    var n = d.sequence.length;
    var att = d.attention, heads = 0, counts, starts, pi, pj, pw, received;
    if (att) {
      heads = att.num_layers * att.num_heads;
      var pb = bytes(att.pairs), dv = new DataView(pb.buffer);
      counts = []; starts = [0];
      for (var k = 0; k < heads; k++) { counts.push(dv.getUint32(4 * k, true)); starts.push(starts[k] + counts[k]); }
      var total = starts[heads], off = 4 * heads;
      pi = new Uint16Array(pb.buffer.slice(off, off + 2 * total));
      pj = new Uint16Array(pb.buffer.slice(off + 2 * total, off + 4 * total));
      pw = pb.subarray(off + 4 * total, off + 5 * total);
      received = new Float32Array(bytes(att.received).buffer);
    }
    var state = { layer: d.layer, head: d.head, theta: d.theta, colouring: 0, attention: !!att, truth: false, predicted: false };
    var names = d.colourings.map(function (c) { return c.name; });
    if (att) names.push('attention received (shown head)');
    if (d.colouring && names.indexOf(d.colouring) >= 0) state.colouring = names.indexOf(d.colouring);

    var controls = el('div', { 'class': 'ps-controls' });
    function labelled(text, input) { var l = el('label', {}, text + ' '); l.appendChild(input); controls.appendChild(l); return input; }
    var colourSelect = labelled('colour by', el('select', { 'class': 'ps-colouring' }));
    names.forEach(function (nm, i) { var o = el('option', { value: i }, nm); colourSelect.appendChild(o); });
    colourSelect.value = state.colouring;
    var layerSelect, headSelect, thetaInput, thetaOut, attBox;
    if (att) {
      layerSelect = labelled('layer', el('select', { 'class': 'ps-layer' }));
      for (var l = 0; l < att.num_layers; l++) layerSelect.appendChild(el('option', { value: l }, String(l + 1)));
      headSelect = labelled('head', el('select', { 'class': 'ps-head' }));
      for (var h = 0; h < att.num_heads; h++) headSelect.appendChild(el('option', { value: h }, String(h + 1)));
      thetaInput = labelled('θ', el('input', { type: 'range', 'class': 'ps-theta', min: att.floor, max: 1, step: 0.01 }));
      thetaOut = el('output', {}, ''); controls.appendChild(thetaOut);
      attBox = labelled('attention', el('input', { type: 'checkbox', 'class': 'ps-show-attention' }));
    }
    var truthBox = null, predBox = null;
    if (d.true_contacts.length) truthBox = labelled('true contacts', el('input', { type: 'checkbox', 'class': 'ps-show-truth' }));
    if (d.predicted_contacts.length) predBox = labelled('predicted contacts', el('input', { type: 'checkbox', 'class': 'ps-show-predicted' }));
    var reset = el('button', { type: 'button', 'class': 'ps-reset' }, 'Reset'); controls.appendChild(reset);
    var save = el('button', { type: 'button', 'class': 'ps-save-png' }, 'Save PNG'); controls.appendChild(save);
    var holder = el('div', { 'class': 'ps-molecule' });
    var legend = el('div', { 'class': 'ps-legend' });
    var rule = section.querySelector('.ps-rule');
    section.insertBefore(controls, rule);
    section.insertBefore(holder, rule);
    section.insertBefore(legend, rule);

    if (typeof $3Dmol === 'undefined') { holder.textContent = 'The molecular viewer did not load.'; return; }
    var viewer;
    try {
      viewer = $3Dmol.createViewer(holder, { backgroundColor: 'white', antialias: true });
    } catch (e) { viewer = null; }
    if (!viewer) { holder.textContent = 'This browser offers no WebGL: the 3D view cannot be drawn.'; return; }
    viewer.addModel(d.pdb, 'pdb');

    function values() {
      var c = d.colourings[state.colouring];
      if (c) return { scale: c.scale, categories: c.categories, values: c.values, name: c.name };
      var k = state.layer * att.num_heads + state.head, v = [];
      for (var i = 0; i < n; i++) v.push(received[k * n + i]);
      return { scale: 'sequential', categories: [], values: v, name: 'attention received, head ' + (state.layer + 1) + '-' + (state.head + 1) };
    }
    function colourFunction() {
      var c = values(), m = 0;
      c.values.forEach(function (v) { if (v !== null && isFinite(v)) m = Math.max(m, Math.abs(v)); });
      var colours = c.values.map(function (v) {
        if (v === null || !isFinite(v)) return NONE;
        if (c.scale === 'categories') return c.categories[v] ? c.categories[v][1] : NONE;
        return c.scale === 'diverging' ? diverging(v, m) : sequential(v, m);
      });
      return { colours: colours, max: m, c: c };
    }
    function drawLegend(cf, drawn) {
      legend.textContent = '';
      var c = cf.c;
      legend.appendChild(el('span', { 'class': 'ps-legend-title' }, c.name + ': '));
      if (c.scale === 'categories') {
        c.categories.forEach(function (cat) {
          var s = el('span', { 'class': 'ps-swatch' }); s.style.background = cat[1];
          legend.appendChild(s); legend.appendChild(document.createTextNode(cat[0] + ' '));
        });
      } else {
        var lo = c.scale === 'diverging' ? -cf.max : 0;
        legend.appendChild(document.createTextNode(fmt(lo) + ' '));
        var bar = el('span', { 'class': 'ps-bar' });
        bar.style.background = c.scale === 'diverging'
          ? 'linear-gradient(to right,' + diverging(-1, 1) + ',' + diverging(0, 1) + ',' + diverging(1, 1) + ')'
          : 'linear-gradient(to right,' + sequential(0, 1) + ',' + sequential(1, 1) + ')';
        legend.appendChild(bar);
        legend.appendChild(document.createTextNode(' ' + fmt(cf.max)));
      }
      var s0 = el('span', { 'class': 'ps-swatch' }); s0.style.background = NONE;
      legend.appendChild(el('br'));
      legend.appendChild(s0); legend.appendChild(document.createTextNode('no value  '));
      legend.appendChild(el('span', { 'class': 'ps-legend-note' }, drawn));
    }
    function style(cf) {
      var f = function (a) { return cf.colours[a.resi - 1] || NONE; };
      viewer.setStyle({}, { cartoon: { colorfunc: f, thickness: 0.4 } });
      viewer.addStyle({ atom: 'CA' }, { sphere: { radius: 0.5, colorfunc: f } });
    }
    function point(i) { var p = d.ca[i]; return p ? { x: p[0], y: p[1], z: p[2] } : null; }
    function shapes() {
      viewer.removeAllShapes();
      var notes = [];
      if (att && state.attention) {
        var k = state.layer * att.num_heads + state.head, above = [];
        for (var e = starts[k]; e < starts[k + 1]; e++) {
          // Stored in steps of 1/255: a pair at θ may read half a step lower.
          if (pw[e] / 255 + 0.5 / 255 < state.theta) continue;
          if (point(pi[e]) && point(pj[e])) above.push(e);
        }
        // At a low θ a diffuse head has thousands of pairs: the strongest MAX_CYLINDERS are drawn.
        above.sort(function (x, y) { return pw[y] - pw[x]; });
        var shown = above.slice(0, MAX_CYLINDERS);
        shown.forEach(function (e) {
          var w = pw[e] / 255;
          viewer.addCylinder({ start: point(pi[e]), end: point(pj[e]), radius: 0.1 + 0.6 * w, color: '#6a3d9a', fromCap: 1, toCap: 1 });
        });
        api.pairsDrawn = shown.length;
        notes.push(above.length + ' attention pairs ≥ ' + state.theta.toFixed(3) + (above.length > shown.length ? ', the strongest ' + shown.length + ' drawn' : '') + ' (head ' + (state.layer + 1) + '-' + (state.head + 1) + ', layer-head 1-based; purple, width by weight)');
      }
      var truth = {};
      d.true_contacts.forEach(function (p) { truth[p[0] * n + p[1]] = true; });
      if (state.truth) {
        d.true_contacts.forEach(function (p) {
          var a = point(p[0]), b = point(p[1]);
          if (a && b) viewer.addCylinder({ start: a, end: b, radius: 0.06, color: '#7f7f7f', dashed: true });
        });
        notes.push(d.true_contacts.length + ' true contacts (grey, dashed)');
      }
      if (state.predicted) {
        var top = d.predicted_contacts.slice().sort(function (x, y) { return y[2] - x[2]; }).slice(0, n);
        var right = 0;
        top.forEach(function (p) {
          var a = point(p[0]), b = point(p[1]), ok = truth[p[0] * n + p[1]];
          if (ok) right++;
          if (a && b) viewer.addCylinder({ start: a, end: b, radius: 0.15, color: ok ? '#1a9850' : '#d73027', fromCap: 1, toCap: 1 });
        });
        notes.push('top ' + top.length + ' predicted contacts: ' + right + ' true (green), ' + (top.length - right) + ' not (red)');
      }
      return notes.join('; ');
    }
    function draw() {
      var t0 = performance.now();
      var cf = colourFunction();
      style(cf);
      var notes = shapes();
      drawLegend(cf, notes);
      viewer.render();
      api.redrawMs = performance.now() - t0;
    }
    function sync() {
      colourSelect.value = state.colouring;
      if (att) {
        layerSelect.value = state.layer; headSelect.value = state.head;
        thetaInput.value = state.theta; thetaOut.textContent = state.theta.toFixed(3);
        attBox.checked = state.attention;
      }
      if (truthBox) truthBox.checked = state.truth;
      if (predBox) predBox.checked = state.predicted;
    }
    var initial = JSON.parse(JSON.stringify(state));
    var api = {
      viewer: viewer,
      state: state,
      set: function (changes) { for (var key in changes) state[key] = changes[key]; sync(); draw(); },
      reset: function () { for (var key in initial) state[key] = initial[key]; sync(); draw(); viewer.zoomTo(); viewer.render(); },
      png: function () { return viewer.pngURI(); },
      redrawMs: 0,
      pairsDrawn: 0
    };
    section.psView = api;
    colourSelect.addEventListener('change', function () { api.set({ colouring: +colourSelect.value }); });
    if (att) {
      layerSelect.addEventListener('change', function () { api.set({ layer: +layerSelect.value }); });
      headSelect.addEventListener('change', function () { api.set({ head: +headSelect.value }); });
      thetaInput.addEventListener('input', function () { api.set({ theta: +thetaInput.value }); });
      attBox.addEventListener('change', function () { api.set({ attention: attBox.checked }); });
    }
    if (truthBox) truthBox.addEventListener('change', function () { api.set({ truth: truthBox.checked }); });
    if (predBox) predBox.addEventListener('change', function () { api.set({ predicted: predBox.checked }); });
    reset.addEventListener('click', api.reset);
    save.addEventListener('click', function () {
      var a = el('a', { href: viewer.pngURI(), download: d.protein + '_' + d.chain + '_3d.png' });
      document.body.appendChild(a); a.click(); a.remove();
    });
    sync();
    viewer.zoomTo();
    draw();
  }
  function start() { document.querySelectorAll('section.ps-structure-view').forEach(init); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
