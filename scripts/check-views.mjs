// Opens the pages scripts/check-views.sh builds in headless Chromium with software WebGL and
// checks the views; saves screenshots into OUT. Fails on any console error, page error or
// request other than the file itself and data:/blob: URIs.
// Usage: node check-views.mjs OUT   (reads OUT/structure-view.html, OUT/attention-1000.html and,
// when present, OUT/demo-report.html)
import { chromium } from 'playwright-core';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';

const out = process.argv[2];
// The stated limits for the 1,000-residue view (30 layers × 16 heads) on a CI runner's CPU.
const OPEN_LIMIT_MS = 15000;
const REDRAW_LIMIT_MS = 1000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--use-angle=swiftshader', '--use-gl=angle', '--enable-unsafe-swiftshader',
    '--ignore-gpu-blocklist', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const problems = [];
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) problems.push(what);
}
async function open(file) {
  const url = pathToFileURL(path.resolve(out, file)).href;
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${file}: console error: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${file}: page error: ${e.message}`));
  page.on('request', (r) => {
    const u = r.url();
    if (u !== url && !u.startsWith('data:') && !u.startsWith('blob:')) problems.push(`${file}: request to ${u}`);
  });
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForFunction(() => [...document.querySelectorAll('section.ps-view')].every((s) => s.psView));
  return { page, loadMs: Date.now() - t0 };
}
// In the page: the standard deviation of a canvas's (or a PNG data URI's) grey levels, and a
// fingerprint of its pixels, so "not blank" and "changed" are numbers.
const PIXELS = `async function pixels(source) {
  let canvas = source;
  if (typeof source === 'string') {
    const img = new Image(); img.src = source; await img.decode();
    canvas = document.createElement('canvas'); canvas.width = img.width; canvas.height = img.height;
    canvas.getContext('2d').drawImage(img, 0, 0);
  }
  const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let s = 0, s2 = 0, hash = 0; const n = d.length / 4;
  for (let i = 0; i < d.length; i += 4) { const g = (d[i] + d[i + 1] + d[i + 2]) / 3; s += g; s2 += g * g; hash = (hash * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) >>> 0; }
  return { sd: Math.sqrt(Math.max(0, s2 / n - (s / n) ** 2)), hash, w: canvas.width, h: canvas.height };
}`;

// 1. The structure view with the attention view of the same chain.
{
  const { page, loadMs } = await open('structure-view.html');
  console.log(`structure-view.html: loaded in ${loadMs} ms`);
  const r = await page.evaluate(`(async () => {
    ${PIXELS}
    const s = document.querySelector('section.ps-structure-view').psView;
    const first = await pixels(s.png());
    const firstPairs = s.pairsDrawn;
    s.set({ layer: 1, head: 2 });
    const second = await pixels(s.png());
    const secondPairs = s.pairsDrawn;
    s.set({ colouring: 1 });
    const recoloured = await pixels(s.png());
    s.set({ truth: true });
    await new Promise((ok) => setTimeout(ok, 50));
    const contacts = await pixels(s.png());
    const a = document.querySelector('section.ps-attention-view');
    const canvases = [...a.querySelectorAll('canvas')];
    const before = await Promise.all(canvases.map(pixels));
    a.psView.setLayer(1);
    const head = await pixels(a.querySelector('canvas.ps-head-view'));
    return { first, second, recoloured, firstPairs, secondPairs, contacts, before, head, webgl: document.querySelectorAll('.ps-molecule canvas').length };
  })()`);
  check(r.webgl >= 1, `3D view: a WebGL canvas (${r.webgl})`);
  check(r.first.sd > 5, `3D view drawn, not blank (grey sd ${r.first.sd.toFixed(1)}, ${r.first.w}×${r.first.h})`);
  check(r.firstPairs > 0 && r.secondPairs > 0, `3D view: attention cylinders drawn (${r.firstPairs} in layer 0 head 0, ${r.secondPairs} in layer 1 head 2)`);
  check(r.second.hash !== r.first.hash, '3D view: another layer/head changes the picture');
  check(r.recoloured.hash !== r.second.hash, '3D view: another colouring changes the picture');
  check(r.contacts.hash !== r.recoloured.hash, '3D view: the contacts layer changes the picture');
  r.before.forEach((p, i) => check(p.sd > 3, `attention view canvas ${i + 1} not blank (sd ${p.sd.toFixed(1)}, ${p.w}×${p.h})`));
  check(r.head.hash !== r.before[1].hash, 'attention view: another layer changes the head view');
  await page.screenshot({ path: path.join(out, 'structure-view.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: path.join(out, 'structure-view-dark.png'), fullPage: true });
  await page.close();
}

// 2. The 1,000-residue attention view: 30 layers × 16 heads.
{
  const { page, loadMs } = await open('attention-1000.html');
  const r = await page.evaluate(`(async () => {
    ${PIXELS}
    const a = document.querySelector('section.ps-attention-view');
    const v = a.psView;
    const canvases = [...a.querySelectorAll('canvas')];
    const before = await Promise.all(canvases.map(pixels));
    const times = [];
    let t = performance.now(); v.setLayer(17); times.push(performance.now() - t);
    const layer = await pixels(a.querySelector('canvas.ps-head-view'));
    t = performance.now(); v.setHeads([3]); times.push(performance.now() - t);
    t = performance.now(); v.setWindow(400, 200); times.push(performance.now() - t);
    t = performance.now(); v.select([410, 420, 450]); times.push(performance.now() - t);
    t = performance.now(); v.setWindow(0, 1000); times.push(performance.now() - t);
    const svg = v.svg();
    // The view as a reader first meets it, for the screenshot: all heads, a window of 60.
    v.select([]); v.setHeads([...Array(16).keys()]); v.setLayer(2); v.setWindow(400, 60);
    const d = JSON.parse(a.querySelector('script.ps-data').textContent);
    return { before, layer, times, openMs: v.openMs, svg: svg.length, svgNs: svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), n: d.residues.length,
      layers: d.layers.length, heads: d.heads.length, edges: d.edges, bytes: document.documentElement.outerHTML.length };
  })()`);
  console.log(`attention-1000.html: ${r.n} residues, ${r.layers} × ${r.heads} heads, ${r.edges} edges, page ${(r.bytes / 1e6).toFixed(1)} MB; loaded in ${loadMs} ms (view opened in ${r.openMs.toFixed(0)} ms); redraws ${r.times.map((x) => x.toFixed(0)).join(', ')} ms`);
  check(r.n === 1000 && r.layers === 30 && r.heads === 16, '1,000 residues, 30 × 16 heads');
  r.before.forEach((p, i) => check(p.sd > 3, `canvas ${i + 1} not blank (sd ${p.sd.toFixed(1)}, ${p.w}×${p.h})`));
  check(r.layer.hash !== r.before[1].hash, 'another layer changes the head view');
  check(loadMs < OPEN_LIMIT_MS, `opens within ${OPEN_LIMIT_MS} ms (${loadMs} ms)`);
  check(Math.max(...r.times) < REDRAW_LIMIT_MS, `every redraw within ${REDRAW_LIMIT_MS} ms (slowest ${Math.max(...r.times).toFixed(0)} ms)`);
  check(r.svg > 1000 && r.svgNs, `SVG export, in the SVG namespace (${r.svg} bytes)`);
  await page.screenshot({ path: path.join(out, 'attention-1000.png'), fullPage: true });
  await page.close();
}
// 3. The demo report's interactive views (when the shell script built the tiny demo): both
// views drawn among the report's figures, another head changes the 3D picture.
if (existsSync(path.join(out, 'demo-report.html'))) {
  const { page, loadMs } = await open('demo-report.html');
  const r = await page.evaluate(`(async () => {
    ${PIXELS}
    const section = document.querySelector('section.ps-structure-view');
    const s = section.psView;
    const a0 = document.querySelector('section.ps-attention-view').psView.state;
    const opened = { layer: a0.layer, heads: a0.heads.filter(Boolean).length };
    const first = await pixels(s.png());
    const pairs = s.pairsDrawn;
    // The tiny model's near-uniform attention has no pair above 0.1: colour by attention
    // received, which differs between heads.
    const received = [...section.querySelectorAll('option')].find((o) => o.textContent.startsWith('attention received'));
    s.set({ colouring: +received.value });
    const byReceived = await pixels(s.png());
    s.set({ layer: 0, head: 0 });
    const other = await pixels(s.png());
    const a = document.querySelector('section.ps-attention-view');
    const canvases = await Promise.all([...a.querySelectorAll('canvas')].map(pixels));
    return { opened, first, byReceived, other, pairs, canvases, bytes: document.documentElement.outerHTML.length,
      figures: document.querySelectorAll('figure svg, figure img').length };
  })()`);
  console.log(`demo-report.html: page ${(r.bytes / 1e6).toFixed(2)} MB, ${r.figures} static figures, loaded in ${loadMs} ms`);
  check(r.opened.heads === 1, `demo report: the attention view opens on one head (layer ${r.opened.layer + 1}, ${r.opened.heads} heads)`);
  check(r.first.sd > 5, `demo report: 3D view drawn (grey sd ${r.first.sd.toFixed(1)}), ${r.pairs} cylinders`);
  check(r.other.hash !== r.byReceived.hash, 'demo report: another head changes the 3D picture (coloured by attention received)');
  r.canvases.forEach((p, i) => check(p.sd > 3, `demo report: attention view canvas ${i + 1} not blank (sd ${p.sd.toFixed(1)})`));
  for (const [cls, name] of [['ps-structure-view', 'demo-report-structure'], ['ps-attention-view', 'demo-report-attention']]) {
    await (await page.$(`section.${cls}`)).screenshot({ path: path.join(out, `${name}.png`) });
  }
  await page.close();
}
await browser.close();
if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('all view checks passed');
