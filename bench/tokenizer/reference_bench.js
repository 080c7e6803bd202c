// Encode throughput of Hugging Face's `tokenizers` (Rust, via @anush008/tokenizers)
// on the same document set as encode_bench.cc.
//   node reference_bench.js NPM_DIR TOKENIZER_JSON MIN_MB TEXT_FILE...
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [npmDir, tokenizerJson, minMbArg, ...files] = process.argv.slice(2);
  const { Tokenizer } = require(path.join(path.resolve(npmDir), 'node_modules', '@anush008', 'tokenizers'));
  const t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(tokenizerJson);
  const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
  const texts = files.map((f) => fs.readFileSync(f, 'utf8'));
  const docs = [];
  let bytes = 0;
  for (let rep = 0; bytes < Number(minMbArg) * 1e6; ++rep) {
    for (const t of texts) {
      const d = `${rep} ${t}`;
      docs.push(d);
      bytes += Buffer.byteLength(d, 'utf8');
    }
  }
  const run = async (batch) => {
    const s = process.hrtime.bigint();
    let tokens = 0;
    if (batch) {
      for (let i = 0; i < docs.length; i += 256) {
        const encs = await tok.encodeBatch(docs.slice(i, i + 256), { addSpecialTokens: true });
        for (const e of encs) tokens += e.getIds().length;
      }
    } else {
      for (const d of docs) tokens += (await tok.encode(d, null, { addSpecialTokens: true })).getIds().length;
    }
    return { seconds: Number(process.hrtime.bigint() - s) / 1e9, tokens };
  };
  await run(false);  // warm-up
  const one = await run(false);
  const batch = await run(true);
  console.log(`HF     load ${loadS.toFixed(2)} s | encode one by one: ${(bytes / one.seconds / 1e6).toFixed(1)} MB/s, ` +
              `${(one.tokens / one.seconds).toFixed(0)} tokens/s | encodeBatch (parallel): ` +
              `${(bytes / batch.seconds / 1e6).toFixed(1)} MB/s, ${(batch.tokens / batch.seconds).toFixed(0)} tokens/s`);
}

main().catch((e) => { console.error(String(e)); process.exit(1); });
