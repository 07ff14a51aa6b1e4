#!/usr/bin/env bash
# Measures the real agent: start-up time, memory (VmRSS / VmHWM), bytes written
# to disk (write_bytes from /proc/<pid>/io) and store size while it runs
# simulated sensors in real time, then the time it takes to stop on SIGTERM.
#
#   examples/agent_rss.sh [--duration 120] [--sensors 20] [--interval 1s]
#                         [--sample 10] [--flush-interval 60s]
#                         [--alerts busy|quiet] [--data-dir PATH] [--no-build]
#
# --alerts busy (default): a third of the sensors cross a threshold every
#   minute and report a simulated fault, so alert events (each committed and
#   flushed at once) are frequent; quiet: the same rules with thresholds no
#   sensor reaches, so the only writes are the periodic reading flushes.
# --data-dir runs the agent on an existing data dir (e.g. one left by
#   `store_bench --dir PATH`, to see start-up and memory with a full store);
#   by default a fresh one is made in a temporary directory and removed.
# Prints a Markdown table on stdout; progress goes to stderr.
set -euo pipefail

duration=120 sensors=20 interval=1s sample=10 flush=60s data_dir="" build=1 alerts=busy
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --sensors) sensors=$2; shift 2 ;;
        --interval) interval=$2; shift 2 ;;
        --sample) sample=$2; shift 2 ;;
        --flush-interval) flush=$2; shift 2 ;;
        --data-dir) data_dir=$2; shift 2 ;;
        --alerts) alerts=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
for n in "$duration" "$sensors" "$sample"; do
    case "$n" in ''|*[!0-9]*) echo "--duration, --sensors and --sample take whole numbers" >&2; exit 2 ;; esac
done
[ "$sensors" -ge 1 ] && [ "$sensors" -le 1000 ] || { echo "--sensors: 1 to 1000" >&2; exit 2; }
case "$alerts" in busy|quiet) ;; *) echo "--alerts: busy or quiet" >&2; exit 2 ;; esac
[ "$sample" -ge 1 ] && [ "$duration" -ge "$sample" ] || { echo "need 1 <= --sample <= --duration" >&2; exit 2; }

cd "$(dirname "$0")/.."
if [ "$build" = 1 ]; then
    cargo build --release --locked --bin edgetherm >&2
fi
bin=target/release/edgetherm
[ -x "$bin" ] || { echo "$bin not built" >&2; exit 2; }

# In ./target rather than /tmp, which may be a tmpfs (writes would not reach a disk).
work=$(mktemp -d "$PWD/target/agent_rss.XXXXXX")
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -n "$data_dir" ] || data_dir="$work/data"
cfg="$work/edgetherm.toml"
{
    printf '[agent]\ngateway_id = "bench"\ndata_dir = "%s"\nlog_level = "info"\n\n' "$data_dir"
    printf '[buffer]\nflush_interval = "%s"\n\n' "$flush"
    for i in $(seq 1 "$sensors"); do
        id=$(printf 'sim%03d' "$i")
        case $((i % 3)) in
            0) printf '[[sensor]]\nid = "%s"\nkind = "sim"\npattern = "sine"\nmin = 18.0\nmax = 32.0\nperiod = "%ss"\ninterval = "%s"\n\n' "$id" $((40 + i)) "$interval" ;;
            1) printf '[[sensor]]\nid = "%s"\nkind = "sim"\npattern = "constant"\nvalue = 21.5\ninterval = "%s"\n\n' "$id" "$interval" ;;
            2) [ "$alerts" = quiet ] && { printf '[[sensor]]\nid = "%s"\nkind = "sim"\npattern = "step"\nfrom = -20.0\nto = -19.0\nat = "30s"\ninterval = "%s"\n\n' "$id" "$interval"; continue; }
               printf '[[sensor]]\nid = "%s"\nkind = "sim"\npattern = "points"\npoints = [{ at = "0s", value = -20.0 }, { at = "20s", value = -12.0 }, { at = "35s", fault = true }, { at = "40s", value = -19.0 }]\ncycle = "60s"\ninterval = "%s"\n\n' "$id" "$interval" ;;
        esac
    done
    if [ "$alerts" = busy ]; then warm=30.0 cold=-15.0; else warm=90.0 cold=80.0; fi
    printf '[[rule]]\nid = "warm"\nsensors = "sim*"\nabove = %s\nhysteresis = 1.0\nfor = "5s"\nseverity = "warning"\n\n' "$warm"
    printf '[[rule]]\nid = "freezer"\nsensors = "sim*"\nabove = %s\nbelow = -40.0\nfor = "2s"\nseverity = "critical"\n\n' "$cold"
    printf '[[rule]]\nid = "stale"\nsensors = "sim*"\nstale = "30s"\n'
} >"$cfg"
"$bin" check-config "$cfg" >/dev/null

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
field() { awk -v k="$1" '$1 == k { print $2; exit }' "$2" 2>/dev/null || true; }
kib_mib() { if [ -n "$1" ]; then awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; else echo "n/a"; fi; }
b_mib() { if [ -n "$1" ]; then awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; else echo "n/a"; fi; }
du_b() { du -sB1 ${2:-} "$1" 2>/dev/null | awk '{ print $1 }'; }

