// Snapshots (issue [O]) in the browser, hydrated and without JavaScript:
// "Freeze" on the coverage page keeps the view; /s/{id} shows it read-only
// with its drill-downs after a re-run closed its gap (the banner counts the
// cell, compare says "gap closed"); "Copy as Markdown" copies its tables;
// its HTML file opens with the network off and shows the page's numbers.
// Runs after the acknowledgements project, on cells nothing else touches.
import { test, expect } from '@playwright/test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

async function freeze(page, view, note) {
  await page.goto(`/?${view}`);
  await page.getByRole('link', { name: 'Freeze', exact: true }).click();
  await expect(page).toHaveURL(/\/snapshots\/new\?/);
  await page.getByLabel('Note (optional)').fill(note);
  await page.getByRole('button', { name: 'Freeze' }).click();
  await expect(page).toHaveURL(/\/s\/[0-9a-f]{12}$/);
  return new URL(page.url()).pathname;
}

// The summary table's numbers per processor, by column heading (the page
// and the file order their columns differently).
const COLUMNS = ['Expected', 'Has Record', 'Has Failure', 'Unaccounted', 'Investigate', 'Coverage'];
async function summary(page) {
  const table = page.getByRole('table', { name: 'Reconciliation summary' });
  const headings = (await table.locator('thead th').allTextContents()).map((h) => h.trim());
  const rows = table.locator('tbody tr');
  const out = {};
  for (let i = 0; i < await rows.count(); i++) {
    const cells = (await rows.nth(i).locator('th, td').allTextContents()).map((c) => c.trim());
    out[cells[0]] = Object.fromEntries(COLUMNS.map((c) => [c, cells[headings.indexOf(c)]]));
  }
  return out;
}

test('hydrated: a frozen view keeps its gap after the re-run that closed it, and says so', async ({ page, context }) => {
  test.setTimeout(120_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const view = 'start=2022-03-08&end=2022-03-09&p=PSZA';
  await page.goto(`/?${view}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const path = await freeze(page, view, 'handoff: PSZA never ran on the 8th');
  const banner = page.getByRole('status', { name: 'Snapshot' });
  await expect(banner).toContainText('no cell differs from now');
  await expect(banner).toContainText('handoff: PSZA never ran on the 8th');
  const heat = page.getByRole('table', { name: 'Coverage heatmap' });
  await expect(heat.locator('td[data-cell="PSZA:2022-03-08"]')).toHaveAttribute('data-status', 'NOT_RUN');

  // Copy as Markdown: its tables, with the link.
  await page.getByRole('button', { name: 'Copy as Markdown' }).click();
  await expect(page.getByRole('button', { name: 'Copied' })).toBeVisible();
  const md = await page.getByLabel('Snapshot as Markdown').inputValue();
  expect(md).toContain(`/s/${path.split('/').pop()}`);
  expect(md).toContain('| Date | Expected | Has Record | Has Failure | Unaccounted | Coverage |');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(md);

  // Re-run the cell until its gap closes.
  await page.goto('/rerun?p=PSZA&dates=2022-03-08&mode=gaps&downstream=no');
  await page.getByRole('button', { name: 'Start re-run' }).click();
  await expect(page).toHaveURL(/\/jobs\/job-/);
  await expect(page.getByTestId('job-state')).toHaveText('succeeded', { timeout: 90_000 });

  // The snapshot still shows the gap, and its drill-down the players.
  await page.goto(path);
  await expect(page.getByRole('status', { name: 'Snapshot' })).toContainText('1 cell differs from now');
  await page.getByRole('table', { name: 'Coverage heatmap' }).locator('td[data-cell="PSZA:2022-03-08"] a').click();
  const detail = page.getByRole('region', { name: 'Cell detail' });
  await expect(detail).toContainText('PSZA 2022-03-08 — NOT_RUN (as frozen)');
  const frozen = detail.getByRole('list', { name: 'Unaccounted' }).getByRole('listitem');
  expect(await frozen.count()).toBeGreaterThan(5);
  const first = (await frozen.first().textContent()).trim();

  // Compare: gap closed, with the players it closed.
  await page.getByRole('status', { name: 'Snapshot' }).getByRole('link', { name: 'compare' }).click();
  const changed = page.getByRole('table', { name: 'Cells that differ' });
  await expect(changed.getByRole('row', { name: /PSZA 2022-03-08/ })).toContainText('gap closed');
  await expect(changed).toContainText(first);
});

test('without JavaScript: Freeze, the snapshot and a drill-down work as plain pages', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const path = await freeze(page, 'start=2022-03-10&end=2022-03-11&p=PSZA,PDC', '');
  await expect(page.getByRole('status', { name: 'Snapshot' })).toContainText('read-only: as of');
  await page.getByRole('table', { name: 'Coverage heatmap' }).locator('td[data-cell="PDC:2022-03-10"] a').click();
  await expect(page).toHaveURL(new RegExp(`${path}\\?.*cell=PDC%3A2022-03-10`));
  await expect(page.getByRole('region', { name: 'Cell detail' })).toContainText('PDC 2022-03-10');
  // No script: no copy button, the Markdown is there to select.
  await expect(page.getByRole('button', { name: 'Copy as Markdown' })).toBeHidden();
  await expect(page.getByLabel('Snapshot as Markdown')).toContainText('| **TOTAL** |');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Snapshots' }).click();
  await expect(page.getByRole('table', { name: 'Snapshots' }).getByRole('link', { name: path.split('/').pop() })).toBeVisible();
  await context.close();
});

test('the HTML file opens with the network off and shows the page\'s numbers', async ({ browser, page, request }) => {
  const path = await freeze(page, 'start=2022-03-12&end=2022-03-13', 'for the mail');
  const expected = await summary(page);
  expect(Object.keys(expected)).toEqual(['PSZA', 'PDC', 'PCF', 'MLFS']);
  for (const row of Object.values(expected)) {
    for (const c of COLUMNS) expect(row[c], c).toMatch(/^\d+(\.\d)?%?$/);
  }
  const file = await (await request.get(`${path}/report.html`)).text();
  const dir = mkdtempSync(join(tmpdir(), 'rollcall-snapshot-'));
  const where = join(dir, 'report.html');
  writeFileSync(where, file);

  const offline = await browser.newContext({ offline: true, javaScriptEnabled: false });
  const attachment = await offline.newPage();
  const asked = [];
  attachment.on('request', (r) => { if (!r.url().startsWith('file:')) asked.push(r.url()); });
  await attachment.goto(pathToFileURL(where).href);
  await expect(attachment.getByRole('figure', { name: 'Coverage heatmap' }).locator('svg')).toBeVisible();
  await expect(attachment.getByRole('status')).toContainText('for the mail');
  expect(await summary(attachment)).toEqual(expected);
  expect(asked).toEqual([]);
  await attachment.getByText(/^PSZA 2022-03-12 — /).click();
  await expect(attachment.locator('details[open]')).toHaveCount(1);
  await offline.close();
});
