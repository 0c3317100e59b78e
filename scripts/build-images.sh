#!/usr/bin/env bash
# Build the systemd test images (Debian 12 "bookworm", Debian 13 "trixie") without any container
# registry: debootstrap a minimal Debian, then `docker import` it.
#
# The packages the roles install (mosquitto, nginx, keepalived, ...) are only *downloaded* into the
# image's apt cache, never installed: the roles still install them from the OS packages, they just do
# not fetch them again for every test container.
#
# Usage: scripts/build-images.sh [--force] [SUITE ...]   (default suites: bookworm trixie)
set -euo pipefail

IMAGE_REPO=${MOSQUITTO_HA_IMAGE_REPO:-mosquitto-ha-node}
BASE_PACKAGES=systemd,systemd-sysv,python3,python3-apt,iproute2,procps,ca-certificates
# Same list as the roles install; only fetched into /var/cache/apt/archives here.
CACHED_PACKAGES="mosquitto nginx libnginx-mod-stream keepalived python3-cryptography"

force=0
suites=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) suites+=("$arg") ;;
  esac
done
[ ${#suites[@]} -gt 0 ] || suites=(bookworm trixie)

log() { printf '[build-images] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "debootstrap needs root"
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi

build() {
  local suite=$1 tag="$IMAGE_REPO:$1"
  if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag exists (use --force to rebuild)"
    return 0
  fi
  local dir
  dir=$(mktemp -d "/var/tmp/mosquitto-ha-rootfs-$suite.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$dir'" RETURN
  log "debootstrap $suite into $dir"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" "$suite" "$dir" >"$dir.log" 2>&1 \
    || { tail -n 30 "$dir.log" >&2; rm -f "$dir.log"; return 1; }
  rm -f "$dir.log"

  # Units that make no sense in a test container, or that would take the dpkg lock mid-test.
  for unit in apt-daily.timer apt-daily-upgrade.timer getty@tty1.service systemd-udevd.service \
              systemd-udev-trigger.service systemd-firstboot.service systemd-remount-fs.service \
              e2scrub_reap.service; do
    ln -sf /dev/null "$dir/etc/systemd/system/$unit"
  done
  : >"$dir/etc/machine-id"

  log "fetching the roles' packages into the apt cache of $suite"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" /usr/bin/apt-get -o APT::Sandbox::User=root update -qq
  # shellcheck disable=SC2086
  chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
    /usr/bin/apt-get -o APT::Sandbox::User=root install -y -qq --download-only $CACHED_PACKAGES >/dev/null
  : >"$dir/etc/resolv.conf"

  log "importing $tag"
  tar -C "$dir" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' \
    - "$tag" >/dev/null
  log "built $tag"
}

for suite in "${suites[@]}"; do
  build "$suite"
done
