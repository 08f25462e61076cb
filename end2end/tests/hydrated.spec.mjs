// The hydrated page: changing the range through the inputs updates the content
// by client-side navigation, without a full reload.
import { test, expect } from '@playwright/test';

test('range change through the inputs updates in place', async ({ page }) => {
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // The 400 of a rejected range is expected; any other console error is not.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 400/.test(m.text())) errors.push(m.text());
  });

  await page.goto('/?start=2021-11-01&end=2021-11-30');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  // Survives only if the document is never reloaded.
  await page.evaluate(() => { window.__rollcallMarker = 'still-here'; });

  await page.getByLabel('Start date').fill('2021-11-05');
  await page.getByLabel('End date').fill('2021-11-10');
  await page.getByRole('button', { name: 'Show' }).click();

  await expect(page).toHaveURL(/start=2021-11-05&end=2021-11-10/);
  await expect(page.getByRole('region', { name: 'Coverage summary' })).toContainText('2021-11-05 – 2021-11-10');
  await expect(page.getByRole('table', { name: 'Game dates' })).toBeHidden();
  await page.getByText('Game dates and table row counts (6 dates)').click();
  await expect(page.getByRole('table', { name: 'Game dates' }).getByRole('row')).toHaveCount(7);
  expect(await page.evaluate(() => window.__rollcallMarker)).toBe('still-here');

  // Bad input after hydration: an inline message, no blank page, no crash.
  await page.getByLabel('Start date').fill('2021-11-20');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page.getByRole('alert')).toContainText('is after end date');
  expect(await page.evaluate(() => window.__rollcallMarker)).toBe('still-here');

  expect(errors).toEqual([]);
});

// Issue [M] 2, 4: the change feed from the demo's evaluation, each cell
// linking to its drill-down; the alerts page says what was sent.
test('the change feed lists what opened and each line opens its drill-down', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Changes' }).click();
  await expect(page).toHaveURL(/\/changes$/);
  const changes = page.getByRole('table', { name: 'Changes' });
  await expect(changes.getByRole('row').nth(1)).toContainText('opened');
  await expect(page.getByRole('heading', { name: /Still open at the latest evaluation \(\d+\)/ })).toBeVisible();
  await changes.getByRole('link', { name: 'PDC 2021-11-10' }).click();
  await expect(page).toHaveURL(/cell=PDC(%3A|:)2021-11-10/);
  await expect(page.getByRole('region', { name: 'Cell detail' }).getByRole('heading', { level: 2 }))
    .toContainText('PDC 2021-11-10');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Alerts' }).click();
  await expect(page).toHaveURL(/\/alerts$/);
  await expect(page.getByRole('heading', { name: 'Alerts' })).toBeVisible();
  await expect(page.getByText('No alerts sent yet')).toBeVisible();
});
