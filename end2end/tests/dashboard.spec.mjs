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
  await expect(page).toHaveURL(new RegExp(`/players/${player}\\?date=2021-11-17`));
  await expect(page.getByRole('heading', { level: 1 })).toContainText(player);
  await expect(page.getByRole('note')).toContainText(/Root cause: (PSZA|PDC)/);
  const links = page.getByRole('list', { name: 'Trace' }).getByRole('listitem');
  await expect(links).toHaveCount(4);
  await expect(links.nth(3)).toContainText('MISSING_UPSTREAM');
  await expect(page.locator('.rc-link-root')).toContainText('root cause');
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
