#!/usr/bin/env bash
# `molecule test` for each scenario:distro[:access] given, in parallel lanes.
#
#   scripts/molecule-runs.sh RUN...        (MOLECULE_JOBS lanes at once, default 2)
#
# A RUN is scenario:distro[:access], or make:<target> for another make target to run in a lane (`make test` runs
# the preflight tests beside the molecule runs this way).
#
# The runs of one scenario share its container names and network, so they go one after the other in one lane, in
# the order given. Each scenario (and each make target) goes to the lane with the fewest runs so far (the first to
# the first lane). A lane stops at its first failed run; the other lanes go on to their end.
#
# Each run writes to a log file of its own, kept (pytest lists its slowest tests at the end). This prints a line
# when a run starts and when it ends; for a run that failed, the lines that say what failed and the end of its log.
# Exit status: 0 when every run passed.
set -uo pipefail

MOLECULE=${MOLECULE:-molecule}
MAKE=${MAKE:-make}
JOBS=${MOLECULE_JOBS:-2}
[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || { echo "MOLECULE_JOBS must be a positive whole number, not '$JOBS'" >&2; exit 2; }
[ "$#" -gt 0 ] || { echo "usage: $0 scenario:distro[:access]|make:<target>..." >&2; exit 2; }

# A failed run's report is printed in one piece, not interleaved with the other lanes' lines.
print_lock=$(mktemp "${TMPDIR:-/tmp}/molecule-runs.XXXXXX.lock")
trap 'rm -f "$print_lock"' EXIT
say() { flock "$print_lock" printf '%s\n' "$*"; }

declare -a lanes counts
for ((i = 0; i < JOBS; i++)); do lanes[i]=""; counts[i]=0; done
declare -A lane_of

for run in "$@"; do
  IFS=: read -r scenario distro access extra <<<"$run"
  if [ "$scenario" = make ]; then
    [[ "$distro" =~ ^[a-z][a-z-]*$ ]] && [ -z "$access$extra" ] || { echo "not a make:<target> run: '$run'" >&2; exit 2; }
    scenario=$run
  elif [ -z "$scenario" ] || [ -z "$distro" ] || [ -n "$extra" ] || [[ ! "${access:-docker}" =~ ^(docker|ssh)$ ]]; then
    echo "not a scenario:distro[:access] run (access docker or ssh) nor a make:<target> run: '$run'" >&2
    exit 2
  elif [ ! -d "molecule/$scenario" ]; then
    echo "no molecule scenario '$scenario' (molecule/$scenario)" >&2
    exit 2
  fi
  if [ -z "${lane_of[$scenario]:-}" ]; then
    best=0
    for ((i = 1; i < JOBS; i++)); do ((counts[i] < counts[best])) && best=$i; done
    lane_of[$scenario]=$best
  fi
  lane=${lane_of[$scenario]}
  lanes[lane]+="$run "
  counts[lane]=$((counts[lane] + 1))
done

# One run: its log to a file; a line at its start and end; what failed, from its log, when it fails.
run_one() {
  local lane=$1 run=$2 scenario distro access what start log rc
  IFS=: read -r scenario distro access <<<"$run"
  if [ "$scenario" = make ]; then
    what="make $distro"
    log=$(mktemp "${TMPDIR:-/tmp}/make-$distro.XXXXXX.log")
  else
    access=${access:-docker}
    what="molecule $scenario on $distro ($access)"
    log=$(mktemp "${TMPDIR:-/tmp}/molecule-$scenario-$distro-$access.XXXXXX.log")
  fi
  start=$(date +%s)
  say "=== [lane $lane] $what: started, log $log"
  if [ "$scenario" = make ]; then
    "$MAKE" "$distro" >"$log" 2>&1
  else
    MOLECULE_DISTRO=$distro MOLECULE_ACCESS=$access "$MOLECULE" test -s "$scenario" >"$log" 2>&1
  fi
  rc=$?
  if [ "$rc" -ne 0 ]; then
    {
      echo "=== [lane $lane] $what FAILED (rc $rc) after $(($(date +%s) - start)) s; what failed:"
      sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '(FAILED|ERROR)( |$)|(^|│ +)E  |fatal: |[0-9]+ (passed|failed)' \
        | grep -v 'RETRYING' | tail -n 60
      echo "=== [lane $lane] the last 120 lines of $log:"
      sed 's/\x1b\[[0-9;]*m//g' "$log" | tail -n 120
      echo "=== [lane $lane] end of $what; full log: $log"
    } | flock "$print_lock" cat
    return "$rc"
  fi
  say "=== [lane $lane] $what passed in $(($(date +%s) - start)) s:" \
    "$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -Eo '[0-9]+ passed[^=]*' | tail -n 1) (log: $log)"
}

run_lane() {
  local lane=$1 i
  shift
  local runs=("$@")
  for ((i = 0; i < ${#runs[@]}; i++)); do
    if ! run_one "$lane" "${runs[i]}"; then
      ((i + 1 < ${#runs[@]})) && say "=== [lane $lane] not run after that failure: ${runs[*]:i+1}"
      return 1
    fi
  done
}

pids=()
for ((i = 0; i < JOBS; i++)); do
  [ -n "${lanes[i]}" ] || continue
  # shellcheck disable=SC2086  # the lane's runs, one word each
  run_lane "$((i + 1))" ${lanes[i]} &
  pids+=("$!")
done

status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
exit "$status"
