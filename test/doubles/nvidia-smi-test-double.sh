#!/usr/bin/env bash
# nvidia-smi TEST DOUBLE -- this is NOT NVIDIA software and drives no GPU.
#
# A simulated GPU box for tests, installed as `nvidia-smi` on PATH (a copy or a
# symlink). It runs anywhere bash, coreutils, sed, awk and grep exist (the
# minimal Debian VM guest included): no node, python or jq.
#
# Its output formats are copied from the real driver output kept in
# test/fixtures/nvidia-smi/ (see SOURCES.md) and must match those fixtures byte
# for byte; test/unit/gpu-double.test.ts checks that. Tables for layouts that
# have no fixture are printed in the same format.
#
# State lives in a directory:
#   $NVIDIA_SMI_TEST_DOUBLE_STATE, else `state_dir=` in
#   <dir of this executable>/nvidia-smi-test-double.conf, else
#   /var/lib/nvidia-smi-test-double.
# $STATE/config (key=value lines) describes the simulated machine:
#   gpus=a100-40gb,a2          models, one per GPU index: a100-40gb, h100-80gb, h100-nvl, a2 (no MIG)
#   mig_mode=disabled          initial MIG mode of every MIG-capable GPU (enabled|disabled)
#   enable=immediate           `-mig 1`: immediate | pending-in-use | pending-not-supported
#   reset=ok                   `-r`: ok | unsupported | in-use
#   reboot_applies_mode=1      a simulated reboot turns a pending mode into the current one (0: passthrough that never does)
#   busy=0                     1: creating/destroying instances fails "In use by another client"
#   lgip_when_disabled=list    list | none (older drivers print "No MIG-enabled devices found.")
#   cgi_lies=0                 1: `-cgi` prints success but creates nothing (mig-parted#18)
#   bus_<i>=0000:..            override the PCI bus id of GPU i
# Per GPU: $STATE/gpu<i>.mode ("<current> <pending>"), gpu<i>.gi ("<gi id> <profile id> <start> <size>"
# per line), gpu<i>.ci ("<gi id> <ci id>" per line). Every call is appended to $STATE/calls.log.
#
# A real reboot of the machine the double runs on (a VM guest) is noticed through
# /proc/sys/kernel/random/boot_id and has the same effect as --test-double-reboot.
#
# Test-only commands (no real nvidia-smi has them):
#   --test-double-reboot   simulate a reboot: instances vanish; a pending mode becomes current
#                          when reboot_applies_mode=1.
set -u
export LC_ALL=C

self_dir=$(cd "$(dirname "$0")" && pwd)
STATE=${NVIDIA_SMI_TEST_DOUBLE_STATE:-}
if [ -z "$STATE" ] && [ -f "$self_dir/nvidia-smi-test-double.conf" ]; then
  STATE=$(sed -n 's/^state_dir=//p' "$self_dir/nvidia-smi-test-double.conf" | head -n 1)
fi
STATE=${STATE:-/var/lib/nvidia-smi-test-double}
mkdir -p "$STATE"
CONFIG="$STATE/config"
[ -f "$CONFIG" ] || printf 'gpus=a100-40gb\n' >"$CONFIG"
printf '%s\n' "$*" >>"$STATE/calls.log"

cfg() { # cfg KEY DEFAULT
  local v
  v=$(sed -n "s/^$1=//p" "$CONFIG" | tail -n 1)
  printf '%s' "${v:-$2}"
}

# ---- simulated models ------------------------------------------------------
# profile rows: id|name|total|memGiB|p2p|sm|dec|enc|ce|jpeg|ofa|placement starts|placement size
model_profiles() {
  case "$1" in
  a100-40gb) cat <<'EOF'
