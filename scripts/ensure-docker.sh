#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine: install Debian's docker.io when the engine is
# missing, start dockerd in the background when nothing runs, and wait until `docker info` answers.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    log "the Docker engine is missing; run this as root or install docker.io yourself"
    exit 1
  fi
  log "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker || true
  fi
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /var/log/mosquitto-ha-dockerd.log)"
  nohup dockerd >/var/log/mosquitto-ha-dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "Docker engine is ready"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/mosquitto-ha-dockerd.log"
exit 1
