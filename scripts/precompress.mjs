// Writes `.br` and `.gz` beside every asset of a directory (stale ones are
// removed first), so the server sends precompressed bytes with
// `Content-Encoding` negotiation instead of compressing on every request.
// Usage: node scripts/precompress.mjs DIR
import { readdirSync, readFileSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: precompress.mjs DIR');
  process.exit(2);
}
for (const name of readdirSync(dir)) {
  if (name.endsWith('.br') || name.endsWith('.gz')) rmSync(join(dir, name));
}
for (const name of readdirSync(dir)) {
  const path = join(dir, name);
  if (!statSync(path).isFile()) continue;
  const bytes = readFileSync(path);
  writeFileSync(`${path}.br`, brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  }));
  writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
}