19|1g.5gb|7|4.75|No|14|0|0|1|0|0|0,1,2,3,4,5,6|1
20|1g.5gb+me|1|4.75|No|14|1|0|1|1|1|0,1,2,3,4,5,6|1
15|1g.10gb|4|9.75|No|14|1|0|1|0|0|0,2,4,6|2
14|2g.10gb|3|9.75|No|28|1|0|2|0|0|0,2,4|2
9|3g.20gb|2|19.62|No|42|2|0|3|0|0|0,4|4
5|4g.20gb|1|19.62|No|56|2|0|4|0|0|0|4
0|7g.40gb|1|39.50|No|98|5|0|7|1|1|0|8
EOF
  ;;
  h100-80gb) cat <<'EOF'
19|1g.10gb|7|9.75|No|16|1|0|1|1|0|0,1,2,3,4,5,6|1
20|1g.10gb+me|1|9.75|No|16|1|0|1|1|1|0,1,2,3,4,5,6|1
15|1g.20gb|4|19.62|No|26|1|0|1|1|0|0,2,4,6|2
14|2g.20gb|3|19.62|No|32|2|0|2|2|0|0,2,4|2
9|3g.40gb|2|39.50|No|60|3|0|3|3|0|0,4|4
5|4g.40gb|1|39.50|No|64|4|0|4|4|0|0|4
0|7g.80gb|1|79.25|No|132|7|0|8|7|1|0|8
EOF
  ;;
  h100-nvl) cat <<'EOF'
19|1g.12gb|7|10.62|No|16|1|0|1|1|0|0,1,2,3,4,5,6|1
20|1g.12gb+me|1|10.62|No|16|1|0|1|1|1|0,1,2,3,4,5,6|1
15|1g.24gb|4|21.50|No|26|1|0|1|1|0|0,2,4,6|2
14|2g.24gb|3|21.50|No|32|2|0|2|2|0|0,2,4|2
9|3g.47gb|2|46.12|No|60|3|0|3|3|0|0,4|4
5|4g.47gb|1|46.12|No|64|4|0|4|4|0|0|4
0|7g.94gb|1|92.62|No|132|7|0|8|7|1|0|8
EOF
  ;;
  a2) : ;;
  esac
}
model_name() {
  case "$1" in
  a100-40gb) echo 'NVIDIA A100-PCIE-40GB' ;; h100-80gb) echo 'NVIDIA H100 80GB HBM3' ;;
  h100-nvl) echo 'NVIDIA H100 NVL' ;; a2) echo 'NVIDIA A2' ;; *) echo "unknown model $1" >&2; exit 99 ;;
  esac
}
model_mem() {
  case "$1" in a100-40gb) echo 40960 ;; h100-80gb) echo 81559 ;; h100-nvl) echo 95830 ;; a2) echo 15356 ;; esac
}
# CUDA compute capability (`--query-gpu=compute_cap`, driver >= 510, "Major DOT Minor"): NVIDIA's
# CUDA GPUs table (developer.nvidia.com/cuda-gpus): A100 8.0, A2 8.6, H100 and H100 NVL 9.0.
model_cc() {
  case "$1" in a100-40gb) echo 8.0 ;; h100-80gb | h100-nvl) echo 9.0 ;; a2) echo 8.6 ;; esac
}
model_bus() {
  case "$1" in a100-40gb) echo 00000000:04:00.0 ;; h100-80gb) echo 00000000:16:00.0 ;; h100-nvl) echo 00000000:1B:00.0 ;; a2) echo 00000000:08:00.0 ;; esac
}

