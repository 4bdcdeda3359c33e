#!/usr/bin/env bash
# A Debian 13 (trixie) root with the broker versions of the test matrix, made
# with debootstrap from the Debian mirror this machine's apt already uses (the
# host's apt sources are never touched), and a way to run its programs here.
#
#   scripts/matrix/debian13.sh install   make the root once (lock-protected; a
#                                        complete root is reused), print the time
#   scripts/matrix/debian13.sh exec CMD  run CMD (a path inside the root) in it
#   scripts/matrix/debian13.sh path      print the cache folder
#   scripts/matrix/debian13.sh versions  print the installed broker packages
#
# Cache layout (outside the clone, like Maven's ~/.m2; OMNIBUS_CACHE overrides
# ~/.cache/omnibus). A later image build can take root/ as it is: it holds
# nothing of this machine but /etc/hosts, and no broker state.
#
#   $OMNIBUS_CACHE/debian13/
#     root/        debootstrap --variant=minbase trixie + rabbitmq-server,
#                  nats-server, redis-server, valkey-server (--no-install-recommends);
#                  usr/sbin/policy-rc.d keeps package scripts from starting services
#     complete     stamp: written last, holds `dpkg-query` lines of the broker packages
#                  (and Erlang) and a comment line with the mirror and the date
#     bin/         wrappers that run one program of the root from the host:
#                  rabbitmq-server, rabbitmqctl, nats-server, redis-server,
#                  valkey-server, redis-cli (what the launchers and scripts call)
#     install.log  debootstrap and apt output
#   $OMNIBUS_CACHE/run/<broker>-<version>/   data and logs of the shared brokers
#                  scripts/matrix/brokers.sh starts (not part of the root)
# Other tools keep folders of their own beside these (e.g. docker/): to start the
# root afresh, stop the matrix brokers and remove debian13/ only, never the whole cache.
#
# How a program runs: `unshare --mount` gives it a mount namespace of its own,
# in which /proc, /dev, /tmp and $OMNIBUS_CACHE/run are bind-mounted into the
# root at the same paths (so the temp dirs of conformance/src/brokers and the
# run dirs mean the same inside and out), then `chroot`. The mounts vanish
# with the process; the process keeps its pid and process group (exec all the
# way), so a launcher's SIGKILL of the group reaches the broker. The network
# is the host's: brokers bind 127.0.0.1 as told by their configuration.
set -euo pipefail

CACHE="${OMNIBUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/omnibus}"
BASE="$CACHE/debian13"
ROOTFS="$BASE/root"
STAMP="$BASE/complete"
RUNS="$CACHE/run"
PACKAGES=(rabbitmq-server nats-server redis-server valkey-server)

log() { echo "debian13.sh: $*" >&2; }

# The mirror of the host's Debian sources (deb822 or one-line format); never a host we pick.
mirror() {
  local m
  m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v -- '-security' | grep '/debian$' | head -1 || true)
  [ -n "$m" ] || m=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\/debian\)[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null | head -1 || true)
  [ -n "$m" ] || { log "no Debian mirror found in /etc/apt/sources.list*"; exit 1; }
  echo "$m"
}

# The wrapper text for one program of the root (self-contained: works without the clone).
wrapper() { # path-inside-root
  cat <<EOF
#!/bin/sh
# Runs $1 of the Debian 13 root $ROOTFS (made by scripts/matrix/debian13.sh).
R='$ROOTFS'
mkdir -p '$RUNS' "\$R$RUNS"
exec unshare --mount --propagation private -- sh -c '
  R="\$1"; shift
  mount --rbind /proc "\$R/proc" && mount --rbind /dev "\$R/dev" && mount --bind /tmp "\$R/tmp" && mount --bind "$RUNS" "\$R$RUNS" || exit 111
  exec chroot "\$R" "\$@"' sh "\$R" '$1' "\$@"
EOF
}

# One wrapper per program, found where the root's packages put it.
write_wrappers() {
  local name dir found
  mkdir -p "$BASE/bin"
  for name in rabbitmq-server rabbitmqctl nats-server redis-server valkey-server redis-cli; do
    found=
    for dir in /usr/lib/rabbitmq/bin /usr/sbin /usr/bin; do
      if [ -x "$ROOTFS$dir/$name" ]; then found="$dir/$name"; break; fi
    done
    [ -n "$found" ] || { log "$name not found in the root"; exit 1; }
    wrapper "$found" >"$BASE/bin/$name"; chmod 755 "$BASE/bin/$name"
  done
}

install_root() {
  local t0=$SECONDS
  [ "$(id -u)" = 0 ] || { log "making and running the root needs root (debootstrap, chroot, unshare --mount)"; exit 1; }
  command -v debootstrap >/dev/null || {
    log "installing debootstrap (host package)"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  }
  local m; m=$(mirror)
  rm -rf "$BASE.partial"; mkdir -p "$BASE.partial"
  local part="$BASE.partial/root"
  log "debootstrap trixie from $m into $ROOTFS (log: $BASE/install.log)"
  debootstrap --variant=minbase trixie "$part" "$m" >"$BASE.partial/install.log" 2>&1 \
    || { tail -30 "$BASE.partial/install.log" >&2; exit 1; }
  # package scripts must not start services inside the root
  printf '#!/bin/sh\nexit 101\n' >"$part/usr/sbin/policy-rc.d"; chmod 755 "$part/usr/sbin/policy-rc.d"
  cp /etc/hosts "$part/etc/hosts"
  log "apt-get install ${PACKAGES[*]} (inside the root)"
  chroot "$part" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${PACKAGES[*]} && apt-get clean" \
    >>"$BASE.partial/install.log" 2>&1 || { tail -30 "$BASE.partial/install.log" >&2; exit 1; }
  rm -rf "$ROOTFS" "$BASE/install.log"
  mv "$part" "$ROOTFS"; mv "$BASE.partial/install.log" "$BASE/install.log"; rmdir "$BASE.partial"
  write_wrappers
  { chroot "$ROOTFS" dpkg-query -W "${PACKAGES[@]}" erlang-base; echo "# debootstrap --variant=minbase trixie $m, $(date -u +%FT%TZ)"; } >"$STAMP.tmp"
  mv "$STAMP.tmp" "$STAMP"
  log "Debian 13 root ready in $(( SECONDS - t0 ))s: $(grep -v '^#' "$STAMP" | tr '\t\n' ' ;')"
}

lock() { mkdir -p "$BASE"; exec 8>"$BASE/.lock"; flock 8; }

case "${1:-}" in
  install) lock; [ -f "$STAMP" ] || install_root ;;
  exec) shift; [ -f "$STAMP" ] || { lock; [ -f "$STAMP" ] || install_root; exec 8>&-; }; exec "$BASE/bin/$(basename "$1")" "${@:2}" ;;
  path) echo "$CACHE" ;;
  versions) cat "$STAMP" ;;
  *) echo "usage: $0 install|exec CMD [ARGS]|path|versions" >&2; exit 2 ;;
esac
