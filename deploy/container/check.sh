#!/bin/sh
# Runs the image tandem:local (deploy/container/assemble.sh) with podman and checks what a
# deployment relies on: it serves the editor and the API as user 65532, its health check passes,
# a document survives a restart on the same volume, and a stop drains (exit 0 within the grace).
set -eu
port=${PORT:-18080}
name=tandem-check-$$
vol=tandem-check-$$
base=http://127.0.0.1:$port
cleanup() { podman rm -f "$name" >/dev/null 2>&1 || true; podman volume rm -f "$vol" >/dev/null 2>&1 || true; }
trap cleanup EXIT
fail() { echo "container-check: $*" >&2; podman logs "$name" 2>&1 | tail -20 >&2; exit 1; }
ready() {
  for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "not ready on $base"
}

[ "$(podman image inspect --format '{{.Config.User}}' tandem:local)" = "65532:65532" ] || fail "the image does not run as 65532"
podman volume create "$vol" >/dev/null
podman run -d --name "$name" --network host -v "$vol:/data" \
  -e TANDEM_LISTEN=127.0.0.1:$port tandem:local --auth none >/dev/null
ready
curl -fsS "$base/" | grep -q '<div id="root">' || fail "/ does not serve the editor"
[ "$(podman top "$name" user | tail -1 | tr -d ' ')" = "65532" ] || fail "the process is not user 65532"
podman healthcheck run "$name" || fail "the health check failed"
id=$(curl -fsS -X POST -H 'content-type: application/json' -d '{"title":"kept"}' "$base/api/docs" | sed 's/.*"id":"\([^"]*\)".*/\1/')
[ -n "$id" ] || fail "cannot create a document"
podman stop -t 15 "$name" >/dev/null
[ "$(podman inspect --format '{{.State.ExitCode}}' "$name")" = "0" ] || fail "stop did not drain cleanly"
podman logs "$name" 2>&1 | grep -q 'drain' || fail "no drain in the log"
podman start "$name" >/dev/null
ready
curl -fsS "$base/api/docs/$id" | grep -q '"title":"kept"' || fail "the document did not survive the restart"
echo "container-check: ok (editor, user 65532, health check, drain on stop, data kept across a restart)"
