// Another pipeline entirely: pipelines/orders (customers per order date, two
// Python scripts run as commands), served by scripts/test.sh after
// `rollcall --pipeline pipelines/orders/pipeline.toml demo`. Heatmap,
// drill-down, trace and a re-run that runs the team's script again.
import { test, expect } from '@playwright/test';

function parseCsv(text) {
  const [header, ...rows] = text.trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

test('a link without dates shows the pipeline\'s own weeks, matching the API', async ({ page, request }) => {
  const csv = parseCsv(await (await request.get('/report.csv')).text());
  // Two processors, an order every day of 2024-03-01..28.
  expect(csv.length).toBe(56);
  expect(new Set(csv.map((r) => r.processor))).toEqual(new Set(['DAILY', 'LOYALTY']));
  await page.goto('/');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByRole('region', { name: 'Coverage summary' })).toContainText('2024-03-01 – 2024-03-28');
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  await expect(grid.getByRole('rowheader')).toHaveText(['DAILY', 'LOYALTY']);
  await expect(grid.locator('td[data-cell]')).toHaveCount(csv.length);
  for (const row of csv) {
    await expect(grid.locator(`td[data-cell="${row.processor}:${row.date}"]`)).toHaveAttribute('data-status', row.status);
  }
  // No NBA season presets on an orders pipeline: only its own view.
  const presets = page.getByRole('navigation', { name: 'Presets' }).getByRole('link');
  await expect(presets).toHaveText(['Default view']);
});

test('drill-down and trace: the customers the script forgot on a Saturday', async ({ page, request }) => {
  const q = 'start=2024-03-02&end=2024-03-02';
  const csv = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  const daily = csv.find((r) => r.processor === 'DAILY');
  expect(Number(daily.unaccounted)).toBeGreaterThan(0);
  await page.goto(`/?${q}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.locator('td[data-cell="DAILY:2024-03-02"] a').click();
  const detail = page.getByRole('region', { name: 'Cell detail' });
  await expect(detail.getByTestId('unaccounted-count')).toHaveText(daily.unaccounted);
  const forgotten = detail.getByRole('list', { name: 'Unaccounted customers' }).getByRole('listitem');
  await expect(forgotten).toHaveCount(Number(daily.unaccounted));
  for (const who of await forgotten.allTextContents()) {
    expect(who.trim()).toMatch(/^C\d{3}7$/);
  }
  await forgotten.first().getByRole('link').click();
  await expect(page).toHaveURL(/\/trace\/C\d{3}7\?date=2024-03-02/);
  const links = page.getByRole('list', { name: 'Trace' }).getByRole('listitem');
  await expect(links).toHaveCount(2);
  await expect(links.nth(0)).toContainText('DAILY');
  await expect(links.nth(0)).toContainText('UNACCOUNTED');
  // Issue [Q] 3: DAILY's own silent drop is its own root, to investigate.
  await expect(page.getByRole('note')).toHaveText('Root cause: DAILY (investigate)');
  await expect(page.getByText('Expected on this date.')).toBeVisible();
});

test('re-running a cell runs the team\'s script again and records the run', async ({ page, request }) => {
  test.setTimeout(90_000);
  const q = 'start=2024-03-04&end=2024-03-04&cell=LOYALTY:2024-03-04';
  await page.goto(`/?${q}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const detail = page.getByRole('region', { name: 'Cell detail' });
  const runs = detail.getByRole('table', { name: 'Runs' }).getByRole('row');
  const before = await runs.count();
  await detail.getByRole('link', { name: 'Re-run this cell' }).click();
  await expect(page).toHaveURL(/\/rerun\?/);
  await expect(page.getByRole('table', { name: 'Cells to run' }).getByRole('row', { name: /^LOYALTY 2024-03-04 / }))
    .toHaveCount(1);
  await page.getByRole('button', { name: 'Start re-run' }).click();
  await expect(page).toHaveURL(/\/jobs\/job-/);
  await expect(page.getByTestId('job-state')).toHaveText('succeeded', { timeout: 60_000 });
  await expect(page.getByTestId('job-percent')).toHaveText('100%');

  const csv = parseCsv(await (await request.get('/report.csv?start=2024-03-04&end=2024-03-04&p=LOYALTY')).text());
  expect(csv[0].unaccounted).toBe('0');
  await page.goto(`/?${q}`);
  await expect(page.getByRole('region', { name: 'Cell detail' }).getByRole('table', { name: 'Runs' }).getByRole('row'))
    .toHaveCount(before + 1);
});

test('without JavaScript, Start re-run posts the form and opens the job', async ({ browser }) => {
  test.setTimeout(90_000);
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto('/rerun?p=DAILY&start=2024-03-05&end=2024-03-05&mode=all&downstream=no');
  await expect(page.getByRole('table', { name: 'Cells to run' }).getByRole('row', { name: /^DAILY 2024-03-05 / }))
    .toHaveCount(1);
  await page.getByRole('button', { name: 'Start re-run' }).click();
  // The server answers the plain POST with a redirect to the new job's page.
  await expect(page).toHaveURL(/\/jobs\/job-/);
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('job-state')).toHaveText('succeeded', { timeout: 1_000 });
  }).toPass({ timeout: 60_000 });
  await expect(page.getByTestId('job-cells')).toHaveText('1 / 1');
  await context.close();
});