IFS=', ' read -r -a MODELS <<<"$(cfg gpus a100-40gb)"
NGPU=${#MODELS[@]}

gpu_model() { printf '%s' "${MODELS[$1]}"; }
gpu_bus() {
  local b m i seen=0
  b=$(cfg "bus_$1" '')
  if [ -n "$b" ]; then printf '%s' "$b"; return; fi
  m=$(gpu_model "$1")
  for ((i = 0; i < $1; i++)); do [ "${MODELS[$i]}" = "$m" ] && seen=1; done
  if [ $seen = 0 ]; then model_bus "$m"; else printf '00000000:%02X:00.0' $((0x40 + $1)); fi
}
gpu_mig_capable() { [ "$(gpu_model "$1")" != a2 ]; }
gpu_mode() { # prints "<current> <pending>"
  local f="$STATE/gpu$1.mode"
  if ! gpu_mig_capable "$1"; then echo '[N/A] [N/A]'; return; fi
  if [ ! -f "$f" ]; then
    if [ "$(cfg mig_mode disabled)" = enabled ]; then echo 'Enabled Enabled' >"$f"; else echo 'Disabled Disabled' >"$f"; fi
  fi
  cat "$f"
}
gpu_current() { local c p; read -r c p < <(gpu_mode "$1"); printf '%s' "$c"; }
gpu_pending() { local c p; read -r c p < <(gpu_mode "$1"); printf '%s' "$p"; }
gi_file() { local f="$STATE/gpu$1.gi"; [ -f "$f" ] || : >"$f"; printf '%s' "$f"; }
ci_file() { local f="$STATE/gpu$1.ci"; [ -f "$f" ] || : >"$f"; printf '%s' "$f"; }

# Resolve -i (index or bus id, comma separated) to indexes; all GPUs when empty.
select_gpus() {
  local sel=$1 item i found
  if [ -z "$sel" ]; then for ((i = 0; i < NGPU; i++)); do echo "$i"; done; return 0; fi
  for item in ${sel//,/ }; do
    found=
    for ((i = 0; i < NGPU; i++)); do
      if [ "$item" = "$i" ] || [ "$(echo "$item" | tr a-f A-F)" = "$(gpu_bus "$i" | tr a-f A-F)" ]; then found=$i; fi
    done
    if [ -z "$found" ]; then
      echo "No devices were found matching \"$item\"" >&2 # not verbatim: no fixture for it
      return 6
    fi
    echo "$found"
  done
}

mig_listed() { # is GPU $1 listed by mig -lgip/-lgipp?
  gpu_mig_capable "$1" || return 1
  [ "$(gpu_current "$1")" = Enabled ] && return 0
  [ "$(cfg lgip_when_disabled list)" = list ]
}

# ---- placement arithmetic (awk) -------------------------------------------
# Free count of every profile (id free) on GPU $1.
free_counts() {
  model_profiles "$(gpu_model "$1")" | awk -F'|' -v gifile="$(gi_file "$1")" '
    BEGIN { while ((getline l < gifile) > 0) { split(l, a, " "); n++; us[n] = a[3]; uz[n] = a[4]; up[a[2]]++ } }
    { id = $1; total = $3; z = $13; k = split($12, st, ","); free = 0
      for (j = 1; j <= k; j++) { s = st[j]; ok = 1
        for (u = 1; u <= n; u++) if (!(s + z <= us[u] || us[u] + uz[u] <= s)) ok = 0
        free += ok }
      left = total - up[id]; if (free > left) free = left; if (free < 0) free = 0
      print id, free }'
}

# Choose the start for one new instance of profile $2 on GPU $1 the way the
# driver was observed to (NVIDIA docs and the fixtures): among free starts, the
# one that blocks the fewest still-possible placements of all profiles; ties go
# to the lowest start. Prints "<start> <size>", or nothing when it cannot fit.
choose_start() {
  model_profiles "$(gpu_model "$1")" | awk -F'|' -v want="$2" -v gifile="$(gi_file "$1")" '
    BEGIN { while ((getline l < gifile) > 0) { split(l, a, " "); n++; us[n] = a[3]; uz[n] = a[4]; up[a[2]]++ } }
    { np++; pid[np] = $1; ptotal[np] = $3; psz[np] = $13; pk[np] = split($12, tmp, ","); for (j = 1; j <= pk[np]; j++) pst[np, j] = tmp[j] }
    function isfree(s, z,   u) { for (u = 1; u <= n; u++) if (!(s + z <= us[u] || us[u] + uz[u] <= s)) return 0; return 1 }
    END {
      w = 0; for (p = 1; p <= np; p++) if (pid[p] == want) w = p
      if (!w || up[want] >= ptotal[w]) exit
      z = psz[w]; best = -1
      for (j = 1; j <= pk[w]; j++) { s = pst[w, j]; if (!isfree(s, z)) continue
        score = 0
        for (p = 1; p <= np; p++) for (t = 1; t <= pk[p]; t++) { q = pst[p, t]; qz = psz[p]
          if (isfree(q, qz) && !(q + qz <= s || s + z <= q)) score++ }
        if (best < 0 || score < bestscore) { best = s; bestscore = score } }
      if (best >= 0) print best, z }'
}
gi_id_for() { # GPU instance ID from start/size, as the driver numbers them
  case $2 in 8) echo 0 ;; 4) echo $((1 + $1 / 4)) ;; 2) echo $((3 + $1 / 2)) ;; 1) echo $((7 + $1)) ;; *) echo 99 ;; esac
}
ci_profile_id() { case $1 in 1) echo 0 ;; 2) echo 1 ;; 3) echo 2 ;; 4) echo 3 ;; 7) echo 4 ;; *) echo 0 ;; esac; }
profile_field() { # profile_field GPU PROFILE_ID FIELD_NO
  model_profiles "$(gpu_model "$1")" | awk -F'|' -v id="$2" -v f="$3" '$1 == id { print $f }'
}
resolve_profile() { # id or name (with or without "MIG ") -> id
  local p=${2#MIG }
  model_profiles "$(gpu_model "$1")" | awk -F'|' -v p="$p" '$1 == p || $2 == p { print $1; exit }'
}
# Instances of GPU $1 in listing order: profiles in -lgip order, then instance ID.
gis_sorted() {
  local g=$1
  model_profiles "$(gpu_model "$g")" | awk -F'|' -v gifile="$(gi_file "$g")" '
    { order[$1] = NR; name[$1] = $2 }
    END { while ((getline l < gifile) > 0) { split(l, a, " "); printf "%d %d %d %d %d %s\n", order[a[2]], a[1], a[2], a[3], a[4], name[a[2]] } }' |
    sort -n -k1,1 -k2,2 | cut -d' ' -f2-
}

# ---- commands ----------------------------------------------------------------
cmd_query() { # $1 fields $2 format $3 selection
  local fields=$1 fmt=$2 sel=$3 g f out v nounits=0 idx
  case "$fmt" in csv,noheader) ;; csv,noheader,nounits) nounits=1 ;; *) echo "format $fmt is not simulated by the nvidia-smi test double" >&2; exit 2 ;; esac
  idx=$(select_gpus "$sel") || exit 6
  for g in $idx; do
    out=
    for f in ${fields//,/ }; do
      case "$f" in
      index) v=$g ;;
      pci.bus_id) v=$(gpu_bus "$g") ;;
      name) v=$(model_name "$(gpu_model "$g")") ;;
      mig.mode.current) v=$(gpu_current "$g") ;;
      mig.mode.pending) v=$(gpu_pending "$g") ;;
      memory.total) v="$(model_mem "$(gpu_model "$g")")"; [ $nounits = 1 ] || v="$v MiB" ;;
      compute_cap) v=$(model_cc "$(gpu_model "$g")") ;;
      *) echo "Field \"$f\" is not a valid field to query." >&2; exit 2 ;;
      esac
      out="${out:+$out, }$v"
    done
    printf '%s\n' "$out"
  done
}

