// Heatmap scale, side by side (not a test: numbers only): server render, time
// to interactive, the longest main-thread task while hovering and scrolling,
// cells drawn, a first visit over a modest link, and whether a season fits a
// 1600-pixel screen, for each server.
// Usage: node measure-heatmap.mjs OUTPUT_MD LABEL=BASE_URL [LABEL=BASE_URL ...]
// The table replaces the `bench:heatmap` section, or the one BENCH_SECTION names.
import { chromium } from '@playwright/test';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

const [output, ...servers] = process.argv.slice(2);
const targets = servers.map((s) => {
  const i = s.indexOf('=');
  return { label: s.slice(0, i), base: s.slice(i + 1) };
});
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const views = [
  ['1 season', '/?start=2021-10-19&end=2022-04-10'],
  ['5 years', '/?start=2018-01-01&end=2022-12-31'],
  ['10 years', '/?start=2013-01-01&end=2022-12-31'],
];

async function serverRender(base, path, runs = 5) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const res = await fetch(base + path);
    await res.text();
    times.push(performance.now() - t);
  }
  return median(times);
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args });

async function interactive(base, path, runs = 3) {
  const times = [];
  const longest = [];
  let cells = 0;
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
    await page.addInitScript(() => {
      window.__longest = 0;
      new PerformanceObserver((list) => {
        for (const e of list.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
    const t = performance.now();
    await page.goto(base + path, { waitUntil: 'commit' });
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 120000 });
    times.push(performance.now() - t);
    const grid = page.getByRole('table', { name: 'Coverage heatmap' });
    const links = grid.locator('td.rc-cell a');
    cells = await grid.locator('td.rc-cell').count();
    // Hover 40 cells spread over the grid, then scroll it end to end.
    const n = await links.count();
    for (let k = 0; k < 40 && n > 0; k++) {
      await links.nth(Math.floor((k * n) / 40)).hover({ force: true });
    }
    await page.evaluate(() => {
      const wrap = document.querySelector('.rc-heatmap-wrap');
      wrap.scrollLeft = wrap.scrollWidth;
      window.scrollTo(0, document.body.scrollHeight);
    });
    await page.waitForTimeout(200);
    longest.push(await page.evaluate(() => window.__longest));
    await page.close();
  }
  return { ms: median(times), longest: Math.max(...longest), cells };
}

// A first visit over a modest link (20 Mbit/s down, 40 ms round trip, empty
// cache), where the bundle's size shows: time to interactive and the bytes
// that crossed the wire.
async function firstVisit(base, path, runs = 3) {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    const context = await browser.newContext({ viewport: { width: 1600, height: 900 } });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 40, downloadThroughput: 20e6 / 8, uploadThroughput: 5e6 / 8,
    });
    let received = 0;
    cdp.on('Network.loadingFinished', (e) => { received += e.encodedDataLength; });
    const t = performance.now();
    await page.goto(base + path, { waitUntil: 'commit' });
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 120000 });
    times.push(performance.now() - t);
    bytes = received;
    await context.close();
  }
  return { ms: median(times), bytes };
}

async function fits(base) {
  const page = await browser.newPage({ viewport: { width: 1600, height: 900 } });
  await page.goto(base + views[0][1]);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 120000 });
  const r = await page.evaluate(() => {
    const wrap = document.querySelector('.rc-heatmap-wrap');
    const cols = [...document.querySelectorAll('.rc-heatmap tbody tr:first-child td')];
    const visible = cols.filter((td) => td.getBoundingClientRect().right <= wrap.getBoundingClientRect().right).length;
    return { visible, total: cols.length };
  });
  await page.close();
  return `${r.visible} of ${r.total}`;
}

const rows = new Map();
const put = (label, col, value) => {
  if (!rows.has(label)) rows.set(label, {});
  rows.get(label)[col] = value;
};
for (const { label, base } of targets) {
  for (const [view, path] of views) {
    put(`server render, ${view}, median of 5`, label, `${(await serverRender(base, path)).toFixed(0)} ms`);
  }
  for (const [view, path] of views) {
    const r = await interactive(base, path);
    put(`time to interactive, ${view}, median of 3`, label, `${r.ms.toFixed(0)} ms`);
    put(`longest main-thread task, ${view} (load, 40 hovers, scroll)`, label, `${r.longest.toFixed(0)} ms`);
    put(`grid cells drawn, ${view}`, label, `${r.cells}`);
  }
  const first = await firstVisit(base, views[0][1]);
  put(`first visit over 20 Mbit/s and 40 ms, ${views[0][0]}: time to interactive, median of 3`, label, `${first.ms.toFixed(0)} ms`);
  put(`first visit over 20 Mbit/s and 40 ms, ${views[0][0]}: bytes received`, label, `${first.bytes}`);
  put('season dates on a 1600-pixel screen without scrolling', label, await fits(base));
}
await browser.close();

const labels = targets.map((t) => t.label);
const table = `| measurement | ${labels.join(' | ')} |\n|---|${labels.map(() => '---:').join('|')}|\n`
  + [...rows].map(([m, v]) => `| ${m} | ${labels.map((l) => v[l] ?? '–').join(' | ')} |`).join('\n') + '\n';
const section = process.env.BENCH_SECTION || 'heatmap';
const open = `<!-- bench:${section} -->`;
const close = `<!-- /bench:${section} -->`;
const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ');
const block = `${open}\n_Measured ${stamp} UTC by end2end/measure-heatmap.mjs, every server in one run; columns are the servers (label = what it serves)._\n\n${table}${close}`;
let md = existsSync(output) ? readFileSync(output, 'utf8') : '# Benchmarks\n';
const a = md.indexOf(open), b = md.indexOf(close);
md = a >= 0 && b > a ? md.slice(0, a) + block + md.slice(b + close.length) : md.trimEnd() + '\n\n' + block + '\n';
writeFileSync(output, md);
console.log(table);
