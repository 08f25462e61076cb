// The server-rendered page, with JavaScript disabled: what a shared link shows
// before (or without) hydration.
import { test, expect } from '@playwright/test';

test('coverage page renders the range and table counts without JavaScript', async ({ page }) => {
  const res = await page.goto('/?start=2021-11-05&end=2021-11-15');
  expect(res.status()).toBe(200);
  await expect(page.getByRole('heading', { name: 'Coverage' })).toBeVisible();
  const summary = page.getByRole('region', { name: 'Coverage summary' });
  await expect(summary).toContainText('2021-11-05 – 2021-11-15');
  // Issue [Q] 6: the upstream tables are one line under the heatmap,
  // folded; the disclosure opens without JavaScript.
  await expect(summary).toContainText('11 game dates');
  await expect(page.getByRole('table', { name: 'Game dates' })).toBeHidden();
  await summary.getByText('Game dates and table row counts (11 dates)').click();
  const counts = page.getByRole('table', { name: 'Rows per table in range' });
  // header + one row per Rollcall table
  await expect(counts.getByRole('row')).toHaveCount(9);
  // The demo season has games on every one of these 11 dates: header + 11 rows.
  await expect(page.getByRole('table', { name: 'Game dates' }).getByRole('row')).toHaveCount(12);
  await expect(page.getByLabel('Start date')).toHaveValue('2021-11-05');
  await expect(page.getByLabel('End date')).toHaveValue('2021-11-15');
});

test('the date form works as a plain GET form', async ({ page }) => {
  await page.goto('/?start=2021-11-05&end=2021-11-15');
  await page.getByLabel('Start date').fill('2021-11-07');
  await page.getByLabel('End date').fill('2021-11-09');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/start=2021-11-07&end=2021-11-09/);
  await expect(page.getByRole('region', { name: 'Coverage summary' })).toContainText('2021-11-07 – 2021-11-09');
});

test('malformed and reversed dates give an inline message and HTTP 400', async ({ page }) => {
  let res = await page.goto('/?start=not-a-date&end=2021-11-15');
  expect(res.status()).toBe(400);
  await expect(page.getByRole('alert')).toContainText("start: 'not-a-date' is not a date");

  res = await page.goto('/?start=2021-11-15&end=2021-11-01');
  expect(res.status()).toBe(400);
  await expect(page.getByRole('alert')).toContainText('start date 2021-11-15 is after end date 2021-11-01');
});

test('unknown paths are a 404 page', async ({ page }) => {
  const res = await page.goto('/no/such/page');
  expect(res.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Not found' })).toBeVisible();
});

test('the heatmap, summary table and a drill-down render without JavaScript', async ({ page }) => {
  await page.goto('/?start=2021-11-05&end=2021-11-15&cell=PDC:2021-11-10');
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  await expect(grid.locator('td[data-cell]')).toHaveCount(44);
  await expect(page.getByRole('table', { name: 'Reconciliation summary' }).getByRole('row')).toHaveCount(5);
  await expect(page.getByRole('region', { name: 'Cell detail' })).toContainText('PDC 2021-11-10');
  // Links work as plain navigation.
  await grid.locator('td[data-cell="PSZA:2021-11-12"] a').click();
  await expect(page.getByRole('region', { name: 'Cell detail' })).toContainText('PSZA 2021-11-12');
});

test('the re-run dialog shows its dry run without JavaScript', async ({ page }) => {
  await page.goto('/?start=2021-11-05&end=2021-11-15&p=PDC');
  await page.getByRole('link', { name: /Re-run not-OK cells in view/ }).click();
  await expect(page).toHaveURL(/\/rerun\?p=PDC&start=2021-11-05&end=2021-11-15&mode=gaps/);
  await expect(page.getByRole('group', { name: 'Processors' }).getByLabel('PDC')).toBeChecked();
  await expect(page.getByLabel('Only cells that are not OK')).toBeChecked();
  // Start and the per-processor summary first; the long list is folded
  // and opens without JavaScript.
  await expect(page.getByRole('table', { name: 'Cells per processor' }).getByRole('row', { name: /^PDC / })).toHaveCount(1);
  await page.getByText(/^All \d+ cells?$/).click();
  const rows = page.getByRole('table', { name: 'Cells to run' }).getByRole('row');
  expect(await rows.count()).toBeGreaterThan(1);
  await expect(page.getByTestId('preview-summary')).toContainText('Nothing has been written yet');
  await expect(page.getByRole('button', { name: 'Start re-run' })).toBeVisible();
  // Editing the request is a plain GET form too.
  await page.getByLabel('All cells').check();
  await page.getByRole('button', { name: 'Preview' }).click();
  await expect(page).toHaveURL(/mode=all/);
  await expect(page.getByRole('note', { name: 'Operator access' })).toContainText('allowed without a token');
});

test('two seasons are drawn by week without JavaScript, and a week links to its days', async ({ page, request }) => {
  await page.goto('/?start=2021-01-04&end=2022-12-25');
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  await expect(grid).toHaveAttribute('data-period', 'week');
  await expect(grid.locator('tbody tr').first().locator('td')).toHaveCount(103);
  const week = grid.locator('td[data-column="2021-11-08"]').first();
  await expect(week).toHaveAttribute('data-status', /[A-Z_]+/);
  await week.locator('a').click();
  await expect(page).toHaveURL(/start=2021-11-08&end=2021-11-14/);
  const days = (await (await request.get('/report.csv?start=2021-11-08&end=2021-11-14')).text()).trim().split('\n');
  expect(days.length - 1).toBeGreaterThan(0);
  await expect(grid.locator('td[data-cell]')).toHaveCount(days.length - 1);
});

// Issue [M] 2: the change feed is a plain page; a bad span is a 400 naming it.
test('the change feed renders without JavaScript and refuses a bad span', async ({ page }) => {
  let res = await page.goto('/changes?since=7d');
  expect(res.status()).toBe(200);
  const changes = page.getByRole('table', { name: 'Changes' });
  await expect(changes.getByRole('link', { name: 'PDC 2021-11-10' })).toHaveAttribute(
    'href', '/?start=2021-11-10&end=2021-11-10&cell=PDC:2021-11-10');
  await expect(page.getByRole('navigation', { name: 'Since' }).getByRole('link')).toHaveCount(3);
  res = await page.goto('/changes?since=forever');
  expect(res.status()).toBe(400);
  await expect(page.getByRole('alert')).toContainText('since: "forever"');
  res = await page.goto('/alerts');
  expect(res.status()).toBe(200);
  await expect(page.getByRole('heading', { name: 'Alerts' })).toBeVisible();
});
