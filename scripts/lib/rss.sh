# Sourced by the benchmark scripts.
# peak_rss PID FLAG [INTERVAL]: prints the peak VmRSS (KiB) of process PID,
# sampled every INTERVAL seconds (default 0.05) until the file FLAG exists.
peak_rss() {
  local pid=$1 flag=$2 every=${3:-0.05} peak=0 r
  while [ ! -e "$flag" ]; do
    r=$(awk '/VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$peak" ] && peak=$r
    sleep "$every"
  done
  echo "$peak"
}