log="$work/agent.log"
t_spawn=$(now_ms)
"$bin" run --config "$cfg" 2>"$log" >/dev/null &
pid=$!
started=""
for _ in $(seq 1 6000); do # 60 s at most
    if grep -q "edgetherm agent started" "$log" 2>/dev/null; then started=$(now_ms); break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
done
if [ -z "$started" ]; then
    echo "the agent did not log 'edgetherm agent started' within 60 s:" >&2
    tail -20 "$log" >&2
    exit 1
fi
startup_ms=$((started - t_spawn))
echo "agent pid $pid started in ${startup_ms} ms; sampling every ${sample} s for ${duration} s" >&2

io_ok=1
[ -r "/proc/$pid/io" ] || io_ok=0
w0=$(field write_bytes: "/proc/$pid/io")
rows=""
elapsed=0
while [ "$elapsed" -le "$duration" ]; do
    kill -0 "$pid" 2>/dev/null || { echo "the agent exited early:" >&2; tail -20 "$log" >&2; exit 1; }
    rss=$(field VmRSS: "/proc/$pid/status")
    hwm=$(field VmHWM: "/proc/$pid/status")
    thr=$(field Threads: "/proc/$pid/status")
    w=$(field write_bytes: "/proc/$pid/io")
    wd=""
    [ -n "$w" ] && [ -n "$w0" ] && wd=$((w - w0))
    store="$data_dir/store"
    app=$(du_b "$store" --apparent-size)
    alloc=$(du_b "$store")
    rows+="| $elapsed | $(kib_mib "$rss") | $(kib_mib "$hwm") | $thr | $(b_mib "$wd") | $(b_mib "$app") | $(b_mib "$alloc") |"$'\n'
    echo "t=${elapsed}s rss=$(kib_mib "$rss") MiB hwm=$(kib_mib "$hwm") MiB written=$(b_mib "$wd") MiB" >&2
    [ "$elapsed" -ge "$duration" ] && break
    next=$((elapsed + sample))
    [ "$next" -gt "$duration" ] && next=$duration
    sleep $((t_spawn / 1000 + next - $(date +%s))) 2>/dev/null || true
    elapsed=$(( $(date +%s) - t_spawn / 1000 ))
    [ "$elapsed" -gt "$duration" ] && elapsed=$duration
done
# Last figures before the stop, then the stop itself (it flushes the store).
w_run=$(field write_bytes: "/proc/$pid/io")
run_ms=$(($(now_ms) - started))
t_term=$(now_ms)
kill -TERM "$pid"
stopped=""
for _ in $(seq 1 3000); do # 30 s at most
    if ! kill -0 "$pid" 2>/dev/null; then stopped=$(now_ms); break; fi
    sleep 0.01
done
if [ -z "$stopped" ]; then
    echo "the agent did not stop within 30 s of SIGTERM; killing it" >&2
    stop_txt="did not stop within 30 s (killed)"
else
    stop_txt="$((stopped - t_term)) ms"
fi
set +e
wait "$pid"
rc=$?
set -e
pid=""

events=$(grep -c "alert event" "$log" || true)
errors=$(grep -c " ERROR " "$log" || true)
per_hour="n/a"
if [ "$io_ok" = 1 ] && [ -n "$w_run" ] && [ -n "$w0" ]; then
    # Readings per second, when the interval is whole seconds ("1s", "10s").
    rps=0
    case "$interval" in *[0-9]s) n=${interval%s}; case "$n" in *[!0-9]*|'') ;; *) [ "$n" -gt 0 ] && rps=$(awk -v s="$sensors" -v n="$n" 'BEGIN { print s / n }') ;; esac ;; esac
    per_hour=$(awk -v b=$((w_run - w0)) -v ms="$run_ms" -v rps="$rps" 'BEGIN {
        printf "%.2f MiB/h", b / 1048576 / (ms / 3600000)
        if (rps > 0) printf " (about %.0f bytes per reading)", b / (rps * ms / 1000) }')
fi

echo "### agent_rss: $sensors sim sensors every $interval, flush_interval $flush, 3 rules ($alerts), ${duration} s"
echo
echo "| t s | RSS MiB | peak RSS MiB | threads | written since start MiB | store apparent MiB | store allocated MiB |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
printf '%s' "$rows"
echo
echo "| figure | value |"
echo "|---|---:|"
echo "| start-up (spawn to \"edgetherm agent started\") | ${startup_ms} ms |"
echo "| stop (SIGTERM to exit, includes the final flush) | $stop_txt (exit code $rc) |"
if [ "$io_ok" = 1 ]; then
    echo "| write_bytes while running (after start-up) | $(b_mib $((w_run - w0))) MiB in $((run_ms / 1000)) s |"
    echo "| write rate | $per_hour |"
else
    echo "| write_bytes | n/a: /proc/<pid>/io not readable |"
fi
echo "| alert-event log lines / ERROR lines | $events / $errors |"
echo "| data dir | \`$data_dir\` |"
