#!/usr/bin/env bash
# ============================================================================
#  k0s-test-double -- NOT k0s. A TEST DOUBLE of the k0s CLI subset that
#  castai-edge-initd calls, served by the control-plane emulator
#  (test/control-plane/) as the "k0s" artifact, so the VM lab can exercise the
#  agent's k0s step without a real Kubernetes control plane.
#
#  Needs only bash, coreutils, gzip, curl (and systemd for start/stop).
#  No node, no python, no jq.
#
#  Subset implemented (flags as in k0s):
#    k0s version
#    k0s install worker --token-file F [--labels L] [--taints T]
#                       [--kubelet-extra-args A] [-e|--env K=V]... [--force]
#    k0s start | stop | status | reset
#    k0s worker --token-file=F ...    (the k0sworker.service process)
#
#  `worker` decodes the join token (base64 -d | gunzip), checks the user is
#  kubelet-bootstrap, posts a "join" to the kube-API address in the token
#  (https://<host>:8443/k0s-test-double/v1/join, TLS verified against the CA
#  in the token), writes /var/lib/k0s/kubelet.conf, then heartbeats. The
#  emulator records joined nodes (`node test/control-plane/main.ts nodes`).
#
#  Test hooks (environment):
#    K0S_TEST_DOUBLE_ROOT=DIR        prefix every path with DIR and run the
#                                    worker as a background process instead
#                                    of via systemd (unit tests on a host
#                                    without systemd)
#    K0S_TEST_DOUBLE_HEARTBEAT_SEC   heartbeat period (default 10)
#    K0S_TEST_DOUBLE_SYSTEMCTL       systemctl binary (default systemctl)
# ============================================================================
set -euo pipefail

K0S_VERSION="v1.33.1+k0s.0"
R="${K0S_TEST_DOUBLE_ROOT:-}"
SYSTEMCTL="${K0S_TEST_DOUBLE_SYSTEMCTL:-systemctl}"
HEARTBEAT_SEC="${K0S_TEST_DOUBLE_HEARTBEAT_SEC:-10}"
BIN_PATH="/usr/local/bin/k0s"
UNIT="$R/etc/systemd/system/k0sworker.service"
DATA_DIR="$R/var/lib/k0s"
RUN_DIR="$R/run/k0s"
OWN_DIR="$DATA_DIR/k0s-test-double"
PID_FILE="$RUN_DIR/k0s.pid"
KUBELET_CONF="$DATA_DIR/kubelet.conf"
CA_FILE="$DATA_DIR/pki/ca.crt"

err() { printf 'Error: %s\n' "$*" >&2; exit 1; }
log() { printf '%s k0s-test-double[%s]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$$" "$*" >&2; }

use_systemd() { [ -z "$R" ] || [ -n "${K0S_TEST_DOUBLE_SYSTEMCTL:-}" ]; }

require_root() {
  if [ -z "$R" ] && [ "$(id -u)" != "0" ]; then err "this command must be run as root!"; fi
}

# --- JSON / quoting helpers -------------------------------------------------
json_str() { # $1 -> "escaped"
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/\\r}
  printf '"%s"' "$s"
}

