// Behind an identity-aware proxy (issue [N] 2), signed in as a viewer: the
// pages say who you are and why Start is off, with and without JavaScript,
// and the server refuses a viewer's start and acknowledgement anyway.
import { test, expect } from '@playwright/test';

const RERUN = '/rerun?p=PSZA&start=2021-11-01&end=2021-11-02&mode=all';

async function viewerSeesWhyStartIsOff(page) {
  await page.goto(RERUN);
  const note = page.getByRole('note', { name: 'Operator access' });
  await expect(note).toContainText('Signed in as val@example.com, a viewer');
  await expect(note).toContainText('operator role');
  await expect(page.getByTestId('preview-summary')).toContainText('Nothing has been written yet');
  await expect(page.getByRole('button', { name: 'Start re-run' })).toBeDisabled();
}

test('hydrated: a viewer reads the plan, Start is disabled and says why', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await viewerSeesWhyStartIsOff(page);
});

test('without JavaScript: the same, rendered by the server', async ({ browser }) => {
  const context = await browser.newContext({
    javaScriptEnabled: false,
    extraHTTPHeaders: { 'X-Forwarded-Email': 'val@example.com' },
  });
  await viewerSeesWhyStartIsOff(await context.newPage());
  await context.close();
});

test('the server refuses what the viewer may not do, and the acknowledge form says so', async ({ page, request }) => {
  await page.goto('/acknowledge?processor=PDC&date=2021-11-10');
  await expect(page.getByRole('note', { name: 'Operator access' })).toContainText('a viewer');
  const res = await request.post('/acknowledge', {
    form: { processor: 'PDC', date: '2021-11-10', cell: '1', reason: 'other' },
  });
  expect(res.status()).toBe(403);
  expect(await res.text()).toContain('val@example.com is a viewer');
});