cmd_list() {
  local g
  for ((g = 0; g < NGPU; g++)); do
    printf 'GPU %d: %s (UUID: GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)\n' "$g" "$(model_name "$(gpu_model "$g")")"
  done
}

cmd_mig_enable() { # $1 selection $2 0|1
  local sel=$1 on=$2 g bus idx mode
  idx=$(select_gpus "$sel") || exit 6
  for g in $idx; do
    bus=$(gpu_bus "$g")
    if ! gpu_mig_capable "$g"; then
      echo "Unable to enable MIG Mode for GPU $bus: Not Supported" # not verbatim: no fixture for it
      exit 3
    fi
    if [ "$on" = 0 ]; then
      if [ -s "$(gi_file "$g")" ]; then echo "Unable to disable MIG Mode for GPU $bus: In use by another client"; exit 255; fi
      echo 'Disabled Disabled' >"$STATE/gpu$g.mode"
      echo "Disabled MIG Mode for GPU $bus"
      continue
    fi
    mode=$(gpu_current "$g")
    case "$(cfg enable immediate)" in
    immediate) echo 'Enabled Enabled' >"$STATE/gpu$g.mode"; echo "Enabled MIG Mode for GPU $bus" ;;
    pending-in-use)
      if [ "$mode" = Enabled ]; then echo "Enabled MIG Mode for GPU $bus"; continue; fi
      echo "$mode Enabled" >"$STATE/gpu$g.mode"
      echo "Warning: MIG mode is in pending enable state for GPU $bus:In use by another client"
      echo "$bus is currently being used by one or more other processes (e.g. CUDA application or a monitoring application such as another instance of nvidia-smi). Please first kill all processes using the device and retry the command or reboot the system to make MIG mode effective."
      ;;
    pending-not-supported)
      if [ "$mode" = Enabled ]; then echo "Enabled MIG Mode for GPU $bus"; continue; fi
      echo "$mode Enabled" >"$STATE/gpu$g.mode"
      echo "Warning: MIG mode is in pending enable state for GPU $bus:Not Supported"
      echo "Reboot the system or try nvidia-smi --gpu-reset to make MIG mode effective on GPU $bus"
      ;;
    esac
  done
  echo 'All done.'
}

