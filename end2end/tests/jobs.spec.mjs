// Re-runs from the dashboard, hydrated, on the demo store: pick cells, preview
// the dry run, start the job, watch its progress live, see the cells turn OK.
// Runs after the read-only projects (it changes the store).
import { test, expect } from '@playwright/test';

function parseCsv(text) {
  const [header, ...rows] = text.trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

const FINE = ['OK', 'EXPECTED_GAPS', 'NO_GAMES'];

// Opens the <details> whose summary reads `summary` (long lists are folded).
async function unfold(page, summary) {
  const details = page.locator('details', { has: page.locator('summary', { hasText: summary }) });
  if (!(await details.evaluate((d) => d.open))) await details.locator('summary').click();
  await expect(details).toHaveJSProperty('open', true);
}

test('re-running the not-OK PDC/PCF/MLFS cells closes every gap', async ({ page, request }) => {
  test.setTimeout(120_000);
  const q = 'start=2021-11-05&end=2021-11-15&p=PDC,PCF,MLFS';
  const before = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  const notOk = before.filter((r) => !FINE.includes(r.status));
  expect(notOk.length).toBeGreaterThan(5);
  expect(notOk.some((r) => Number(r.unaccounted) > 0)).toBe(true);

  await page.goto(`/?${q}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  // Picking: click one cell, shift-click another in the same row: the run
  // between them is picked, and no drill-down opens.
  await page.getByLabel('Select cells (shift-click for a run)').check();
  await page.locator('td[data-cell="PDC:2021-11-05"] a').click();
  await page.locator('td[data-cell="PDC:2021-11-08"] a').click({ modifiers: ['Shift'] });
  await expect(page.locator('td.rc-picked')).toHaveCount(4);
  await expect(page).not.toHaveURL(/cell=/);
  const picked = page.getByRole('link', { name: 'Re-run selected (4)' });
  await expect(picked).toHaveAttribute('href', /p=PDC&dates=2021-11-05%2C2021-11-06%2C2021-11-07%2C2021-11-08/);

  // Every not-OK cell in view: the dry run lists each of them, nothing written yet.
  await page.getByRole('link', { name: /Re-run not-OK cells in view/ }).click();
  await expect(page).toHaveURL(/\/rerun\?/);
  // Start and the per-processor summary come before the full list.
  const start = page.getByRole('button', { name: 'Start re-run' });
  const perProcessor = page.getByRole('table', { name: 'Cells per processor' });
  await expect(perProcessor.getByRole('row', { name: /^PDC / })).toHaveCount(1);
  await unfold(page, /^All \d+ cells?$/);
  const preview = page.getByRole('table', { name: 'Cells to run' });
  const startY = (await start.boundingBox()).y;
  expect(startY).toBeLessThan((await preview.boundingBox()).y);
  for (const r of notOk) {
    await expect(preview.getByRole('row', { name: new RegExp(`^${r.processor} ${r.date} `) })).toHaveCount(1);
  }
  await expect(page.getByTestId('preview-summary')).toContainText('Nothing has been written yet');
  const unchanged = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  expect(unchanged).toEqual(before);

  await page.getByRole('button', { name: 'Start re-run' }).click();
  await expect(page).toHaveURL(/\/jobs\/job-/);
  await page.evaluate(() => { window.__rollcallMarker = 'live'; });
  // Progress updates in place (polling), up to 100 %.
  await expect(page.getByTestId('job-state')).toHaveText('succeeded', { timeout: 90_000 });
  await expect(page.getByTestId('job-percent')).toHaveText('100%');
  expect(await page.evaluate(() => window.__rollcallMarker)).toBe('live');
  await expect(page.getByTestId('change-counts')).toContainText('gap closed');
  // The headline says what the job left, and each processor's result leads.
  await expect(page.getByTestId('job-headline')).toContainText(/^succeeded — /);
  await expect(page.getByRole('table', { name: 'Result per processor' }).getByRole('row', { name: /^PDC / })).toHaveCount(1);
  await expect(page.getByRole('figure', { name: 'Touched cells before and after' })).toBeVisible();
  await unfold(page, /^All \d+ cells? touched$/);
  // Nothing is left unaccounted; a cell may stay "open" only as a date-level
  // dependency failure (every player accounted for by the DATE_LEVEL row).
  const touched = page.getByRole('table', { name: 'Touched cells' });
  await expect(touched.locator('tr[data-change="new investigate failures"]')).toHaveCount(0);
  const open = touched.locator('tr[data-change="still open"]');
  for (let i = 0; i < await open.count(); i++) {
    await expect(open.nth(i)).toContainText('DEPS_MISSING (0 unaccounted, 0 investigate)');
  }

  // The API and the heatmap agree: those cells are OK, 0 unaccounted.
  const after = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  for (const r of notOk) {
    const a = after.find((x) => x.processor === r.processor && x.date === r.date);
    expect(a.unaccounted, `${r.processor} ${r.date}`).toBe('0');
    expect(a.investigate, `${r.processor} ${r.date}`).toBe('0');
    expect([...FINE, 'DEPS_MISSING'], `${r.processor} ${r.date}`).toContain(a.status);
  }
  await page.goto(`/?${q}`);
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  for (const a of after) {
    await expect(grid.locator(`td[data-cell="${a.processor}:${a.date}"]`)).toHaveAttribute('data-status', a.status);
  }

  // The jobs page lists it as succeeded.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await expect(page.getByRole('table', { name: 'Jobs' }).getByRole('row').nth(1)).toContainText('succeeded');
});

// Issue [M] 5: the re-run page's stop rules travel with the request to the
// job (a tracked PSZA run leaves nobody unaccounted, so it runs to the end).
test('stop rules chosen on the re-run page are the job\'s', async ({ page }) => {
  test.setTimeout(90_000);
  await page.goto('/rerun?p=PSZA&start=2021-11-20&end=2021-11-21&mode=all&downstream=no');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const rules = page.getByRole('group', { name: 'Stop when a written cell has' });
  await rules.getByLabel('Unaccounted entities').check();
  await page.getByRole('button', { name: 'Preview' }).click();
  await expect(page).toHaveURL(/stop_on=unaccounted/);
  await page.getByRole('button', { name: 'Start re-run' }).click();
  await expect(page).toHaveURL(/\/jobs\/job-/);
  await expect(page.getByTestId('job-state')).toHaveText('succeeded', { timeout: 60_000 });
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await expect(page.getByRole('table', { name: 'Jobs' }).getByRole('row').nth(1))
    .toContainText('stop on unaccounted');
});
