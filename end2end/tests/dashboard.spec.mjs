// The coverage dashboard on the demo store: heatmap, drill-down, player trace,
// shareable links and exports, hydrated.
import { test, expect } from '@playwright/test';

function parseCsv(text) {
  const [header, ...rows] = text.trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

test('season heatmap has one cell per game date and processor, matching the API', async ({ page, request }) => {
  const q = 'start=2021-10-19&end=2022-04-10';
  const csv = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  await page.goto(`/?${q}`);
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  await expect(grid.locator('td[data-cell]')).toHaveCount(csv.length);
  // Sample every 37th cell: the page's status equals the API's.
  for (let i = 0; i < csv.length; i += 37) {
    const row = csv[i];
    const cell = grid.locator(`td[data-cell="${row.processor}:${row.date}"]`);
    await expect(cell).toHaveAttribute('data-status', row.status);
  }
  await expect(page.getByRole('table', { name: 'Reconciliation summary' }).getByRole('row')).toHaveCount(5);
});

test('clicking a cell opens its drill-down with the reconciled unaccounted count', async ({ page, request }) => {
  const q = 'start=2021-11-05&end=2021-11-15';
  const csv = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  const pdc = csv.find((r) => r.processor === 'PDC' && r.date === '2021-11-10');
  await page.goto(`/?${q}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.evaluate(() => { window.__rollcallMarker = 'same-document'; });
  await page.locator('td[data-cell="PDC:2021-11-10"] a').click();
  await expect(page).toHaveURL(/cell=PDC(%3A|:)2021-11-10/);
  const detail = page.getByRole('region', { name: 'Cell detail' });
  await expect(detail.getByRole('heading', { level: 2 })).toContainText('PDC 2021-11-10');
  await expect(detail.getByTestId('unaccounted-count')).toHaveText(pdc.unaccounted);
  await expect(detail.getByRole('list', { name: 'Unaccounted players' }).getByRole('listitem'))
    .toHaveCount(Number(pdc.unaccounted));
  expect(await page.evaluate(() => window.__rollcallMarker)).toBe('same-document');
});

test('a copied link opened in a fresh browser context shows the same selection', async ({ page, browser }) => {
  await page.goto('/?start=2021-11-05&end=2021-11-15&p=PDC,PCF&cell=PCF:2021-11-08');
  const url = page.url();
  const other = await browser.newContext();
  const fresh = await other.newPage();
  await fresh.goto(url);
  const grid = fresh.getByRole('table', { name: 'Coverage heatmap' });
  await expect(grid.getByRole('rowheader')).toHaveText(['PDC', 'PCF']);
  await expect(fresh.getByRole('region', { name: 'Cell detail' }).getByRole('heading', { level: 2 }))
    .toContainText('PCF 2021-11-08');
  await other.close();
});

test('player trace shows the root cause of an MLFS MISSING_UPSTREAM', async ({ page }) => {
  // scripts/test.sh re-ran PDC and its downstream with failure tracking over
  // 2021-11-16..18, so MLFS has real MISSING_UPSTREAM rows there.
  await page.goto('/?start=2021-11-17&end=2021-11-17&cell=MLFS:2021-11-17&cat=MISSING_UPSTREAM');
  const rows = page.getByRole('table', { name: 'Failure rows' }).getByRole('row');
  await expect(rows.nth(1)).toContainText('MISSING_UPSTREAM');
  const link = rows.nth(1).getByRole('link');
  const player = (await link.textContent()).trim();
  await link.click();
  await expect(page).toHaveURL(new RegExp(`/trace/${player}\\?date=2021-11-17`));
  await expect(page.getByRole('heading', { level: 1 })).toContainText(player);
  await expect(page.getByRole('note')).toContainText(/Root cause: (PSZA|PDC)/);
  const links = page.getByRole('list', { name: 'Trace' }).getByRole('listitem');
  await expect(links).toHaveCount(4);
  await expect(links.nth(3)).toContainText('MISSING_UPSTREAM');
  await expect(page.locator('.rc-link-root')).toContainText('root cause');
});

test('a silent drop is its own root cause, not an upstream the processor does not read', async ({ page }) => {
  // brandonsmartjr on 2021-11-01 (demo state): PSZA's expected failure, PDC
  // ran without failure tracking and dropped him. PDC does not read PSZA.
  await page.goto('/trace/brandonsmartjr?date=2021-11-01');
  const links = page.getByRole('list', { name: 'Trace' }).getByRole('listitem');
  await expect(links.nth(0)).toContainText('PSZA');
  await expect(links.nth(0)).toContainText('expected');
  await expect(links.nth(1)).toContainText('UNACCOUNTED');
  await expect(page.getByRole('note')).toHaveText('Root cause: PDC (investigate)');
});

test('report.png is a PNG of the advertised size', async ({ request }) => {
  const res = await request.get('/report.png?start=2021-11-01&end=2021-11-30');
  expect(res.status()).toBe(200);
  const buf = await res.body();
  expect(buf.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  expect(buf.readUInt32BE(16)).toBe(1200);
  expect(buf.readUInt32BE(20)).toBe(630);
});

test('"Copy link" puts the exact view URL on the clipboard', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.goto('/?start=2021-11-05&end=2021-11-15&cell=PDC:2021-11-10');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('button', { name: 'Copy link' }).click();
  await expect(page.getByRole('button', { name: 'Link copied' })).toBeVisible();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  expect(copied).toBe(page.url());
});

test('a season fits a 1600-pixel screen, with every number in the tooltip', async ({ page, request }) => {
  await page.setViewportSize({ width: 1600, height: 900 });
  const q = 'start=2021-10-19&end=2022-04-10';
  const csv = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  await page.goto(`/?${q}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  await expect(grid).toHaveAttribute('data-period', 'day');
  const fits = await grid.evaluate((t) => {
    const wrap = t.parentElement;
    return { scroll: wrap.scrollWidth, client: wrap.clientWidth, right: t.getBoundingClientRect().right };
  });
  expect(fits.scroll, JSON.stringify(fits)).toBeLessThanOrEqual(fits.client);
  expect(fits.right).toBeLessThanOrEqual(1600);
  // The last date is on screen, and its numbers are a tooltip away.
  const last = csv.filter((r) => r.processor === 'MLFS').at(-1);
  const link = grid.locator(`td[data-cell="MLFS:${last.date}"] a`);
  await expect(link).toBeInViewport();
  await expect(link).toHaveAttribute('title', new RegExp(`expected ${last.expected}, record ${last.has_record}`));
});

test('five years are drawn by month, and a month opens its days', async ({ page, request }) => {
  const q = 'start=2018-01-01&end=2022-12-31';
  await page.goto(`/?${q}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  await expect(grid).toHaveAttribute('data-period', 'month');
  // 60 months per processor; only the demo season's months have games.
  await expect(grid.getByRole('row')).toHaveCount(2 + 4);
  await expect(grid.locator('tbody tr').first().locator('td')).toHaveCount(60);
  // A month's numbers are its days' sums (from the API, per day).
  const csv = parseCsv(await (await request.get('/report.csv?start=2021-11-01&end=2021-11-30')).text());
  const pdc = csv.filter((r) => r.processor === 'PDC');
  const sum = (k) => pdc.reduce((n, r) => n + Number(r[k]), 0);
  const month = grid.locator('tr', { has: page.getByRole('rowheader', { name: 'PDC' }) })
    .locator('td[data-column="2021-11-01"] a');
  await expect(month).toHaveAttribute('title', new RegExp(`expected ${sum('expected')}, record ${sum('has_record')}`));
  await expect(month).toHaveAttribute('title', new RegExp(`unaccounted ${sum('unaccounted')},`));
  await month.click();
  await expect(page).toHaveURL(/start=2021-11-01&end=2021-11-30/);
  await expect(grid).toHaveAttribute('data-period', 'day');
  await expect(grid.locator('td[data-cell^="PDC:"]')).toHaveCount(pdc.length);
});

test('a month uses the page width, so its cells can show their marks', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto('/?start=2021-11-01&end=2021-11-30');
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  const gridBox = await grid.boundingBox();
  const cell = await grid.locator('td[data-cell="PDC:2021-11-10"]').boundingBox();
  // 30 day columns across the page, not 14-pixel slivers at its left.
  expect(gridBox.width).toBeGreaterThan(1000);
  expect(cell.width).toBeGreaterThan(24);
  expect(cell.height).toBeGreaterThanOrEqual(26);
});

test('entities in cells never run are counted apart from silent drops', async ({ page }) => {
  // The demo never ran PDC in December: everyone there is in never-run cells.
  await page.goto('/?start=2021-12-01&end=2021-12-05&p=PDC');
  await expect(page.locator('.rc-headline')).toContainText(/in cells never run/);
  const pdc = page.getByRole('table', { name: 'Reconciliation summary' }).getByRole('row', { name: /^PDC / });
  const cells = pdc.getByRole('cell');
  // Expected, Has Record, Has Failure, Unaccounted, Of them never run, …
  const unaccounted = await cells.nth(3).textContent();
  expect(Number(unaccounted)).toBeGreaterThan(0);
  await expect(cells.nth(4)).toHaveText(unaccounted);
});