labels_json() { # "a=b,c=d" -> {"a":"b","c":"d"}
  local out="" kv
  local -a items=()
  [ -n "$1" ] && IFS=',' read -ra items <<<"$1"
  for kv in "${items[@]}"; do
    [ -z "$kv" ] && continue
    out+="${out:+,}$(json_str "${kv%%=*}"):$(json_str "${kv#*=}")"
  done
  printf '{%s}' "$out"
}

taints_json() { # "k=v:Effect,k2:Effect" -> [{"key":..,"value":..,"effect":..}]
  local out="" t kv effect key value
  local -a items=()
  [ -n "$1" ] && IFS=',' read -ra items <<<"$1"
  for t in "${items[@]}"; do
    [ -z "$t" ] && continue
    kv=${t%:*}; effect=${t##*:}
    if [[ $kv == *=* ]]; then key=${kv%%=*}; value=${kv#*=}; else key=$kv; value=""; fi
    # Like the Kubernetes API (value is omitempty), a taint without a value has no "value" field.
    if [ -n "$value" ]; then
      out+="${out:+,}{\"key\":$(json_str "$key"),\"value\":$(json_str "$value"),\"effect\":$(json_str "$effect")}"
    else
      out+="${out:+,}{\"key\":$(json_str "$key"),\"effect\":$(json_str "$effect")}"
    fi
  done
  printf '[%s]' "$out"
}

json_field() { # $1=json $2=field -> plain string value (flat string fields only)
  printf '%s' "$1" | grep -o "\"$2\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" | head -n1 | sed 's/.*:[[:space:]]*"\(.*\)"$/\1/' || true
}

sd_quote() { # quote one argument for a systemd ExecStart= line
  local s=$1
  s=${s//%/%%}; s=${s//\$/\$\$}
  if [[ $s =~ [[:space:]\"\\\'] ]]; then
    s=${s//\\/\\\\}; s=${s//\"/\\\"}
    printf '"%s"' "$s"
  else
    printf '%s' "$s"
  fi
}

yaml_value() { # $1=key -> first "key: value" in the kubeconfig on stdin
  sed -n "s/^[[:space:]-]*$1:[[:space:]]*//p" | head -n1 | sed "s/^[\"']//; s/[\"']\$//"
}

# --- flags shared by install worker / worker ----------------------------------
TOKEN_FILE="" LABELS="" TAINTS="" KUBELET_EXTRA_ARGS="" FORCE=0
ENVS=()
parse_worker_flags() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --token-file=*) TOKEN_FILE=${1#*=} ;;
      --token-file) TOKEN_FILE=${2:?--token-file needs a value}; shift ;;
      --labels=*) LABELS=${1#*=} ;;
      --labels) LABELS=${2:?--labels needs a value}; shift ;;
      --taints=*) TAINTS=${1#*=} ;;
      --taints) TAINTS=${2:?--taints needs a value}; shift ;;
      --kubelet-extra-args=*) KUBELET_EXTRA_ARGS=${1#*=} ;;
      --kubelet-extra-args) KUBELET_EXTRA_ARGS=${2:?--kubelet-extra-args needs a value}; shift ;;
      -e|--env) ENVS+=("${2:?$1 needs K=V}"); shift ;;
      --env=*) ENVS+=("${1#*=}") ;;
      --force) FORCE=1 ;;
      *) err "unknown flag: $1 (k0s-test-double implements --token-file --labels --taints --kubelet-extra-args -e/--env --force)" ;;
    esac
    shift
  done
}

worker_pid() { # prints the running worker pid, or nothing
  local pid
  [ -f "$PID_FILE" ] || return 0
  pid=$(cat "$PID_FILE" 2>/dev/null || true)
  # alive, and really our worker (not a recycled pid)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q ' worker'; then
    printf '%s' "$pid"
  fi
}

is_running() {
  if use_systemd && "$SYSTEMCTL" is-active --quiet k0sworker.service 2>/dev/null; then return 0; fi
  [ -n "$(worker_pid)" ]
}

# --- commands -----------------------------------------------------------------
cmd_version() { printf '%s (k0s-test-double)\n' "$K0S_VERSION"; }

