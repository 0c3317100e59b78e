#!/usr/bin/env bash
# The controller side of the operator's path, for the molecule run that deploys over SSH
# (MOLECULE_ACCESS=ssh, see molecule/default): ansible-playbook runs as an unprivileged local user, with the
# collection installed from the built tarball (not the checkout), an inventory outside the repository,
# a key made for this run and host key checking on.
#
#   scripts/operator-path.sh setup          (root) create the user and a fresh operator directory:
#                                           SSH key, ansible.cfg, Python, collection installed from the tarball
#   scripts/operator-path.sh ansible-playbook ARGS...   run as the unprivileged user from the operator directory
#   scripts/operator-path.sh ansible-galaxy ARGS...     idem
#
# The operator directory ($MOSQUITTO_HA_OPERATOR_DIR, default /var/tmp/mosquitto-ha-operator) holds:
#   ansible.cfg  collections/  inventory/ (written by the scenario's prepare)  ssh/{id_ed25519,known_hosts}
set -euo pipefail

CI_USER=${MOSQUITTO_HA_CI_USER:-mosquitto-ha-ci}
CI_HOME=/var/lib/$CI_USER
OP=${MOSQUITTO_HA_OPERATOR_DIR:-/var/tmp/mosquitto-ha-operator}
PROJECT=$(cd "$(dirname "$0")/.." && pwd)
VENV_PYTHON=${MOSQUITTO_HA_VENV_PYTHON:-$PROJECT/.venv/bin/python}

log() { printf '[operator-path] %s\n' "$*" >&2; }

as_user() {
  (cd "$OP" && runuser -u "$CI_USER" -- env -i HOME="$CI_HOME" LANG=C.UTF-8 \
     PATH="$OP/python/bin:/usr/local/bin:/usr/bin:/bin" ANSIBLE_CONFIG="$OP/ansible.cfg" "$@")
}

setup() {
  [ "$(id -u)" = 0 ] || { log "setup needs root (it creates the user $CI_USER)"; exit 1; }
  if ! id "$CI_USER" >/dev/null 2>&1; then
    log "creating the unprivileged controller user $CI_USER"
    useradd --system --create-home --home-dir "$CI_HOME" --shell /usr/sbin/nologin "$CI_USER"
  fi
  [ "$(getent passwd "$CI_USER" | cut -d: -f6)" = "$CI_HOME" ] || { log "the home of $CI_USER is not $CI_HOME"; exit 1; }
  rm -rf "$OP"
  mkdir -p "$OP/bin" "$OP/ssh" "$OP/build" "$OP/collections" "$OP/inventory"
  chmod 0700 "$OP"

  # Python for the user: the project's virtual environment when the user can run it; otherwise (its
  # interpreter lives under a home directory the user cannot enter) a virtual environment of the system
  # Python of the same version that reads the project's installed packages (ansible-core, ansible).
  chown -R "$CI_USER:" "$OP"
  if runuser -u "$CI_USER" -- "$VENV_PYTHON" -c '' 2>/dev/null; then
    ln -s "$(dirname "$(dirname "$VENV_PYTHON")")" "$OP/python"
  else
    local version site system_python
    version=$("$VENV_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    site=$("$VENV_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    system_python=$(PATH=/usr/bin:/bin command -v "python$version" || true)
    [ -n "$system_python" ] || { log "no python$version for $CI_USER (the project venv's is not readable)"; exit 1; }
    runuser -u "$CI_USER" -- test -r "$site" || { log "$CI_USER cannot read $site"; exit 1; }
    runuser -u "$CI_USER" -- "$system_python" -m venv --without-pip "$OP/python"
    runuser -u "$CI_USER" -- sh -c "echo '$site' > \"\$(\"$OP/python/bin/python\" -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')/project-venv.pth\""
  fi
  for tool in ansible-playbook ansible-galaxy; do
    module=${tool#ansible-}
    printf '#!/bin/sh\nexec "%s/python/bin/python" -m ansible.cli.%s "$@"\n' "$OP" "$module" >"$OP/bin/$tool"
    chmod 0755 "$OP/bin/$tool"
  done

  runuser -u "$CI_USER" -- ssh-keygen -q -t ed25519 -N '' -C "$CI_USER" -f "$OP/ssh/id_ed25519"
  : >"$OP/ssh/known_hosts"

  cat >"$OP/ansible.cfg" <<EOF
[defaults]
inventory = $OP/inventory
collections_path = $OP/collections
private_key_file = $OP/ssh/id_ed25519
host_key_checking = True
forks = 10
interpreter_python = auto_silent
callback_result_format = yaml

[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$OP/ssh/known_hosts -o StrictHostKeyChecking=yes
EOF

  log "building the collection tarball"
  (cd "$PROJECT" && "$(dirname "$VENV_PYTHON")/ansible-galaxy" collection build --force --output-path "$OP/build" >/dev/null)
  chown -R "$CI_USER:" "$OP"
  log "installing $(basename "$OP"/build/*.tar.gz) as $CI_USER"
  # Offline: no Galaxy. The dependencies (community.crypto, ansible.posix) come with the ansible package.
  as_user "$OP/bin/ansible-galaxy" collection install --no-deps -p "$OP/collections" "$OP"/build/*.tar.gz >/dev/null
}

case "${1:-}" in
  setup) setup ;;
  ansible-playbook|ansible-galaxy) tool=$1; shift; as_user "$OP/bin/$tool" "$@" ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