cmd_reset() { # $1 selection
  local idx g bus p
  idx=$(select_gpus "$1") || exit 6
  case "$(cfg reset ok)" in
  unsupported)
    for g in $idx; do echo "Resetting GPU $(gpu_bus "$g") is not supported."; done
    exit 3 ;;
  in-use)
    for g in $idx; do echo "GPU $(gpu_bus "$g") is currently in use by another process."; done
    echo
    echo "1 device is currently being used by one or more other processes (e.g., Fabric Manager, CUDA application, graphics application such as an X server, or a monitoring application such as another instance of nvidia-smi). Please first kill all processes using this device and all compute applications running in the system."
    exit 255 ;;
  esac
  for g in $idx; do
    bus=$(gpu_bus "$g")
    if gpu_mig_capable "$g"; then
      p=$(gpu_pending "$g")
      echo "$p $p" >"$STATE/gpu$g.mode"
      : >"$(gi_file "$g")"; : >"$(ci_file "$g")"
    fi
    echo "GPU $bus was successfully reset."
  done
  echo 'All done.'
}

cmd_reboot() {
  local g p
  for ((g = 0; g < NGPU; g++)); do
    gpu_mig_capable "$g" || continue
    : >"$(gi_file "$g")"; : >"$(ci_file "$g")"
    if [ "$(cfg reboot_applies_mode 1)" = 1 ]; then p=$(gpu_pending "$g"); echo "$p $p" >"$STATE/gpu$g.mode"; fi
  done
}

# MIG-enabled GPUs among the selection; prints "No MIG-enabled devices found." and exits 6 when none.
mig_gpus() { # $1 selection $2 "listed" to include GPUs -lgip lists while disabled
  local idx g any=
  idx=$(select_gpus "$1") || exit 6
  for g in $idx; do
    if [ "$2" = listed ]; then mig_listed "$g" || continue
    else
      gpu_mig_capable "$g" || continue
      [ "$(gpu_current "$g")" = Enabled ] || continue
    fi
    echo "$g"; any=1
  done
  if [ -z "$any" ]; then echo 'No MIG-enabled devices found.' >&2; return 6; fi
}