cmd_install() {
  [ "${1:-}" = "worker" ] || err "k0s-test-double only implements \"install worker\" (got \"install ${1:-}\")"
  shift
  require_root
  parse_worker_flags "$@"
  [ -n "$TOKEN_FILE" ] || err "--token-file is required for a worker install"
  [ -s "$R$TOKEN_FILE" ] || err "failed to read token file $TOKEN_FILE: no such file or empty"
  if [ -e "$UNIT" ] && [ "$FORCE" != 1 ]; then
    err "failed to install k0s service: Init already exists: ${UNIT#"$R"}"
  fi
  local exec
  exec="$BIN_PATH worker --token-file=$(sd_quote "$TOKEN_FILE")"
  [ -n "$LABELS" ] && exec+=" --labels=$(sd_quote "$LABELS")"
  [ -n "$TAINTS" ] && exec+=" --taints=$(sd_quote "$TAINTS")"
  [ -n "$KUBELET_EXTRA_ARGS" ] && exec+=" --kubelet-extra-args=$(sd_quote "$KUBELET_EXTRA_ARGS")"
  local envlines="" e
  for e in "${ENVS[@]}"; do
    [[ $e == *=* ]] || err "invalid env \"$e\": expected K=V"
    envlines+="Environment=$(sd_quote "$e")"$'\n'
  done
  mkdir -p "$(dirname "$UNIT")" "$OWN_DIR"
  local tmp="$UNIT.tmp.$$"
  cat >"$tmp" <<EOF
# Written by k0s-test-double (a TEST DOUBLE of "k0s install worker"), not by k0s.
[Unit]
Description=k0s - Zero Friction Kubernetes (k0s-test-double)
Documentation=https://docs.k0sproject.io
ConditionFileIsExecutable=$BIN_PATH

After=network-online.target
Wants=network-online.target

[Service]
StartLimitInterval=5
StartLimitBurst=10
ExecStart=$exec
${envlines}
RestartSec=10
Delegate=yes
KillMode=process
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
LimitNOFILE=999999
Restart=always

[Install]
WantedBy=multi-user.target
EOF
  chmod 0644 "$tmp"
  mv -f "$tmp" "$UNIT"
  # The worker args, for starting without systemd (K0S_TEST_DOUBLE_ROOT).
  {
    printf '%s\0' "--token-file=$TOKEN_FILE"
    [ -n "$LABELS" ] && printf '%s\0' "--labels=$LABELS"
    [ -n "$TAINTS" ] && printf '%s\0' "--taints=$TAINTS"
    [ -n "$KUBELET_EXTRA_ARGS" ] && printf '%s\0' "--kubelet-extra-args=$KUBELET_EXTRA_ARGS"
    true
  } >"$OWN_DIR/worker.args"
  if use_systemd; then
    "$SYSTEMCTL" daemon-reload
    "$SYSTEMCTL" enable k0sworker.service >/dev/null 2>&1 || "$SYSTEMCTL" enable k0sworker.service
  fi
}

cmd_start() {
  require_root
  [ -e "$UNIT" ] || err "failed to start k0s service: the service is not installed (run \"k0s install worker\" first)"
  if use_systemd; then
    "$SYSTEMCTL" start k0sworker.service
    return
  fi
  [ -z "$(worker_pid)" ] || err "k0s is already running (pid $(worker_pid))"
  local -a args=()
  mapfile -d '' args <"$OWN_DIR/worker.args"
  mkdir -p "$RUN_DIR" "$R/var/log"
  setsid "$0" worker "${args[@]}" >>"$R/var/log/k0sworker.log" 2>&1 </dev/null &
  local i
  for i in $(seq 1 50); do
    [ -n "$(worker_pid)" ] && return 0
    sleep 0.1
  done
  err "the worker did not start; see $R/var/log/k0sworker.log"
}

cmd_stop() {
  require_root
  if use_systemd; then
    "$SYSTEMCTL" stop k0sworker.service
    return
  fi
  local pid i
  pid=$(worker_pid)
  [ -n "$pid" ] || return 0
  kill -TERM "$pid"
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  err "the worker (pid $pid) did not stop"
}

cmd_status() {
  local pid joined=false
  pid=$(worker_pid)
  if [ -z "$pid" ]; then
    err "can't get \"status\" via \"/run/k0s/status.sock\": dial unix /run/k0s/status.sock: connect: no such file or directory"
  fi
  [ -f "$KUBELET_CONF" ] && joined=true
  printf 'Version: %s (k0s-test-double)\nProcess ID: %s\nRole: worker\nWorkloads: true\nSingleNode: false\nKube-api probing successful: %s\nKube-api probing last error: \n' \
    "$K0S_VERSION" "$pid" "$joined"
}

