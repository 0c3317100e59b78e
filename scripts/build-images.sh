#!/usr/bin/env bash
# Build the systemd test images (Debian 12 "bookworm", Debian 13 "trixie") without any container
# registry: debootstrap a minimal Debian, then `docker import` it.
#
# The packages the roles install (mosquitto, nginx, keepalived, ...) are only *downloaded* into the
# image's apt cache, never installed: the roles still install them from the OS packages, they just do
# not fetch them again for every test container.
#
# The images also carry the operator's way in, for the scenario run that deploys over SSH: sshd (host keys
# made at the container's first boot, so no two containers share them) and a user `deploy` with
# password-less sudo and no password (key authentication only; the test installs a key generated per run).
#
# Usage: scripts/build-images.sh [--force] [SUITE ...]   (default suites: bookworm trixie)
set -euo pipefail

IMAGE_REPO=${MOSQUITTO_HA_IMAGE_REPO:-mosquitto-ha-node}
# Raised whenever what goes into the image changes: an image of another version is rebuilt.
IMAGE_VERSION=2
BASE_PACKAGES=systemd,systemd-sysv,python3,python3-apt,iproute2,procps,ca-certificates,openssh-server,sudo
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
    if docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$tag" \
        | grep -qx "MOSQUITTO_HA_IMAGE_VERSION=$IMAGE_VERSION"; then
      log "$tag exists (use --force to rebuild)"
      return 0
    fi
    log "$tag is not image version $IMAGE_VERSION: rebuilding"
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

  # sshd: no host keys in the image; a oneshot unit makes them at first boot, before ssh.service starts.
  rm -f "$dir"/etc/ssh/ssh_host_*
  cat >"$dir/etc/systemd/system/ssh-hostkeys.service" <<'UNIT'
[Unit]
Description=Generate this container's SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
UNIT
  mkdir -p "$dir/etc/systemd/system/ssh.service.requires"
  ln -sf ../ssh-hostkeys.service "$dir/etc/systemd/system/ssh.service.requires/ssh-hostkeys.service"
  mkdir -p "$dir/etc/systemd/system/multi-user.target.wants"
  ln -sf /lib/systemd/system/ssh.service "$dir/etc/systemd/system/multi-user.target.wants/ssh.service"
  # The operator's account: key authentication only (no password), sudo without a password.
  chroot "$dir" /usr/sbin/useradd --create-home --shell /bin/bash deploy
  echo 'deploy ALL=(ALL:ALL) NOPASSWD: ALL' >"$dir/etc/sudoers.d/deploy"
  chmod 0440 "$dir/etc/sudoers.d/deploy"

  log "fetching the roles' packages into the apt cache of $suite"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  chroot "$dir" /usr/bin/apt-get -o APT::Sandbox::User=root update -qq
  # shellcheck disable=SC2086
  chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
    /usr/bin/apt-get -o APT::Sandbox::User=root install -y -qq --download-only $CACHED_PACKAGES >/dev/null
  : >"$dir/etc/resolv.conf"

  log "importing $tag"
  tar -C "$dir" -c . | docker import \
    -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' -c "ENV MOSQUITTO_HA_IMAGE_VERSION=$IMAGE_VERSION" \
    - "$tag" >/dev/null
  log "built $tag"
}

for suite in "${suites[@]}"; do
  build "$suite"
done
