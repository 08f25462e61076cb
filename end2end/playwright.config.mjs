// Browser tests run against a server that scripts/test.sh starts (ROLLCALL_E2E_URL).
// Chromium comes from Debian (/usr/bin/chromium): never `npx playwright install`.
import { defineConfig } from '@playwright/test';

const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 15_000 },
  retries: 0,
  workers: 1,
  reporter: [['list']],
  use: {
    baseURL: process.env.ROLLCALL_E2E_URL || 'http://127.0.0.1:3100',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: chromiumArgs,
    },
    screenshot: 'only-on-failure',
  },
  projects: [
    { name: 'hydrated', use: { javaScriptEnabled: true }, testMatch: /(hydrated|dashboard|bundle)\.spec\.mjs/ },
    { name: 'no-javascript', use: { javaScriptEnabled: false }, testMatch: /nojs\.spec\.mjs/ },
    // Writes to the store: runs after the read-only projects.
    {
      name: 'jobs',
      use: { javaScriptEnabled: true },
      testMatch: /jobs\.spec\.mjs/,
      dependencies: ['hydrated', 'no-javascript'],
    },
    // Acknowledges known gaps: after the re-runs, on cells they leave alone.
    {
      name: 'acks',
      use: { javaScriptEnabled: true },
      testMatch: /acks\.spec\.mjs/,
      dependencies: ['jobs'],
    },
    // Freezes views and re-runs one of their cells: after the acknowledgements.
    {
      name: 'snapshots',
      use: { javaScriptEnabled: true },
      testMatch: /snapshots\.spec\.mjs/,
      dependencies: ['acks'],
    },
    // Behind an identity-aware proxy, signed in as a viewer (the proxy's
    // email header, from 127.0.0.1: a trusted proxy address).
    {
      name: 'viewer',
      use: {
        javaScriptEnabled: true,
        baseURL: process.env.ROLLCALL_E2E_VIEWER_URL || 'http://127.0.0.1:3103',
        extraHTTPHeaders: { 'X-Forwarded-Email': 'val@example.com' },
      },
      testMatch: /viewer\.spec\.mjs/,
    },
    // The same dashboard served from the BigQuery warehouse (the emulator).
    {
      name: 'bigquery',
      use: {
        javaScriptEnabled: true,
        baseURL: process.env.ROLLCALL_E2E_BQ_URL || 'http://127.0.0.1:3101',
      },
      testMatch: /bigquery\.spec\.mjs/,
    },
    // A team's own warehouse adopted in place (pipelines/nba-in-place) on
    // the emulator: its tables read as they are, its program re-run.
    {
      name: 'in-place',
      use: {
        javaScriptEnabled: true,
        baseURL: process.env.ROLLCALL_E2E_INPLACE_URL || 'http://127.0.0.1:3104',
      },
      testMatch: /inplace\.spec\.mjs/,
    },
    // Another pipeline (pipelines/orders), its commands run by the server.
    {
      name: 'orders',
      use: {
        javaScriptEnabled: true,
        baseURL: process.env.ROLLCALL_E2E_ORDERS_URL || 'http://127.0.0.1:3102',
      },
      testMatch: /orders\.spec\.mjs/,
    },
  ],
});
