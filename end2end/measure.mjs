// Dashboard measurements for docs/benchmarks.md (not a test: numbers only).
// Usage: node measure.mjs BASE_URL SITE_PKG_DIR OUTPUT_MD
import { chromium } from '@playwright/test';
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [base, pkgDir, output] = process.argv.slice(2);
const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function serverRender(path, runs = 5) {
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
async function interactive(path, runs = 3) {
  const times = [];
  let cells = 0;
  for (let i = 0; i < runs; i++) {
    const page = await browser.newPage();
    const t = performance.now();
    await page.goto(base + path, { waitUntil: 'commit' });
    await page.waitForSelector('body[data-hydrated="true"]', { timeout: 120000 });
    times.push(performance.now() - t);
    cells = await page.locator('td[data-cell], td.rc-cell-nogames').count();
    await page.close();
  }
  return { ms: median(times), cells };
}

const rows = [];
const season = '/?start=2021-10-19&end=2022-04-10';
rows.push(['server render, season page (4 × ~165 cells), median of 5', `${(await serverRender(season)).toFixed(0)} ms`]);
for (const [label, path] of [
  ['1 month', '/?start=2021-11-01&end=2021-11-30'],
  ['1 season', season],
  ['3 years', '/?start=2019-04-11&end=2022-04-10'],
  ['10 years', '/?start=2012-04-13&end=2022-04-10'],
]) {
  const r = await interactive(path);
  rows.push([`time to interactive in headless Chromium, ${label} (${r.cells} grid cells), median of 3`, `${r.ms.toFixed(0)} ms`]);
}
// Screenshots for the README.
{
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(base + '/?start=2021-10-19&end=2022-04-10');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.screenshot({ path: '../docs/coverage.png', fullPage: false });
  await page.goto(base + '/?start=2021-11-01&end=2021-11-30&cell=PDC:2021-11-10');
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.getByRole('region', { name: 'Cell detail' }).scrollIntoViewIfNeeded();
  await page.screenshot({ path: '../docs/drilldown.png', fullPage: false });
  await page.close();
}
await browser.close();
// The bundle as served: the content-hashed name scripts/build.sh recorded,
// with the .br / .gz twins it wrote beside each file.
const nameFile = join(pkgDir, '..', 'output-name');
if (existsSync(nameFile)) {
  const name = readFileSync(nameFile, 'utf8').trim();
  const size = (f) => (existsSync(f) ? statSync(f).size : NaN);
  for (const [label, file] of [['hydrate bundle (wasm)', `${name}_bg.wasm`], ['loader (js)', `${name}.js`], ['stylesheet (css)', `${name}.css`]]) {
    const f = join(pkgDir, file);
    rows.push([`${label} ${file}, raw / gzip / brotli as served`, `${size(f)} / ${size(f + '.gz')} / ${size(f + '.br')} bytes`]);
  }
}
const table = '| measurement | value |\n|---|---:|\n' + rows.map(([a, b]) => `| ${a} | ${b} |`).join('\n') + '\n';
const open = '<!-- bench:dashboard -->';
const close = '<!-- /bench:dashboard -->';
const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ');
const block = `${open}\n_Measured ${stamp} UTC by \`scripts/bench.sh\` (end2end/measure.mjs)._\n\n${table}${close}`;
let md = existsSync(output) ? readFileSync(output, 'utf8') : '# Benchmarks\n';
const a = md.indexOf(open), b = md.indexOf(close);
md = a >= 0 && b > a ? md.slice(0, a) + block + md.slice(b + close.length) : md.trimEnd() + '\n\n' + block + '\n';
writeFileSync(output, md);
console.log(table);