cmd_lgip() {
  local idx g id name total mem p2p sm dec enc ce jpeg ofa st sz free
  idx=$(mig_gpus "$1" listed 2>/dev/null) || { echo 'No MIG-enabled devices found.'; exit 6; }
  echo '+-----------------------------------------------------------------------------+'
  echo '| GPU instance profiles:                                                      |'
  echo '| GPU   Name             ID    Instances   Memory     P2P    SM    DEC   ENC  |'
  echo '|                              Free/Total   GiB              CE    JPEG  OFA  |'
  echo '|=============================================================================|'
  for g in $idx; do
    while IFS='|' read -r id name total mem p2p sm dec enc ce jpeg ofa st sz; do
      free=$(free_counts "$g" | awk -v id="$id" '$1 == id { print $2 }')
      printf '|%4d  %-16s%4d%8s        %-11s%-2s     %-3s%5s%6s   |\n' "$g" "MIG $name" "$id" "$free/$total" "$mem" "$p2p" "$sm" "$dec" "$enc"
      printf '|%62s%6s%6s   |\n' "$ce" "$jpeg" "$ofa"
      echo '+-----------------------------------------------------------------------------+'
    done < <(model_profiles "$(gpu_model "$g")")
  done
}

cmd_lgipp() {
  local idx g id st sz n word
  idx=$(mig_gpus "$1" listed 2>/dev/null) || { echo 'No MIG-enabled devices found.'; exit 6; }
  for g in $idx; do
    model_profiles "$(gpu_model "$g")" | while IFS='|' read -r id _ _ _ _ _ _ _ _ _ _ st sz; do
      n=$(echo "$st" | awk -F, '{ print NF }')
      if [ "$n" = 1 ]; then word='Placement :'; else word='Placements:'; fi
      printf 'GPU %2d Profile ID %2d %s {%s}:%d\n' "$g" "$id" "$word" "$st" "$sz"
    done
  done
}

cmd_lgi() {
  local idx g any='' gi pid st sz name
  idx=$(mig_gpus "$1" enabled 2>/dev/null) || { echo 'No MIG-enabled devices found.'; exit 6; }
  for g in $idx; do [ -s "$(gi_file "$g")" ] && any=1; done
  if [ -z "$any" ]; then echo 'No GPU instances found: Not Found'; exit 6; fi
  echo '+-------------------------------------------------------+'
  echo '| GPU instances:                                        |'
  echo '| GPU   Name             Profile  Instance   Placement  |'
  echo '|                          ID       ID       Start:Size |'
  echo '|=======================================================|'
  for g in $idx; do
    while read -r gi pid st sz name; do
      printf '|%4d  %-16s%6d%9d%13s     |\n' "$g" "MIG $name" "$pid" "$gi" "$st:$sz"
      echo '+-------------------------------------------------------+'
    done < <(gis_sorted "$g")
  done
}

cmd_lci() {
  local idx g any='' gi pid st sz name ci cpid slices
  idx=$(mig_gpus "$1" enabled 2>/dev/null) || { echo 'No MIG-enabled devices found.'; exit 6; }
  for g in $idx; do [ -s "$(ci_file "$g")" ] && any=1; done
  if [ -z "$any" ]; then echo 'No compute instances found: Not Found'; exit 6; fi
  echo '+--------------------------------------------------------------------+'
  echo '| Compute instances:                                                 |'
  echo '| GPU     GPU       Name             Profile   Instance   Placement  |'
  echo '|       Instance                       ID        ID       Start:Size |'
  echo '|         ID                                                         |'
  echo '|====================================================================|'
  for g in $idx; do
    while read -r gi pid st sz name; do
      slices=${name%%g.*}
      cpid=$(ci_profile_id "$slices")
      while read -r ci; do
        printf '|%4d%7d       %-16s%6d%10d%13s     |\n' "$g" "$gi" "MIG $name" "$cpid" "$ci" "0:$slices"
        echo '+--------------------------------------------------------------------+'
      done < <(awk -v gi="$gi" '$1 == gi { print $2 }' "$(ci_file "$g")" | sort -n)
    done < <(gis_sorted "$g")
  done
}

in_use_error() { # $1 what, e.g. "create a GPU instance on GPU  0 using profile 19"
  echo "Unable to $1: In use by another client"
}

