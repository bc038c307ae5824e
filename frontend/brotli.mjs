// Writes a brotli twin (quality 11, the most it compresses) beside each
// file named on the command line: `node brotli.mjs <dir> <file>…`. Run by
// trunk's post-build hook (Trunk.toml) with Node's own zlib, so the build
// needs no brotli tool of its own.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants } from "node:zlib";

const [dir, ...files] = process.argv.slice(2);
for (const file of files) {
  const path = join(dir, file);
  const bytes = readFileSync(path);
  const params = {
    [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
    [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    [constants.BROTLI_PARAM_MODE]: file.endsWith(".wasm") ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
  };
  writeFileSync(`${path}.br`, brotliCompressSync(bytes, { params }));
}
