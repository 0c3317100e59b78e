#!/usr/bin/env bash
# The local lab: the whole cluster in five systemd containers on this machine.
#
#   scripts/lab.sh up       build the image if needed, start the containers, run site.yml, smoke-check
#                           a message through the VIP, print how to connect
#   scripts/lab.sh down     remove the containers, the network and the lab's generated CA and secrets
#   scripts/lab.sh status   show the containers and who holds the VIP
#
# LAB_DISTRO=bookworm|trixie picks Debian 12 (default) or 13.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DISTRO=${LAB_DISTRO:-bookworm}
IMAGE=mosquitto-ha-node:$DISTRO
# shellcheck source=scripts/lab.env
. scripts/lab.env
NETWORK=$LAB_NETWORK
SUBNET=$LAB_SUBNET
VIP=$LAB_VIP
PORT=$LAB_PORT
INVENTORY=inventories/lab
SECRETS=$INVENTORY/.mosquitto-ha
declare -A NODES=()
ORDER=()
for pair in $LAB_NODES; do
  NODES[${pair%%=*}]=${pair#*=}
  ORDER+=("${pair%%=*}")
done

log() { printf '[lab] %s\n' "$*" >&2; }

venv() {
  if [ ! -x .venv/bin/ansible-playbook ] || [ ! -e .collections/ansible_collections/mosquitto_ha/cluster ]; then
    make --no-print-directory venv >&2
  fi
  export PATH=$ROOT/.venv/bin:$PATH
  export ANSIBLE_COLLECTIONS_PATH=$ROOT/.collections
}

start_node() {
  local name=$1 ip=${NODES[$1]}
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
    return 0
  fi
  docker rm -f "$name" >/dev/null 2>&1 || true
  local extra=()
  case "$name" in *-lb*) extra=(--sysctl net.ipv4.ip_nonlocal_bind=1) ;; esac
  docker run -d --name "$name" --hostname "$name" --network "$NETWORK" --ip "$ip" \
    --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
    --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
    --security-opt seccomp=unconfined \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add NET_RAW \
    --stop-signal SIGRTMIN+3 --label mosquitto-ha-lab=1 \
    "${extra[@]}" "$IMAGE" /lib/systemd/systemd >/dev/null
}

wait_systemd() {
  local name=$1
  for _ in $(seq 1 60); do
    case "$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)" in
      running|degraded) return 0 ;;
    esac
    sleep 0.5
  done
  log "systemd in $name did not come up"
  return 1
}

up() {
  local t0=$SECONDS
  ./scripts/ensure-docker.sh
  ./scripts/build-images.sh "$DISTRO"
  venv
  docker network inspect "$NETWORK" >/dev/null 2>&1 \
    || docker network create --subnet "$SUBNET" --label mosquitto-ha-lab=1 "$NETWORK" >/dev/null
  for n in "${ORDER[@]}"; do start_node "$n"; done
  for n in "${ORDER[@]}"; do wait_systemd "$n"; done
  log "containers up after $((SECONDS - t0)) s; running site.yml"
  local t1=$SECONDS
  ansible-playbook -i "$INVENTORY" playbooks/site.yml
  log "site.yml took $((SECONDS - t1)) s"
  log "smoke check: messages through the VIP, counted at every broker"
  local password
  password=$(cat "$SECRETS/lab_mqtt_password")
  MQTT_PASSWORD=$password python tests/e2e/mqttcheck.py --vip "$VIP" --port "$PORT" --cafile "$SECRETS/pki/ca.crt" \
    --username lab --broker "${NODES[mqttlab-broker1]}:8883" --broker "${NODES[mqttlab-broker2]}:8883" --messages 10
  log "lab ready in $((SECONDS - t0)) s"
  cat <<MSG

The lab cluster is up (Debian $DISTRO). Clients connect to the VIP with TLS:

  VIP      $VIP:$PORT   (DNS name in the certificates: mqtt.lab.test)
  CA       $ROOT/$SECRETS/pki/ca.crt
  brokers  ${NODES[mqttlab-broker1]}:8883 ${NODES[mqttlab-broker2]}:8883   bridge master ${NODES[mqttlab-bridge]}:8883
  user     lab, password in $ROOT/$SECRETS/lab_mqtt_password (anonymous clients are refused)

  mosquitto_sub -h $VIP -p $PORT --cafile $ROOT/$SECRETS/pki/ca.crt -u lab -P "\$(cat $ROOT/$SECRETS/lab_mqtt_password)" -t 'demo/#' -v
  mosquitto_pub -h $VIP -p $PORT --cafile $ROOT/$SECRETS/pki/ca.crt -u lab -P "\$(cat $ROOT/$SECRETS/lab_mqtt_password)" -t demo/hello -m 'hello' -q 1

(mosquitto_pub and mosquitto_sub come with Debian's mosquitto-clients package.)
Re-run the playbook:  ANSIBLE_COLLECTIONS_PATH=$ROOT/.collections .venv/bin/ansible-playbook -i $INVENTORY playbooks/site.yml
Tear it all down:     make lab-down
MSG
}

down() {
  for n in "${ORDER[@]}"; do docker rm -f "$n" >/dev/null 2>&1 || true; done
  docker network rm "$NETWORK" >/dev/null 2>&1 || true
  rm -rf "$SECRETS"
  log "lab removed (containers, network $NETWORK, $SECRETS)"
}

status() {
  for n in "${ORDER[@]}"; do
    local state holder=""
    state=$(docker inspect -f '{{.State.Status}}' "$n" 2>/dev/null || echo absent)
    if [ "$state" = running ] && docker exec "$n" ip -4 -o addr show 2>/dev/null | grep -q " $VIP/"; then
      holder="  <- holds the VIP $VIP"
    fi
    printf '%-18s %-15s %s%s\n' "$n" "${NODES[$n]}" "$state" "$holder"
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
