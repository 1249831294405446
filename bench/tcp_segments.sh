#!/bin/bash
# TCP segments sent and received per second by the established sockets of
# each given process, over DURATION seconds (from `ss -ti`): on a node
# that only receives, the segments it sends are its ACKs.
#   bench/tcp_segments.sh DURATION PID...
# e.g. bench/profile.py --cmd "bench/tcp_segments.sh 10 {pids}"
dur=$1; shift
snap() { ss -tinpH state established 2>/dev/null | awk -v pid="pid=$1," '
  /users:/ { keep = index($0, pid) > 0; next }
  { if (keep) { for (i=1;i<=NF;i++) { if ($i ~ /^segs_out:/) { split($i,a,":"); so+=a[2] } if ($i ~ /^segs_in:/) { split($i,b,":"); si+=b[2] } } } }
  END { print so+0, si+0 }'; }
declare -A s0; for p in "$@"; do s0[$p]="$(snap $p)"; done
sleep $dur
for p in "$@"; do read a b <<<"${s0[$p]}"; read c d < <(snap $p); echo "pid $p segs_out/s $(( (c-a)/dur )) segs_in/s $(( (d-b)/dur ))"; done
