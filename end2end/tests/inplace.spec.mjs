// Issue [P] 4: the team's own pipeline (pipelines/nba-in-place) on the
// BigQuery emulator, as scripts/test.sh leaves it: the team's tables in their
// real shapes, seeded by the team's faulty first backfill. The dashboard
// reads them through the pipeline's [read] and [categories], then re-runs
// the team's program from the button until the gaps it can close are closed.
import { test, expect } from '@playwright/test';

function parseCsv(text) {
  const [header, ...rows] = text.trim().split('\n').map((l) => l.split(','));
  return rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])));
}

const q = 'start=2021-10-19&end=2021-10-30';

test('the team tables are read as they are, and the re-run button starts the team program', async ({ page, request }) => {
  test.setTimeout(150_000);
  const before = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  const gap = before.find((r) => Number(r.unaccounted) > 0 && Number(r.investigate) > 0);
  expect(gap, 'the faulty backfill left silent drops and a legacy spelling').toBeTruthy();

  await page.goto(`/?${q}&cell=PDC:${gap.date}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const detail = page.getByRole('region', { name: 'Cell detail' });
  await expect(detail.getByTestId('unaccounted-count')).toHaveText(gap.unaccounted);
  // The team's spelling is an expected gap; its legacy one is to investigate.
  const categories = detail.getByRole('list', { name: 'Failures by category' });
  await expect(categories.getByRole('listitem').filter({ hasText: 'EXPECTED_INCOMPLETE' })).toContainText('expected');
  await expect(categories.getByRole('listitem').filter({ hasText: 'PROCESSING_ERROR' })).toContainText('investigate');
  // The failure rows of that category say how the team wrote it.
  await page.goto(`/?${q}&cell=PDC:${gap.date}&cat=PROCESSING_ERROR`);
  await expect(page.getByRole('region', { name: 'Cell detail' }).getByText('(written as calculation_error)').first()).toBeVisible();

  // The re-run button: the dry run, then the job running the team's program.
  await page.goto(`/?${q}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('link', { name: /Re-run not-OK cells in view/ }).click();
  await expect(page).toHaveURL(/\/rerun\?/);
  await page.getByRole('button', { name: 'Start re-run' }).click();
  await expect(page).toHaveURL(/\/jobs\/job-/);
  await expect(page.getByTestId('job-state')).toHaveText('succeeded', { timeout: 120_000 });
  // Its lines on the job page: the command Rollcall started, what it printed.
  const output = page.getByLabel('Program output');
  await expect(output).toContainText('PDC: python3 pdc_backfill.py --start-date 2021-10-19');
  await expect(output).toContainText(/2021-10-30: \d+ cached/);
  await expect(page.getByTestId('change-counts')).toContainText('gap closed');

  const after = parseCsv(await (await request.get(`/report.csv?${q}`)).text());
  expect(after.map((r) => Number(r.unaccounted) + Number(r.investigate))).toEqual(after.map(() => 0));
});

test('without JavaScript the drill-down reads the team taxonomy too', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const rows = parseCsv(await (await page.request.get(`/report.csv?${q}`)).text());
  const cell = rows.find((r) => r.status !== 'NO_GAMES' && r.date !== '2021-10-19');
  await page.goto(`/?${q}&cell=PDC:${cell.date}`);
  const categories = page.getByRole('region', { name: 'Cell detail' }).getByRole('list', { name: 'Failures by category' });
  await expect(categories.getByRole('listitem').filter({ hasText: 'EXPECTED_INCOMPLETE' })).toContainText('expected');
  await context.close();
});
