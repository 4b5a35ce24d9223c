# Shared settings and helpers of tests/lab/up and tests/lab/down (sourced, not run).
# shellcheck shell=bash

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LAB_DIR=${SJTU_HPC_LAB_DIR:-/var/tmp/sjtu-hpc-lab}
RUN_DIR=$LAB_DIR/run          # pid files of every daemon the lab started ("PID COMM")
LOG_DIR=$LAB_DIR/log

LAB_USER=hpcrobot
LAB_ACCOUNT=acct-hpc
OTHER_USER=otheruser
OTHER_ACCOUNT=acct-other
CLUSTER=sjtulab
SLURM_NODE=labnode

# entry nodes: "fqdn port hostname kind" (kind: login = cold storage read-only, data = writable)
NODES=(
  "pilogin.hpc.sjtu.edu.cn 2201 pilogin login"
  "sylogin.hpc.sjtu.edu.cn 2202 sylogin login"
  "armlogin.hpc.sjtu.edu.cn 2203 armlogin login"
  "data.hpc.sjtu.edu.cn 2204 data data"
  "sydata.hpc.sjtu.edu.cn 2205 sydata data"
)

# storage roots: "mountpoint fsname size" (sizes differ so "most free space" is testable)
STORAGE=(
  "/lustre lab-lustre 2g"
  "/dssg lab-dssg 1g"
  "/archive lab-archive 768m"
  "/vault lab-vault 1536m"
)
UNION=/union
UNION_FSNAME=lab-union
UNION_BRANCHES=/archive:/vault
COLD_MOUNTS=(/archive /vault /union)   # read-only on login and compute nodes

# partitions (docs/platform.md#partitions): "name MaxTime"; cpu is the default
PARTITIONS=(
  "cpu 7-00:00:00" "debug 00:20:00" "dgx2 7-00:00:00" "huge 2-00:00:00" "192c6t 2-00:00:00"
  "debugarm 7-00:00:00" "arm128c256g 7-00:00:00" "scnet_arm 7-00:00:00"
  "small 7-00:00:00" "64c512g 7-00:00:00" "el9 7-00:00:00" "debug64c512g 01:00:00"
  "win32 7-00:00:00" "a100 7-00:00:00" "a800 7-00:00:00" "debug100 02:00:00"
  "debuga100 02:00:00"
)

# serialise up/down runs (fd 9; daemons are started with it closed)
lab_lock() {
  install -d -m 755 "$LAB_DIR"
  exec 9>"$LAB_DIR/.lock"
  flock -w 300 9 || die "another tests/lab/up or down holds $LAB_DIR/.lock"
}

log() { printf "[lab %(%T)T] %s\n" -1 "$*"; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

# state letter of a process ("" if gone)
proc_state() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0; s=${s##*) }; echo "${s%% *}"; }
# running = exists and is not a zombie (the init process here reaps slowly)
proc_running() { local s; s=$(proc_state "$1"); [[ -n $s && $s != Z && $s != X ]]; }

# pid of the lab daemon NAME if its pid file names a live process with the expected comm
daemon_pid() {
  local f=$RUN_DIR/$1.pid pid comm
  [[ -r $f ]] || return 1
  read -r pid comm < "$f" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_running "$pid" || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm" ]] || return 1
  echo "$pid"
}

# host mount namespace: never treat it as a lab namespace
HOST_MNT_NS=$(readlink /proc/self/ns/mnt)

# pids whose mount namespace is one of those listed (one per line) in file $1.
# The lab's own namespaces only: the host's (ours, init's) is never matched.
pids_in_ns() {
  local file=$1 p pid ns
  local -A want=()
  [[ -s $file ]] || return 0
  while read -r ns; do
    [[ -n $ns && $ns != "$HOST_MNT_NS" && $ns != "$(readlink /proc/1/ns/mnt 2>/dev/null)" ]] && want[$ns]=1
  done < "$file"
  ((${#want[@]})) || return 0
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    ns=$(readlink "$p/ns/mnt" 2>/dev/null) || continue
    [[ -n ${want[$ns]:-} ]] && proc_running "$pid" && echo "$pid"
  done
  return 0
}
# remember the mount namespace of the daemon NAME (appended: older ones may still hold processes)
record_ns() {
  local name=$1 pid ns f=$RUN_DIR/$1.ns
  read -r pid _ < "$RUN_DIR/$name.pid"
  ns=$(readlink "/proc/$pid/ns/mnt") || return 0
  [[ $ns == "$HOST_MNT_NS" ]] && return 0
  grep -qxF "$ns" "$f" 2>/dev/null || echo "$ns" >> "$f"
}

# TERM the pids, wait up to $1 seconds, then KILL what is left; zombies count as stopped
kill_pids() {
  local grace=$1; shift
  local pids=("$@") p left i
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    left=()
    for p in "${pids[@]}"; do proc_running "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    sleep 0.1
  done
  log "  still running after ${grace}s, KILL: ${left[*]}"
  kill -KILL "${left[@]}" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    left=()
    for p in "${pids[@]}"; do proc_running "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    sleep 0.1
  done
  log "  WARNING: not gone: ${left[*]}"
}

# fsname of the mount at $1 from /proc/mounts ("" if not a mount point)
mount_source() { awk -v m="$1" '$2 == m { s = $1 } END { print s }' /proc/mounts; }
