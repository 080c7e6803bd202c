// Reference token ids from Hugging Face's `tokenizers` (Rust, via the npm native
// binding @anush008/tokenizers), for the C++ parity test.
//   node reference_encode.js NPM_DIR TOKENIZER_JSON TEXT_FILE...
// Prints one JSON array: [{"text", "special": ids with add_special_tokens=true,
// "plain": ids with add_special_tokens=false, "decoded": decode(special, skip_special_tokens=true)}]
// for each whole file and each of its lines.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [npmDir, tokenizerJson, ...files] = process.argv.slice(2);
  if (!npmDir || !tokenizerJson || files.length === 0) {
    console.error('usage: reference_encode.js NPM_DIR TOKENIZER_JSON TEXT_FILE...');
    process.exit(2);
  }
  const { Tokenizer } = require(path.join(path.resolve(npmDir), 'node_modules', '@anush008', 'tokenizers'));
  const tok = Tokenizer.fromFile(tokenizerJson);
  const texts = [];
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    texts.push(text);
    for (const line of text.split('\n')) {
      if (line.length > 0) texts.push(line);
    }
  }
  const out = [];
  for (const text of texts) {
    const special = await tok.encode(text, null, { addSpecialTokens: true });
    const plain = await tok.encode(text, null, { addSpecialTokens: false });
    const specialIds = Array.from(special.getIds());
    const decoded = await tok.decode(specialIds, true);
    out.push({ text, special: specialIds, plain: Array.from(plain.getIds()), decoded });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
});
