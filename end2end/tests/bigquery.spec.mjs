// Smoke test of the dashboard on the BigQuery warehouse (the emulator, loaded
// with the first 20 days of the demo season by scripts/test.sh).
import { test, expect } from '@playwright/test';

function parseCsv(text) {
  const [header, ...rows] = text.trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

test('the dashboard renders from BigQuery and agrees with its API', async ({ page, request }) => {
  const health = await (await request.get('/healthz')).json();
  expect(health.warehouse.backend).toBe('bigquery');

  const q = 'start=2021-10-26&end=2021-11-07';
  const csv = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  expect(csv.length).toBeGreaterThan(20);
  const gap = csv.find((r) => r.processor === 'PDC' && Number(r.unaccounted) > 0);
  expect(gap, 'the legacy PDC cells have unaccounted players').toBeTruthy();

  await page.goto(`/?${q}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  await expect(grid.locator('td[data-cell]')).toHaveCount(csv.length);
  for (const row of csv.slice(0, 12)) {
    await expect(grid.locator(`td[data-cell="${row.processor}:${row.date}"]`)).toHaveAttribute('data-status', row.status);
  }
  await grid.locator(`td[data-cell="PDC:${gap.date}"] a`).click();
  const detail = page.getByRole('region', { name: 'Cell detail' });
  await expect(detail.getByTestId('unaccounted-count')).toHaveText(gap.unaccounted);
  await expect(page.getByRole('table', { name: 'Reconciliation summary' }).getByRole('row')).toHaveCount(5);
});