cmd_reset() {
  require_root
  if is_running; then err "k0s seems to be running! please stop k0s before reset."; fi
  if [ -e "$UNIT" ] && use_systemd; then "$SYSTEMCTL" disable k0sworker.service >/dev/null 2>&1 || true; fi
  rm -f "$UNIT" "$KUBELET_CONF" "$CA_FILE" "$OWN_DIR/worker.args" "$PID_FILE" \
    "$RUN_DIR/join.json" "$RUN_DIR/join.resp" "$RUN_DIR/heartbeat.json"
  rmdir "$OWN_DIR" "$DATA_DIR/pki" 2>/dev/null || true
  # /var/lib/k0s may be a mount point (the agent's LVM stripe): never remove through it.
  rmdir "$DATA_DIR" "$RUN_DIR" 2>/dev/null || true
  if use_systemd; then "$SYSTEMCTL" daemon-reload; fi
  printf 'k0s-test-double: reset done (removed the k0sworker unit, kubelet.conf and the double'"'"'s state)\n' >&2
}

# --- the worker process (what k0sworker.service runs) ------------------------
WORKER_SLEEP_PID=""
worker_exit() {
  [ -n "$WORKER_SLEEP_PID" ] && kill "$WORKER_SLEEP_PID" 2>/dev/null
  rm -f "$PID_FILE"
  log "stopping"
  exit 0
}

post_json() { # $1=url $2=credential $3=body-file $4=response-file -> prints HTTP code
  # The credential goes to curl on stdin (-H @-), never in argv.
  printf 'Authorization: Bearer %s\n' "$2" | curl -sS --max-time 10 --cacert "$CA_FILE" \
    -H @- -H 'Content-Type: application/json' --data-binary @"$3" -o "$4" -w '%{http_code}' "$1" || true
}

