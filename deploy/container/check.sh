#!/bin/sh
# Checks the image tandem:local (deploy/container/assemble.sh) the way a deployment relies on it:
# it serves the editor and the API as user 65532, its health check passes, a stop drains and exits
# 0, and a document survives a restart on the same /data.
#
# With podman it runs the image. Where podman cannot start containers (a sandbox without the
# cgroups or rlimits crun needs), it says so and runs the image's own root filesystem under
# chroot as user 65532 instead: the same binary, libraries, user and /data, without the runtime.
set -eu
port=${PORT:-18080}
base=http://127.0.0.1:$port
name=tandem-check-$$
vol=tandem-check-$$
mode=podman
ctr=
pid=
cleanup() {
  podman rm -f "$name" >/dev/null 2>&1 || true
  podman volume rm -f "$vol" >/dev/null 2>&1 || true
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "container-check ($mode): $*" >&2; exit 1; }
ready() {
  for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "not ready on $base"
}

[ "$(podman image inspect --format '{{.Config.User}}' tandem:local)" = "65532:65532" ] || fail "the image does not run as 65532"
podman image inspect --format '{{.Config.Healthcheck.Test}}' tandem:local | grep -q 'tandem health' || fail "the image has no health check"

start() {
  if [ "$mode" = podman ]; then
    podman start "$name" >/dev/null
  else
    (cd / && exec chroot --userspec=65532:65532 "$root" /usr/local/bin/tandem \
      --listen "127.0.0.1:$port" --data-dir /data --auth none) >/tmp/$name.log 2>&1 &
    pid=$!
  fi
  ready
}
stop() {
  if [ "$mode" = podman ]; then
    podman stop -t 15 "$name" >/dev/null
    [ "$(podman inspect --format '{{.State.ExitCode}}' "$name")" = "0" ] || fail "stop did not exit 0"
  else
    kill -TERM "$pid"
    wait "$pid" || fail "SIGTERM did not exit 0"
  fi
}
health() {
  if [ "$mode" = podman ]; then podman healthcheck run "$name"
  else chroot --userspec=65532:65532 "$root" /usr/local/bin/tandem --listen "127.0.0.1:$port" health; fi
}

podman volume create "$vol" >/dev/null
if ! podman create --name "$name" --network host -v "$vol:/data" \
    -e "TANDEM_LISTEN=127.0.0.1:$port" tandem:local --auth none >/dev/null 2>/tmp/$name.err \
  || ! podman start "$name" >/dev/null 2>>/tmp/$name.err; then
  echo "container-check: podman cannot run containers here ($(grep -o 'crun: .*' /tmp/$name.err | head -1)); checking the image's root filesystem under chroot" >&2
  podman rm -f "$name" >/dev/null 2>&1 || true
  mode=chroot
  ctr=$(buildah from tandem:local)
  root=$(buildah mount "$ctr")
  start
else
  ready
fi

curl -fsS "$base/" | grep -q '<div id="root">' || fail "/ does not serve the editor"
if [ "$mode" = podman ]; then
  user=$(podman top "$name" user | tail -1 | tr -d ' ')
else
  user=$(ps -o uid= -p "$pid" | tr -d ' ')
fi
[ "$user" = "65532" ] || [ "$user" = "nonroot" ] || fail "the process runs as $user, not 65532"
health >/dev/null || fail "the health check failed"
id=$(curl -fsS -X POST -H 'content-type: application/json' -H "origin: $base" -d '{"title":"kept"}' "$base/api/docs" \
  | sed 's/.*"id":"\([^"]*\)".*/\1/')
[ -n "$id" ] || fail "cannot create a document"
stop
start
curl -fsS "$base/api/docs/$id" | grep -q '"title":"kept"' || fail "the document did not survive the restart"
stop
echo "container-check ($mode): ok (editor, user 65532, health check, exit 0 on SIGTERM, data kept across a restart)"