// Issue [Q] 1: scripts/test.sh ran DAILY on 2024-03-20 with a program that
// crashes. The cell is not a silent drop: its status, mark, tooltip and
// drill-down say the latest run failed, when, and the first lines of why.
async function expectFailedRun(page, { hydrated }) {
  await page.goto('/?start=2024-03-18&end=2024-03-22&cell=DAILY:2024-03-20');
  if (hydrated) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const cell = page.locator('td[data-cell="DAILY:2024-03-20"]');
  await expect(cell).toHaveAttribute('data-status', 'RUN_FAILED');
  await expect(cell.getByRole('link')).toHaveText('✗');
  await expect(cell.getByRole('link')).toHaveAttribute('title', /latest run \S+ failed at 20\d\d-.*KeyError: amount/);
  const detail = page.getByRole('region', { name: 'Cell detail' });
  await expect(detail.getByRole('heading', { level: 2 })).toContainText('DAILY 2024-03-20 — RUN_FAILED');
  const alert = detail.getByRole('alert', { name: 'Latest run failed' });
  await expect(alert).toContainText(/latest run \S+ failed at 20\d\d-/);
  await expect(alert).toContainText('Traceback (most recent call last):');
  await expect(alert).toContainText('KeyError: amount');
  // The demo's good run left rows: the page says they are an earlier run's.
  await expect(alert).toContainText('from an earlier run');
  const runs = detail.getByRole('table', { name: 'Runs' });
  await expect(runs.getByRole('row', { name: /failed/ })).toContainText('KeyError: amount');
  // The legend explains the mark, and links to what each status means.
  const legend = page.getByRole('region', { name: 'Legend' });
  await expect(legend).toContainText('latest run failed');
  await legend.getByRole('link', { name: 'What each status and category means' }).click();
  await expect(page).toHaveURL(/\/legend$/);
  const statuses = page.getByRole('table', { name: 'Cell statuses' });
  await expect(statuses.getByRole('row', { name: /^RUN_FAILED / })).toContainText('not a silent drop');
  await expect(page.getByRole('table', { name: 'Failure categories' }).getByRole('row', { name: /^PROCESSING_ERROR / }))
    .toContainText('investigate');
}

test('a crashed run is shown as failed, with its error, hydrated', async ({ page }) => {
  await expectFailedRun(page, { hydrated: true });
  // The entity trace says so on DAILY's link too (C0004 ordered that day).
  await page.goto('/trace/C0004?date=2024-03-20');
  const links = page.getByRole('list', { name: 'Trace' }).getByRole('listitem');
  await expect(links.nth(0)).toContainText('DAILY');
  await expect(links.nth(0)).toContainText(/latest run \S+ failed at 20\d\d-/);
  await expect(links.nth(0)).toContainText('KeyError: amount');
  await expect(links.nth(1)).not.toContainText('failed at');
});

test('a crashed run is shown as failed, with its error, without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await expectFailedRun(page, { hydrated: false });
  await context.close();
});

test('the drill-down\'s filter keeps the view: processors, category and search', async ({ page }) => {
  await page.goto('/?start=2024-03-01&end=2024-03-28&p=LOYALTY&cell=LOYALTY:2024-03-03');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const detail = page.getByRole('region', { name: 'Cell detail' });
  const category = detail.getByRole('combobox', { name: /^Category/ });
  await category.selectOption('INSUFFICIENT_DATA');
  await detail.getByLabel(/^Search customer/).fill('C0');
  await detail.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/p=LOYALTY/);
  await expect(page).toHaveURL(/cat=INSUFFICIENT_DATA/);
  await expect(page).toHaveURL(/q=C0/);
  await expect(page).toHaveURL(/cell=LOYALTY(%3A|:)2024-03-03/);
  await expect(page.getByRole('region', { name: 'Cell detail' }).getByRole('combobox', { name: /^Category/ })).toHaveValue('INSUFFICIENT_DATA');
  const grid = page.getByRole('table', { name: 'Coverage heatmap' });
  await expect(grid.getByRole('rowheader')).toHaveText(['LOYALTY']);
});

test('a job that succeeded over gaps it did not close says so first', async ({ page }) => {
  test.setTimeout(90_000);
  // The script forgets some customers on Saturdays: re-running it leaves them.
  await page.goto('/rerun?p=DAILY&dates=2024-03-02&mode=all&downstream=no');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByRole('table', { name: 'Cells per processor' }).getByRole('row', { name: /^DAILY 1 / })).toHaveCount(1);
  await page.getByRole('button', { name: 'Start re-run' }).click();
  await expect(page).toHaveURL(/\/jobs\/job-/);
  await expect(page.getByTestId('job-state')).toHaveText('succeeded', { timeout: 60_000 });
  await expect(page.getByTestId('job-headline')).toHaveText(/^succeeded — 1 cell still open/);
  const result = page.getByRole('table', { name: 'Result per processor' });
  await expect(result.getByRole('row', { name: /^DAILY / })).toContainText('1');
  await expect(page.getByRole('figure', { name: 'Touched cells before and after' })).toBeVisible();
  // The job list says it too (its headline is stored with the progress).
  const id = page.url().split('/jobs/')[1];
  await page.goto('/jobs');
  await expect(page.locator(`tr[data-job="${id}"]`)).toContainText('succeeded — 1 cell still open');
});
