// What a first visit downloads to hydrate (the wasm and its loader), as the
// server sends it: issue [I]'s budget, 300 KB with brotli and 400 KB with
// gzip. Sizes, not timings: they do not depend on how busy the machine is.
import { test, expect } from '@playwright/test';
import { request as httpRequest } from 'node:http';

const budgets = { br: 300_000, gzip: 400_000 };

// Bytes on the wire: node:http does not decompress.
function transferred(url, encoding) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers: { 'accept-encoding': encoding } }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => { bytes += chunk.length; });
      res.on('end', () => resolve({ status: res.statusCode, encoding: res.headers['content-encoding'], bytes }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the hydrate bundle as served fits its budget, with brotli and with gzip', async ({ request, baseURL }) => {
  const html = await (await request.get('/')).text();
  const loader = html.match(/\/pkg\/rollcall\.[0-9a-f]+\.js/);
  expect(loader, 'the page names its hashed loader').not.toBeNull();
  const files = [loader[0], loader[0].replace(/\.js$/, '_bg.wasm')];
  for (const [encoding, budget] of Object.entries(budgets)) {
    let total = 0;
    for (const path of files) {
      const r = await transferred(new URL(path, baseURL), encoding);
      expect(r.status, path).toBe(200);
      expect(r.encoding, path).toBe(encoding);
      total += r.bytes;
    }
    expect(total, `${files.join(' + ')} with ${encoding}`).toBeLessThanOrEqual(budget);
  }
});