cmd_worker() {
  require_root
  parse_worker_flags "$@"
  [ -n "$TOKEN_FILE" ] || err "--token-file is required"
  local node_ip="" hostname_override="" provider_id=""
  local -a extra=()
  read -ra extra <<<"$KUBELET_EXTRA_ARGS"
  local i a
  for ((i = 0; i < ${#extra[@]}; i++)); do
    a=${extra[$i]}
    case "$a" in
      --node-ip=*) node_ip=${a#*=} ;;
      --node-ip) node_ip=${extra[$((i + 1))]:-}; i=$((i + 1)) ;;
      --hostname-override=*) hostname_override=${a#*=} ;;
      --hostname-override) hostname_override=${extra[$((i + 1))]:-}; i=$((i + 1)) ;;
      --provider-id=*) provider_id=${a#*=} ;;
      --provider-id) provider_id=${extra[$((i + 1))]:-}; i=$((i + 1)) ;;
    esac
  done
  local host_name node_name
  host_name=$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)
  node_name=${hostname_override:-$host_name}

  mkdir -p "$RUN_DIR" "$OWN_DIR" "$DATA_DIR/pki"
  [ -z "$(worker_pid)" ] || err "another k0s worker is running (pid $(worker_pid))"
  printf '%s\n' "$$" >"$PID_FILE"
  trap worker_exit TERM INT
  trap 'rm -f "$PID_FILE" "$RUN_DIR/join.json" "$RUN_DIR/join.resp"' EXIT

  local server credential
  if [ -f "$KUBELET_CONF" ]; then
    # Joined before: the token is ignored from now on (like k0s).
    server=$(yaml_value server <"$KUBELET_CONF")
    credential=$(yaml_value token <"$KUBELET_CONF")
    log "already joined (kubelet.conf exists) as $node_name, server $server"
  else
    [ -s "$R$TOKEN_FILE" ] || { rm -f "$PID_FILE"; err "token file $TOKEN_FILE is missing or empty"; }
    local kubeconfig user token ca_data
    if ! kubeconfig=$(base64 -d <"$R$TOKEN_FILE" 2>/dev/null | gunzip 2>/dev/null); then
      rm -f "$PID_FILE"; err "failed to decode join token: not base64(gzip(kubeconfig))"
    fi
    server=$(yaml_value server <<<"$kubeconfig")
    ca_data=$(yaml_value certificate-authority-data <<<"$kubeconfig")
    token=$(yaml_value token <<<"$kubeconfig")
    user=$(sed -n 's/^- name:[[:space:]]*//p' <<<"$kubeconfig" | tail -n1)
    [ "$user" = "kubelet-bootstrap" ] || { rm -f "$PID_FILE"; err "join token user is \"$user\", expected kubelet-bootstrap (not a worker token)"; }
    if [ -z "$server" ] || [ -z "$ca_data" ] || [ -z "$token" ]; then
      rm -f "$PID_FILE"; err "join token kubeconfig lacks server, certificate-authority-data or token"
    fi
    printf '%s' "$ca_data" | base64 -d >"$CA_FILE"
    chmod 0644 "$CA_FILE"

    local body="$RUN_DIR/join.json" resp="$RUN_DIR/join.resp" code
    printf '{"nodeName":%s,"hostname":%s,"nodeIP":%s,"providerID":%s,"labels":%s,"taints":%s,"k0sVersion":%s}\n' \
      "$(json_str "$node_name")" "$(json_str "$host_name")" "$(json_str "$node_ip")" "$(json_str "$provider_id")" \
      "$(labels_json "$LABELS")" "$(taints_json "$TAINTS")" "$(json_str "$K0S_VERSION")" >"$body"
    log "joining $server as $node_name (labels: ${LABELS:-none}, taints: ${TAINTS:-none}, node-ip: ${node_ip:-auto})"
    code=$(post_json "$server/k0s-test-double/v1/join" "$token" "$body" "$resp")
    if [ "$code" != "201" ]; then
      local msg
      msg=$(json_field "$(cat "$resp" 2>/dev/null || true)" message)
      rm -f "$PID_FILE" "$resp"
      case "$code:$msg" in
        401:*expired*) err "join failed: the bootstrap token in the join token expired (HTTP 401: $msg); get a fresh join token" ;;
        000:*) err "join failed: cannot reach $server (TLS or network error, see above)" ;;
        *) err "join failed: HTTP $code: ${msg:-no message}" ;;
      esac
    fi
    credential=$(json_field "$(cat "$resp")" nodeCredential)
    rm -f "$resp"
    [ -n "$credential" ] || { rm -f "$PID_FILE"; err "join response has no nodeCredential"; }
    local tmp="$KUBELET_CONF.tmp.$$"
    (
      umask 077
      # A test double's kubelet.conf: a node token instead of the client certificate a real kubelet gets.
      cat >"$tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: ${CA_FILE#"$R"}
    server: $server
  name: k0s
contexts:
- context:
    cluster: k0s
    user: system:node:$node_name
  name: k0s
current-context: k0s
users:
- name: system:node:$node_name
  user:
    token: $credential
EOF
    )
    mv -f "$tmp" "$KUBELET_CONF"
    log "joined as $node_name; wrote ${KUBELET_CONF#"$R"}"
  fi

  printf '{"nodeName":%s}\n' "$(json_str "$node_name")" >"$RUN_DIR/heartbeat.json"
  while true; do
    local hb
    hb=$(post_json "$server/k0s-test-double/v1/heartbeat" "$credential" "$RUN_DIR/heartbeat.json" /dev/null)
    [ "$hb" = "200" ] || log "heartbeat to $server failed (HTTP $hb)"
    sleep "$HEARTBEAT_SEC" &
    WORKER_SLEEP_PID=$!
    wait "$WORKER_SLEEP_PID" || true
    WORKER_SLEEP_PID=""
  done
}

main() {
  local cmd=${1:-}
  [ $# -gt 0 ] && shift
  case "$cmd" in
    version) cmd_version ;;
    install) cmd_install "$@" ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    reset) cmd_reset ;;
    worker) cmd_worker "$@" ;;
    ""|help|-h|--help)
      printf 'k0s-test-double (NOT k0s): version | install worker | start | stop | status | reset | worker\n' ;;
    *) err "unknown command \"$cmd\" for \"k0s\" (k0s-test-double implements version, install worker, start, stop, status, reset, worker)" ;;
  esac
}
main "$@"
