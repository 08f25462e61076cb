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
