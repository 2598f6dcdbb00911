#!/usr/bin/env bash
# A person typing into a large document (the search indexer's spacing, issue 21): a fresh server
# (`--auth none`) on a temporary directory; a stock y-websocket client fills a document with MB
# megabytes of paragraphs typed all over, then types 5 keystrokes a second for 30 s. Prints the
# server's CPU over those 30 s and how many times the index was rebuilt. Run from the repository
# root after `cargo build --release -p tandem-server` and `cd interop && npm ci`.
#
#   bench/big-doc-typing.sh [BIN] [MB]
set -euo pipefail
bin=${1:-target/release/tandem} mb=${2:-4}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" --auth none --listen 127.0.0.1:18080 --data-dir "$dir" > "$dir/log" 2>&1 &
pid=$!
sleep 1.5
(cd interop && node big-typist.mjs 127.0.0.1:18080 big "$mb" 0 > /dev/null)
sleep 3
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
indexed() { curl -s 127.0.0.1:18080/metrics | awk '/^tandem_search_lag_seconds_count/ {print $2}'; }
a=$(cpu) i=$(indexed)
(cd interop && node big-typist.mjs 127.0.0.1:18080 big "$mb" 30 > /dev/null)
b=$(cpu) j=$(indexed)
echo "server CPU over 30 s of typing into $mb MB: $(( (b - a) * 1000 / $(getconf CLK_TCK) )) ms; indexed $(( j - i )) times"
kill -INT "$pid"
wait "$pid" || true