cmd_cgi() { # $1 selection $2 list $3 with_ci
  local idx g p id placed st sz gi name slices rc=0 lies
  lies=$(cfg cgi_lies 0)
  idx=$(mig_gpus "$1" enabled 2>/dev/null) || { echo 'No MIG-enabled devices found.'; exit 6; }
  for g in $idx; do
    for p in ${2//,/ }; do
      id=$(resolve_profile "$g" "$p")
      if [ -z "$id" ]; then
        printf 'Unable to create a GPU instance on GPU %2d using profile %s: Invalid Argument\n' "$g" "$p"
        echo 'Failed to create GPU instances: Invalid Argument'; exit 2
      fi
      if [ "$(cfg busy 0)" = 1 ]; then
        in_use_error "$(printf 'create a GPU instance on GPU %2d using profile %s' "$g" "$p")"
        echo 'Failed to create GPU instances: In use by another client'; exit 255
      fi
      placed=$(choose_start "$g" "$id")
      if [ -z "$placed" ]; then
        printf 'Unable to create a GPU instance on GPU %2d using profile %s: Insufficient Resources\n' "$g" "$p"
        echo 'Failed to create GPU instances: Insufficient Resources'; exit 255
      fi
      read -r st sz <<<"$placed"
      gi=$(gi_id_for "$st" "$sz")
      name=$(profile_field "$g" "$id" 2)
      [ "$lies" = 1 ] || echo "$gi $id $st $sz" >>"$(gi_file "$g")"
      printf 'Successfully created GPU instance ID %2d on GPU %2d using profile MIG %s (ID %2d)\n' "$gi" "$g" "$name" "$id"
      if [ "$3" = 1 ]; then
        slices=${name%%g.*}
        [ "$lies" = 1 ] || echo "$gi 0" >>"$(ci_file "$g")"
        printf 'Successfully created compute instance ID %2d on GPU %2d GPU instance ID %2d using profile MIG %s (ID %2d)\n' 0 "$g" "$gi" "$name" "$(ci_profile_id "$slices")"
      fi
    done
  done
  return $rc
}

cmd_dci() { # $1 selection $2 gi filter $3 ci filter
  local idx g any='' gi ci f tmp
  idx=$(mig_gpus "$1" enabled 2>/dev/null) || { echo 'No MIG-enabled devices found.'; exit 6; }
  for g in $idx; do
    f=$(ci_file "$g")
    while read -r gi ci; do
      [ -z "$2" ] || [[ ",$2," == *",$gi,"* ]] || continue
      [ -z "$3" ] || [[ ",$3," == *",$ci,"* ]] || continue
      if [ "$(cfg busy 0)" = 1 ]; then
        in_use_error "$(printf 'destroy compute instance ID %2d from GPU %2d GPU instance ID %2d' "$ci" "$g" "$gi")"
        echo 'Failed to destroy compute instances: In use by another client'; exit 255
      fi
      tmp=$(awk -v gi="$gi" -v ci="$ci" '!($1 == gi && $2 == ci)' "$f"); printf '%s' "${tmp:+$tmp
}" >"$f"
      printf 'Successfully destroyed compute instance ID %2d from GPU %2d GPU instance ID %2d\n' "$ci" "$g" "$gi"
      any=1
    done < <(sort -n -k1,1 -k2,2 "$f")
  done
  if [ -z "$any" ]; then echo 'No compute instances found: Not Found'; exit 6; fi
}

