# Sourced by the benchmark scripts.
# peak_rss PID FLAG [INTERVAL] [FIELD]: prints the peak VmRSS (or FIELD of
# /proc/PID/status, e.g. RssAnon) in KiB of process PID, sampled every
# INTERVAL seconds (default 0.05) until the file FLAG exists.
peak_rss() {
  local pid=$1 flag=$2 every=${3:-0.05} field=${4:-VmRSS} peak=0 r
  while [ ! -e "$flag" ]; do
    r=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${r:-0}" -gt "$peak" ] && peak=$r
    sleep "$every"
  done
  echo "$peak"
}
