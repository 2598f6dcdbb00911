#!/usr/bin/env bash
# Profiles the Tandem server under one fanout scenario (issue 21): the load runs for 14 s, the
# server is sampled with `perf record -g` for 10 s of it, and the samples are folded by inferno
# into bench/profiles/NAME.svg (a flamegraph; open it in a browser) beside NAME.json (the run's
# figures). Needs perf and inferno (`cargo install inferno`); run from the repository root after
# `cargo build --release -p tandem-server -p tandem-bench`.
#
#   bench/profile.sh NAME DOCS CLIENTS RATE [SERVER]
#
# SERVER is tandem (the default), y-websocket, or one of the floor servers (relay, floor).
set -euo pipefail
name=$1 docs=$2 clients=$3 rate=$4 server=${5:-tandem}
out=bench/profiles
mkdir -p "$out"
target/release/tandem-bench fanout --server "$server" --docs "$docs" --clients "$clients" \
  --rate "$rate" --duration 14 > "$out/$name.json" &
bench=$!
sleep 3
case $server in
  tandem) pid=$(pgrep -n -x tandem) ;;
  relay | floor) pid=$(pgrep -n -f "tandem-bench serve-floor") ;;
  *) pid=$(pgrep -n -f "$server.mjs") ;;
esac
perf record -q -e cpu-clock -F 999 -g -p "$pid" -o "/tmp/perf-$name.data" -- sleep 10 2> /dev/null
wait "$bench"
perf script -i "/tmp/perf-$name.data" 2> /dev/null | inferno-collapse-perf > "/tmp/perf-$name.folded"
inferno-flamegraph --title "$server: $docs docs x $clients clients x $rate/s" \
  < "/tmp/perf-$name.folded" > "$out/$name.svg"
echo "$out/$name.svg ($(wc -l < "/tmp/perf-$name.folded") stacks)"