cmd_dgi() { # $1 selection $2 gi filter
  local idx g any='' gi f tmp
  idx=$(mig_gpus "$1" enabled 2>/dev/null) || { echo 'No MIG-enabled devices found.'; exit 6; }
  for g in $idx; do
    f=$(gi_file "$g")
    while read -r gi; do
      [ -z "$2" ] || [[ ",$2," == *",$gi,"* ]] || continue
      if [ "$(cfg busy 0)" = 1 ] || awk -v gi="$gi" '$1 == gi { found = 1 } END { exit !found }' "$(ci_file "$g")"; then
        in_use_error "$(printf 'destroy GPU instance ID %2d from GPU %2d' "$gi" "$g")"
        echo 'Failed to destroy GPU instances: In use by another client'; exit 255
      fi
      tmp=$(awk -v gi="$gi" '$1 != gi' "$f"); printf '%s' "${tmp:+$tmp
}" >"$f"
      printf 'Successfully destroyed GPU instance ID %2d from GPU %2d\n' "$gi" "$g"
      any=1
    done < <(awk '{ print $1 }' "$f" | sort -n)
  done
  if [ -z "$any" ]; then echo 'No GPU instances found: Not Found'; exit 6; fi
}

usage_error() {
  echo "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help."
  echo "(nvidia-smi test double: arguments not simulated: $*)" >&2
  exit 2
}

# A new boot since the last call: GPU instances are gone, a pending mode took effect.
if [ -r /proc/sys/kernel/random/boot_id ]; then
  boot_id=$(cat /proc/sys/kernel/random/boot_id)
  if [ -f "$STATE/boot_id" ] && [ "$(cat "$STATE/boot_id")" != "$boot_id" ]; then cmd_reboot; fi
  printf '%s\n' "$boot_id" >"$STATE/boot_id"
fi

# ---- argument parsing ---------------------------------------------------------
ALL_ARGS="$*"
[ $# -gt 0 ] || usage_error "$ALL_ARGS"
if [ "$1" = --test-double-reboot ]; then cmd_reboot; exit 0; fi

if [ "$1" = mig ]; then
  shift
  sel='' op='' list='' with_ci=0 gif='' cif=''
  while [ $# -gt 0 ]; do
    case "$1" in
    -i | --id) sel=$2; shift ;;
    -lgip | --list-gpu-instance-profiles) op=lgip ;;
    -lgipp | --list-gpu-instance-possible-placements) op=lgipp ;;
    -lgi | --list-gpu-instances) op=lgi ;;
    -lci | --list-compute-instances) op=lci ;;
    -cgi | --create-gpu-instance) op=cgi; list=$2; shift ;;
    -C | --default-compute-instance) with_ci=1 ;;
    -dci | --destroy-compute-instance) op=dci ;;
    -dgi | --destroy-gpu-instance) op=dgi ;;
    -gi | --gpu-instance-id) gif=$2; shift ;;
    -ci | --compute-instance-id) cif=$2; shift ;;
    *) usage_error "$ALL_ARGS" ;;
    esac
    shift
  done
  case "$op" in
  lgip) cmd_lgip "$sel" ;; lgipp) cmd_lgipp "$sel" ;; lgi) cmd_lgi "$sel" ;; lci) cmd_lci "$sel" ;;
  cgi) cmd_cgi "$sel" "$list" "$with_ci" ;; dci) cmd_dci "$sel" "$gif" "$cif" ;; dgi) cmd_dgi "$sel" "$gif" ;;
  *) usage_error "$ALL_ARGS" ;;
  esac
  exit $?
fi

sel='' query='' format='' migset='' reset=0 listgpus=0
while [ $# -gt 0 ]; do
  case "$1" in
  -i | --id) sel=$2; shift ;;
  --id=*) sel=${1#--id=} ;;
  --query-gpu=*) query=${1#--query-gpu=} ;;
  --format=*) format=${1#--format=} ;;
  -mig | --multi-instance-gpu) migset=$2; shift ;;
  -r | --gpu-reset) reset=1 ;;
  -L | --list-gpus) listgpus=1 ;;
  *) usage_error "$ALL_ARGS" ;;
  esac
  shift
done
if [ -n "$query" ]; then cmd_query "$query" "$format" "$sel"; exit $?; fi
if [ -n "$migset" ]; then cmd_mig_enable "$sel" "$migset"; exit $?; fi
if [ $reset = 1 ]; then cmd_reset "$sel"; exit $?; fi
if [ $listgpus = 1 ]; then cmd_list; exit 0; fi
usage_error "$ALL_ARGS"
