#!/usr/bin/env bash
# Foyer's side-by-side benchmarks; see bench/README.md.
#
#   bench/run.sh [A|B|C|D|all]...
#
# Environment: REPS (3), DURATION (10s), CONNS (64), WARMUP (2s, 0 to skip),
# OUT (results directory, default bench/results/<time>), A_STORE (memory or
# redis, the store of Foyer in scenario A; default memory), D_STORE (memory
# or redis, the store of foyer seating in scenario D; default memory),
# D_SEATS/D_STANDS/D_STAND (scenario D's venue and the stand polled; 100000,
# 40, N1), SKIP_FOYER=1 (run only the baselines and peers, to check the
# harness without a Foyer build), STATIC_SIZE (body size of scenario B's
# baseline when SKIP_FOYER=1).
set -euo pipefail

REPS=${REPS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
A_STORE=${A_STORE:-memory}
D_STORE=${D_STORE:-memory}
D_SEATS=${D_SEATS:-100000}
D_STANDS=${D_STANDS:-40}
D_STAND=${D_STAND:-N1}
SKIP_FOYER=${SKIP_FOYER:-0}
STATIC_SIZE=${STATIC_SIZE:-300}
BASELINE_TAGS=${BASELINE_TAGS:-}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results/$(date +%Y%m%d-%H%M%S)}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/foyer-bench.XXXXXX")
CLK_TCK=$(getconf CLK_TCK)
ADMIN_TOKEN=bench-admin-token
TICKET_SECRET=0123456789abcdef0123456789abcdef

scenarios=("$@")
[[ ${#scenarios[@]} -eq 0 || ${scenarios[0]} == all ]] && scenarios=(A B C D)
for s in "${scenarios[@]}"; do
	case $s in A | B | C | D) ;; *)
		echo "usage: $0 [A|B|C|D|all]..." >&2
		exit 2
		;;
	esac
done

case $D_STORE in memory | redis) ;; *)
	echo "D_STORE must be memory or redis, got $D_STORE" >&2
	exit 2
	;;
esac

dur_s=${DURATION%s}
if ! [[ $dur_s =~ ^[0-9]+$ ]]; then
	echo "DURATION must be whole seconds like 10s, got $DURATION" >&2
	exit 2
fi

# ---------------------------------------------------------------- processes

PIDS=()
cleanup() {
	local pid
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for _ in $(seq 50); do
		local alive=0
		for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	if [[ -d $OUT ]]; then
		mkdir -p "$OUT/logs"
		cp "$TMP"/*.log "$TMP"/*.yaml "$OUT/logs/" 2>/dev/null || true
		cp "$TMP/nginx/error.log" "$OUT/logs/nginx-error.log" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "FATAL: $*"
	exit 1
}

# start NAME CMD... runs CMD in the background, logging to $TMP/NAME.log, and
# sets START_PID. The command is exec'd directly, so the pid is the server's.
start() {
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	START_PID=$!
	PIDS+=("$START_PID")
}

# stop PID terminates one process started here and waits for it (bounded).
stop() {
	local pid=$1 p keep=()
	for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints a port nobody uses on this machine (best effort), below
# the ephemeral range so outgoing connections cannot take it meanwhile.
USED_PORTS=" "
free_port() {
	local p lo
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	((lo > 12000)) || lo=32768
	for _ in $(seq 200); do
		p=$((10000 + RANDOM % (lo - 11000)))
		[[ $USED_PORTS == *" $p "* ]] && continue
		ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null | grep -q . && continue
		port_open "$p" && continue
		USED_PORTS+="$p "
		echo "$p"
		return
	done
	die "no free port"
}

# wait_port PORT PID NAME [SECONDS] waits up to SECONDS (15) for PID to
# listen on PORT.
wait_port() {
	local limit=${4:-15}
	for _ in $(seq $((limit * 10))); do
		port_open "$1" && return 0
		kill -0 "$2" 2>/dev/null || {
			tail -n 30 "$TMP/$3.log" >&2 || true
			die "$3 exited before listening on $1"
		}
		sleep 0.1
	done
	tail -n 30 "$TMP/$3.log" >&2 || true
	die "$3 did not listen on $1 within ${limit}s"
}

# ---------------------------------------------------------------- measuring

# ticks PID... prints utime+stime (clock ticks) of the processes and their
# children (nginx workers), from /proc/<pid>/stat fields 14 and 15.
ticks() {
	local total=0 pid s c
	local -a f
	for pid in "$@"; do
		for c in $pid $(pgrep -P "$pid" || true); do
			s=$(cat "/proc/$c/stat" 2>/dev/null) || continue
			s=${s##*) } # the command name may hold spaces
			read -r -a f <<<"$s"
			total=$((total + f[11] + f[12]))
		done
	done
	echo "$total"
}

# redis_calls prints "TOTAL cmd=N,..." from INFO commandstats, leaving out
# INFO itself (our own probes).
redis_calls() {
	redis-cli -p "$REDIS_PORT" INFO commandstats | tr -d '\r' | awk -F'[:=,]' '
		/^cmdstat_/ { c = substr($1, 9); if (c == "info") next; n[c] = $3; t += $3 }
		END { s = ""; for (c in n) s = s (s == "" ? "" : ",") c "=" n[c]; print t + 0, (s == "" ? "-" : s) }'
}

# diff_calls BEFORE AFTER prints the per-command difference of two
# redis_calls outputs as "TOTAL cmd=N,...".
diff_calls() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		split(a, A, " "); split(b, B, " ")
		nb = split(A[2], x, ","); for (i = 1; i <= nb; i++) { split(x[i], kv, "="); before[kv[1]] = kv[2] }
		na = split(B[2], y, ","); s = ""
		for (i = 1; i <= na; i++) { split(y[i], kv, "="); d = kv[2] - before[kv[1]]; if (d > 0) s = s (s == "" ? "" : ",") kv[1] "=" d }
		print B[1] - A[1], (s == "" ? "-" : s) }'
}

# box_ticks prints "BUSY TOTAL STEAL" clock ticks of the whole machine
# (/proc/stat), to see how much else ran during a run.
box_ticks() {
	awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t, $9; exit }' /proc/stat
}

# wrk_ticks prints the CPU ticks of this shell's waited-for children
# (cutime+cstime, /proc/$$ since we run in a command substitution), which
# grow by wrk's CPU when wrk (under timeout) exits.
wrk_ticks() {
	local s
	local -a f
	s=$(<"/proc/$$/stat")
	s=${s##*) }
	read -r -a f <<<"$s"
	echo $((f[13] + f[14]))
}

# FOYER_ERRORS_RE selects Foyer's error counters in its /metrics; scenario D
# (foyer seating) sets its own.
FOYER_ERRORS_RE='^foyer_(store_errors_total|origin_errors_total|token_rejections_total|joins_total|lost_tickets_total)'

# foyer_metrics prints the "series value" lines of Foyer's admin /metrics
# that match the extended regexp $1.
foyer_metrics() {
	curl -fsS -m 5 -H "Authorization: Bearer $ADMIN_TOKEN" "http://127.0.0.1:$FOYER_ADMIN_PORT/metrics" 2>/dev/null |
		grep -E "$1" || true
}

# foyer_errors prints Foyer's error counters ("series value" lines) from its
# admin /metrics, so a failed run can say what Foyer counted.
foyer_errors() { foyer_metrics "$FOYER_ERRORS_RE"; }

# diff_metrics BEFORE AFTER prints the series that grew, as "series+N ...".
diff_metrics() {
	awk 'NR == FNR { b[$1] = $2; next } $2 - b[$1] > 0 { printf "%s%s+%d", sep, $1, $2 - b[$1]; sep = " " }' \
		<(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

origin_count() { curl -fsS -m 5 "http://127.0.0.1:$ORIGIN_PORT/_bench/count"; }

# parse_wrk FILE prints: requests seconds rps p50_ms p99_ms non2xx socket_errors
parse_wrk() {
	awk '
		function ms(v) {
			if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
			if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
			if (v ~ /m$/) return substr(v, 1, length(v) - 1) * 60000
			if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
			return -1
		}
		/ requests in / { req = $1; sec = $4; sub(/s,?$/, "", sec) }
		/^Requests\/sec:/ { rps = $2 }
		/^ +50% / { p50 = ms($2) }
		/^ +99% / { p99 = ms($2) }
		/Non-2xx or 3xx responses:/ { non2xx = $NF }
		/Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) sock += $i + 0 }
		END { printf "%d %s %.0f %.3f %.3f %d %d\n", req, (sec == "" ? 0 : sec), rps, p50, p99, non2xx, sock }
	' "$1"
}

RESULTS=$OUT/results.tsv
COLUMNS_TSV='scenario	rep	variant	rps	p50_ms	p99_ms	cpu_us_per_req	requests	non2xx	socket_errors	status	box_busy_pct	server_pct	steal_pct	forwarded	redis_calls	redis_cpu_us_per_req	wrk_pct	other_pct	redis_calls_per_s	redis_cmds'

# measure SCENARIO REP VARIANT URL PIDS CHECK -- WRK_ARGS...
# runs wrk once against URL and appends one line to $RESULTS. PIDS (comma
# separated) are the server processes whose CPU is charged to the variant.
# CHECK: "forward" also checks that the origin answered every request wrk
# counted; "redis" also records Redis calls and Redis CPU.
measure() {
	local scen=$1 rep=$2 variant=$3 url=$4 pids=${5//,/ } check=$6
	shift 7
	local t0 t1 b0 b1 bt0 bt1 st0 st1 o0=0 o1=0 r0 r1 rt0 rt1 ot0 ot1 wt0 wt1 e0 e1 rc status=ok raw
	local fwd=- rcalls=- rcpu=- rcmds=- rrate=-
	raw=$OUT/raw/$scen-$rep-$variant.txt
	local m0="" m1=""
	[[ $variant == foyer ]] && m0=$(foyer_errors)
	[[ $check == forward ]] && o0=$(origin_count)
	if [[ $check == redis ]]; then
		r0=$(redis_calls)
		e0=$EPOCHREALTIME
	fi
	# shellcheck disable=SC2086
	t0=$(ticks $pids)
	ot0=$(ticks "$ORIGIN_PID")
	rt0=$(ticks ${REDIS_PID:-})
	read -r b0 bt0 st0 < <(box_ticks)
	wt0=$(wrk_ticks)
	rc=0
	timeout -k 5 $((dur_s + 30)) wrk -t1 -c"$CONNS" -d"$DURATION" --latency --timeout 5s "$@" "$url" >"$raw" 2>&1 || rc=$?
	wt1=$(wrk_ticks)
	# shellcheck disable=SC2086
	t1=$(ticks $pids)
	ot1=$(ticks "$ORIGIN_PID")
	rt1=$(ticks ${REDIS_PID:-})
	read -r b1 bt1 st1 < <(box_ticks)
	local req sec rps p50 p99 non2xx sock cpu box
	read -r req sec rps p50 p99 non2xx sock < <(parse_wrk "$raw")
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", n ? d * 1e6 / hz / n : 0 }')
	# Whole-machine busy, server, steal, wrk and everything else (not the
	# server, wrk, origin or Redis) in % of one core.
	box=$(awk -v b=$((b1 - b0)) -v t=$((bt1 - bt0)) -v s=$((st1 - st0)) -v n="$(nproc)" -v srv=$((t1 - t0)) \
		-v w=$((wt1 - wt0)) -v known=$((t1 - t0 + wt1 - wt0 + ot1 - ot0 + rt1 - rt0)) \
		'BEGIN { if (t <= 0) t = 1; f = n * 100 / t; o = (b - known) * f; if (o < 0) o = 0
			printf "%.0f %.0f %.0f %.0f %.0f", b * f, srv * f, s * f, w * f, o }')
	local bbusy bsrv bsteal bwrk bother
	read -r bbusy bsrv bsteal bwrk bother <<<"$box"
	if [[ $check == forward ]]; then
		o1=$(origin_count)
		fwd=$((o1 - o0))
		((fwd >= req)) || status="failed:only-$fwd-of-$req-reached-origin"
	fi
	if [[ $check == redis ]]; then
		r1=$(redis_calls)
		e1=$EPOCHREALTIME
		local d
		d=$(diff_calls "$r0" "$r1")
		rcalls=${d%% *}
		rcmds=${d#* }
		rcpu=$(awk -v d=$((rt1 - rt0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", n ? d * 1e6 / hz / n : 0 }')
		rrate=$(awk -v c="$rcalls" -v a="$e0" -v b="$e1" 'BEGIN { printf "%.1f", (b > a) ? c / (b - a) : 0 }')
	fi
	((rc == 0)) || status="failed:wrk-exit-$rc"
	((req > 0)) || status="failed:no-requests"
	((non2xx == 0)) || status="failed:$non2xx-non-2xx"
	((sock == 0)) || status="failed:$sock-socket-errors"
	for p in $pids; do kill -0 "$p" 2>/dev/null || status="failed:server-$p-died"; done
	if [[ $variant == foyer ]]; then
		m1=$(foyer_errors)
		local grew
		grew=$(diff_metrics "$m0" "$m1" | tr ' ' '\n' | grep -v 'result="new"' | tr '\n' ' ' || true)
		grew=${grew% }
		[[ -n $grew ]] && log "$scen rep $rep foyer error counters: $grew"
		[[ $status == ok || -z $grew ]] || status="$status (foyer metrics: $grew)"
	fi
	local line
	line=$(printf '%s\t' "$scen" "$rep" "$variant" "$rps" "$p50" "$p99" "$cpu" "$req" "$non2xx" "$sock" "$status" \
		"$bbusy" "$bsrv" "$bsteal" "$fwd" "$rcalls" "$rcpu" "$bwrk" "$bother" "$rrate")
	printf '%s%s\n' "$line" "$rcmds" >>"$RESULTS"
	log "$scen rep $rep $variant: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, ${cpu} µs CPU/req, non-2xx $non2xx, socket errors $sock: $status (CPU % server $bsrv wrk $bwrk other $bother box $bbusy steal $bsteal; forwarded $fwd; redis calls $rcalls ($rrate/s) $rcmds, redis ${rcpu} µs/req)"
}

# warm URL WRK_ARGS... runs an unrecorded short load so pools and heaps are
# sized before the first measured run.
warm() {
	[[ $WARMUP == 0 || $WARMUP == 0s ]] && return 0
	local url=$1
	shift
	timeout -k 5 60 wrk -t1 -c"$CONNS" -d"$WARMUP" "$@" "$url" >/dev/null 2>&1 || log "warm-up of $url failed"
}

# ---------------------------------------------------------------- reporting

# report SCENARIO TITLE TARGET RATIO_PAIRS... prints the Markdown table of
# every run and the per-repetition ratios. A ratio pair "x/y" compares
# variant x with y run in the same repetition: req/s x over y, and CPU µs/req
# y over x (above 1 means x is cheaper per request).
report() {
	local scen=$1 title=$2 target=$3
	shift 3
	awk -F'\t' -v scen="$scen" -v title="$title" -v target="$target" -v pairs="$*" \
		-v conns="$CONNS" -v dur="$DURATION" -v reps="$REPS" '
		function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
		function median(a, n) { sort(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
		function ratioRow(label, x, y, field, invert,   r, n, cells, v, vals, lo, hi) {
			n = 0; cells = ""
			for (r = 1; r <= maxrep; r++) {
				if (!((r, x) in ok) || !((r, y) in ok)) { cells = cells " | –"; continue }
				if (ok[r, x] != "ok" || ok[r, y] != "ok" || val[r, x, field] <= 0 || val[r, y, field] <= 0) { cells = cells " | failed"; continue }
				v = invert ? val[r, y, field] / val[r, x, field] : val[r, x, field] / val[r, y, field]
				vals[++n] = v; cells = cells sprintf(" | %.2f", v)
			}
			if (n == 0) { printf "| %s%s | – | – |\n", label, cells; return }
			lo = hi = vals[1]; for (r = 2; r <= n; r++) { if (vals[r] < lo) lo = vals[r]; if (vals[r] > hi) hi = vals[r] }
			printf "| %s%s | **%.2f** | %.2f–%.2f |\n", label, cells, median(vals, n), lo, hi
		}
		$1 != scen { next }
		{
			r = $2; v = $3
			if (r > maxrep) maxrep = r
			if (!(v in seen)) { seen[v] = 1; order[++nv] = v }
			ok[r, v] = $11; val[r, v, "rps"] = $4; val[r, v, "cpu"] = $7
			errs = $9 + $10
			row = sprintf("| %s | %s | %s | %.2f | %.2f | %s | %s / %s / %s / %s | %s | %s |", r, v, $4, $5, $6, $7, $13, $18, $19, $12, errs, $11)
			nruns++; if ($19 > 25) noisy++
			if (scen == "A") row = row sprintf(" %s |", $15)
			else if ($16 != "-") row = row sprintf(" %s | %s | %.2f | %.2f | %s |", $16, $20, ($8 ? $16 / $8 : 0), $17, $21)
			line[++nl] = row
			if ($16 != "-") hasRedis = 1
		}
		END {
			printf "\n### %s\n\n", title
			printf "wrk -t1 -c%s, %s per run, %s repetitions interleaved. Server CPU: utime+stime of the server process(es) per completed request. CPU %%, in %% of one core: server / wrk / other (neither server, wrk, origin nor Redis) / whole box (200%% = both cores busy).\n\n", conns, dur, reps
			h = "| rep | variant | req/s | p50 ms | p99 ms | server CPU µs/req | CPU % server / wrk / other / box | errors | status |"
			s = "|---|---|---|---|---|---|---|---|---|"
			if (scen == "A") { h = h " requests reaching origin |"; s = s "---|" }
			else if (hasRedis) { h = h " Redis calls | Redis calls/s | Redis calls/req | Redis CPU µs/req | Redis commands |"; s = s "---|---|---|---|---|" }
			print h; print s
			for (i = 1; i <= nl; i++) print line[i]
			np = split(pairs, p, " ")
			if (np > 0) {
				hdr = "\n| ratio"; sep = "|---"
				for (r = 1; r <= maxrep; r++) { hdr = hdr " | rep " r; sep = sep "|---" }
				print hdr " | median | min–max |"; print sep "|---|---|"
				for (i = 1; i <= np; i++) {
					split(p[i], xy, "/"); x = xy[1]; y = xy[2]
					if (!(x in seen) || !(y in seen)) continue
					ratioRow(x " / " y ", req/s", x, y, "rps", 0)
					ratioRow(x " / " y ", CPU efficiency (" y " µs/req ÷ " x " µs/req)", x, y, "cpu", 1)
				}
			}
			if (target != "") printf "\nTarget: %s\n", target
			if (noisy) printf "\nWarning: in %d of %d runs other processes used more than 25%% of a core (column other): the box was shared, rerun when it is quiet before trusting small differences.\n", noisy, nruns
		}' "$RESULTS"
}

# ---------------------------------------------------------------- services

build() {
	log "building into $TMP"
	(cd "$ROOT" && go build ${BASELINE_TAGS:+-tags "$BASELINE_TAGS"} -o "$TMP/baseline" ./bench/cmd/baseline) || die "baseline does not build"
	if [[ $SKIP_FOYER != 1 ]]; then
		(cd "$ROOT" && go build -o "$TMP/foyer" ./cmd/foyer) || die "foyer does not build (SKIP_FOYER=1 runs the baselines alone)"
	fi
}

start_origin() {
	ORIGIN_PORT=$(free_port)
	start origin "$TMP/baseline" origin --listen "127.0.0.1:$ORIGIN_PORT"
	ORIGIN_PID=$START_PID
	wait_port "$ORIGIN_PORT" "$ORIGIN_PID" origin
}

start_redis() {
	[[ -n ${REDIS_PID:-} ]] && return 0
	REDIS_PORT=$(free_port)
	mkdir -p "$TMP/redis"
	start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
		--dir "$TMP/redis" --daemonize no --protected-mode yes --logfile ""
	REDIS_PID=$START_PID
	wait_port "$REDIS_PORT" "$REDIS_PID" redis
	for _ in $(seq 50); do
		[[ $(redis-cli -p "$REDIS_PORT" PING 2>/dev/null) == PONG ]] && return 0
		sleep 0.1
	done
	die "redis-server on $REDIS_PORT does not answer PING"
}

# start_foyer NAME STORE RATE writes a config and starts foyer serve, setting
# FOYER_PORT, FOYER_ADMIN_PORT and FOYER_PID.
start_foyer() {
	local name=$1 store=$2 rate=$3 cfg=$TMP/$1.yaml
	FOYER_PORT=$(free_port)
	FOYER_ADMIN_PORT=$(free_port)
	cat >"$cfg" <<-EOF
		listen: "127.0.0.1:$FOYER_PORT"
		admin_listen: "127.0.0.1:$FOYER_ADMIN_PORT"
		admin_token: "$ADMIN_TOKEN"
		store:
		  kind: $store
		  redis:
		    addrs: ["127.0.0.1:${REDIS_PORT:-6379}"]
		  ticket_secret: "$TICKET_SECRET"
		events:
		  - name: bench
		    path_prefix: "/"
		    origin: "http://127.0.0.1:$ORIGIN_PORT"
		    rate_per_second: $rate
	EOF
	start "$name" "$TMP/foyer" serve --config "$cfg"
	FOYER_PID=$START_PID
	wait_port "$FOYER_PORT" "$FOYER_PID" "$name"
	wait_port "$FOYER_ADMIN_PORT" "$FOYER_PID" "$name"
}

# set_rate RATE changes the bench event's rate through the admin API.
set_rate() {
	local code
	code=$(curl -sS -m 5 -o "$TMP/patch.out" -w '%{http_code}' -X PATCH \
		-H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
		--data "{\"rate_per_second\": $1}" "http://127.0.0.1:$FOYER_ADMIN_PORT/admin/v1/events/bench") || code=000
	[[ $code == 2* ]] || die "PATCH /admin/v1/events/bench rate $1: HTTP $code: $(head -c 300 "$TMP/patch.out" 2>/dev/null)"
}

start_nginx() {
	NGINX_PORT=$(free_port)
	local dir=$TMP/nginx
	mkdir -p "$dir"
	sed -e "s|@DIR@|$dir|g" -e "s|@LISTEN@|127.0.0.1:$NGINX_PORT|g" -e "s|@ORIGIN@|127.0.0.1:$ORIGIN_PORT|g" \
		"$ROOT/bench/nginx.conf.tmpl" >"$dir/nginx.conf"
	start nginx nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf"
	NGINX_PID=$START_PID
	wait_port "$NGINX_PORT" "$NGINX_PID" nginx
}

# ---------------------------------------------------------------- scenarios

# admission_token joins the bench event as a new visitor and waits until
# Foyer admits it, printing the admission token.
admission_token() {
	"$TMP/baseline" fetch --target "http://127.0.0.1:$FOYER_PORT" --event bench --want token --timeout 30s ||
		die "could not get an admission token from Foyer (see $TMP/foyer-A.log)"
}

scenario_A() {
	log "scenario A: admitted pass-through"
	local variants=() token=none
	if [[ $SKIP_FOYER != 1 ]]; then
		[[ $A_STORE == redis ]] && start_redis
		start_foyer foyer-A "$A_STORE" 100000
		token=$(admission_token)
		log "admission token: ${token:0:24}… (${#token} bytes)"
		variants+=("foyer|http://127.0.0.1:$FOYER_PORT/|$FOYER_PID")
	fi
	local bport
	bport=$(free_port)
	start proxy-A "$TMP/baseline" proxy --listen "127.0.0.1:$bport" --upstream "127.0.0.1:$ORIGIN_PORT"
	local bpid=$START_PID
	wait_port "$bport" "$bpid" proxy-A
	start_nginx
	variants+=("bare-proxy|http://127.0.0.1:$bport/|$bpid" "nginx|http://127.0.0.1:$NGINX_PORT/|$NGINX_PID")

	# Every variant gets the same request, admission token included. A fresh
	# token each repetition keeps long runs clear of the token's expiry.
	local hdr=(-H "Accept: application/json" -H "Authorization: Bearer $token")
	local v name url pids rep
	for v in "${variants[@]}"; do
		IFS='|' read -r name url pids <<<"$v"
		warm "$url" "${hdr[@]}"
	done
	for rep in $(seq "$REPS"); do
		if [[ $SKIP_FOYER != 1 && $rep -gt 1 ]]; then
			token=$(admission_token)
			hdr=(-H "Accept: application/json" -H "Authorization: Bearer $token")
		fi
		for v in "${variants[@]}"; do
			IFS='|' read -r name url pids <<<"$v"
			measure A "$rep" "$name" "$url" "$pids" forward -- "${hdr[@]}"
		done
	done
	[[ $SKIP_FOYER != 1 ]] && stop "$FOYER_PID"
	stop "$bpid"
	stop "$NGINX_PID"
	report A "A. Admitted pass-through: Foyer vs bare fasthttp proxy vs nginx (same origin)" \
		"foyer ≥ 0.9 × bare-proxy req/s; ratio to nginx reported" foyer/bare-proxy foyer/nginx nginx/bare-proxy >>"$OUT/report.md"
}

scenario_B() {
	log "scenario B: status polls of a waiting fan"
	start_redis
	local variants=() ticket=none size=$STATIC_SIZE
	if [[ $SKIP_FOYER != 1 ]]; then
		start_foyer foyer-B redis 100000
		set_rate 0
		ticket=$("$TMP/baseline" fetch --target "http://127.0.0.1:$FOYER_PORT" --event bench --want ticket --timeout 30s) ||
			die "could not get a waiting ticket from Foyer (see $TMP/foyer-B.log)"
		local url="http://127.0.0.1:$FOYER_PORT/_foyer/v1/events/bench/status" code
		code=$(curl -sS -m 5 -o "$OUT/status-body.json" -w '%{http_code}' -H 'Accept: application/json' -H "Foyer-Ticket: $ticket" "$url") || code=000
		[[ $code == 200 ]] || die "status poll answered HTTP $code: $(head -c 300 "$OUT/status-body.json")"
		grep -q '"state": *"waiting"' "$OUT/status-body.json" || die "status is not waiting: $(head -c 300 "$OUT/status-body.json")"
		size=$(wc -c <"$OUT/status-body.json")
		log "status document: $size bytes: $(head -c 200 "$OUT/status-body.json")"
		variants+=("foyer|$url|$FOYER_PID")
	fi
	local sport
	sport=$(free_port)
	start static-B "$TMP/baseline" static --listen "127.0.0.1:$sport" --size "$size"
	local spid=$START_PID
	wait_port "$sport" "$spid" static-B
	variants+=("static|http://127.0.0.1:$sport/_foyer/v1/events/bench/status|$spid")

	local hdr=(-H "Accept: application/json" -H "Foyer-Ticket: $ticket")
	local v name url pids rep
	for v in "${variants[@]}"; do
		IFS='|' read -r name url pids <<<"$v"
		warm "$url" "${hdr[@]}"
	done
	for rep in $(seq "$REPS"); do
		for v in "${variants[@]}"; do
			IFS='|' read -r name url pids <<<"$v"
			measure B "$rep" "$name" "$url" "$pids" redis -- "${hdr[@]}"
		done
	done
	[[ $SKIP_FOYER != 1 ]] && stop "$FOYER_PID"
	stop "$spid"
	{
		report B "B. Status polls of a waiting fan: Foyer vs a handler returning the same $size bytes" \
			"foyer ≥ 0.8 × static req/s, and no Redis command per poll" foyer/static
		echo
		echo "Redis calls: difference of INFO commandstats over the run (INFO itself excluded; commands run inside a Lua script count too). During a foyer run they should come only from Foyer's background refresh; during a static run Foyer is idle but still running, so its calls there are the refresh alone, with zero polls. Equal counts in both mean polls cost no Redis command."
	} >>"$OUT/report.md"
}

scenario_C() {
	log "scenario C: joins"
	start_redis
	local variants=()
	local post=$TMP/post.lua
	printf 'wrk.method = "POST"\nwrk.body = ""\n' >"$post"
	if [[ $SKIP_FOYER != 1 ]]; then
		start_foyer foyer-C redis 100000
		set_rate 0
		variants+=("foyer|http://127.0.0.1:$FOYER_PORT/_foyer/v1/events/bench/join|$FOYER_PID")
	fi
	local jport
	jport=$(free_port)
	start join-C "$TMP/baseline" join --listen "127.0.0.1:$jport" --redis "127.0.0.1:$REDIS_PORT" --event bench-bare
	local jpid=$START_PID
	wait_port "$jport" "$jpid" join-C
	variants+=("bare-join|http://127.0.0.1:$jport/_foyer/v1/events/bench-bare/join|$jpid")

	local hdr=(-s "$post" -H "Accept: application/json")
	local v name url pids rep
	for v in "${variants[@]}"; do
		IFS='|' read -r name url pids <<<"$v"
		warm "$url" "${hdr[@]}"
	done
	for rep in $(seq "$REPS"); do
		for v in "${variants[@]}"; do
			IFS='|' read -r name url pids <<<"$v"
			measure C "$rep" "$name" "$url" "$pids" redis -- "${hdr[@]}"
		done
	done
	[[ $SKIP_FOYER != 1 ]] && stop "$FOYER_PID"
	stop "$jpid"
	{
		report C "C. Joins (new visitor per request, Redis store): Foyer vs a handler running the join script" \
			"foyer ≥ 0.8 × bare-join req/s" foyer/bare-join
		echo
		echo "Server CPU excludes redis-server, shown on its own (Redis CPU µs/req). Redis calls count the commands inside the join script too (EVALSHA plus what it calls)."
	} >>"$OUT/report.md"
}

# start_seating NAME STORE writes a config for foyer seating (event bench on
# $TMP/d-venue.json, admission tokens verified with $TMP/d-jwks.json) and
# starts it, setting FOYER_PORT (the seating listener), FOYER_ADMIN_PORT and
# FOYER_PID. It listens only once every stand is prepared and cached.
start_seating() {
	local name=$1 store=$2 cfg=$TMP/$1.yaml
	FOYER_PORT=$(free_port)
	FOYER_ADMIN_PORT=$(free_port)
	cat >"$cfg" <<-EOF
		seating_listen: "127.0.0.1:$FOYER_PORT"
		admin_listen: "127.0.0.1:$FOYER_ADMIN_PORT"
		admin_token: "$ADMIN_TOKEN"
		tokens:
		  verify_keys: ["$TMP/d-jwks.json"]
		store:
		  kind: $store
		  redis:
		    addrs: ["127.0.0.1:${REDIS_PORT:-6379}"]
		seating:
		  events:
		    - name: bench
		      venue_file: "$TMP/d-venue.json"
	EOF
	start "$name" "$TMP/foyer" seating --config "$cfg"
	FOYER_PID=$START_PID
	wait_port "$FOYER_PORT" "$FOYER_PID" "$name" 60
	wait_port "$FOYER_ADMIN_PORT" "$FOYER_PID" "$name" 60
	grep -q 'seating URL: ' "$TMP/$name.log" || log "foyer seating did not print its seating URL (see $TMP/$name.log)"
}

# header_summary FILE prints the size of a response head saved by curl -D and
# the names of its headers: "218 bytes (Server, Date, ...)".
header_summary() {
	printf '%s bytes (%s)' "$(wc -c <"$1")" \
		"$(tr -d '\r' <"$1" | awk -F': ' 'NR > 1 && NF > 1 { printf "%s%s", s, $1; s = ", " }')"
}

# seating_token prints an admission token for event bench signed with the
# key whose public JWKS foyer seating verifies with.
seating_token() {
	"$TMP/baseline" token --key "$TMP/d-key.jwk" --event bench --visitor bench-visitor --ttl 1h ||
		die "could not sign an admission token with $TMP/d-key.jwk"
}

scenario_D() {
	log "scenario D: stand status from the stand cache ($D_STORE store)"
	# foyer seating's own error counters, for the status column.
	local FOYER_ERRORS_RE='^foyer_seating_(token_rejections_total|stale_snapshots_served_total|cache_refreshes_total\{result="(failed|unpublished)"\}|lock_acquisitions_total\{result="error"\})'
	local cache_re='^foyer_seating_(cache_hits_total|cache_refreshes_total\{result="published"\}|authority_reads_total)'
	local variants=() token=none check=none code size
	local path=/seating/v1/events/bench/stands/$D_STAND/status
	local body=$OUT/stand-status.bin fhdr=$OUT/stand-status.headers shdr=$TMP/static-D.headers
	if [[ $D_STORE == redis ]]; then
		start_redis
		check=redis
	fi
	if [[ $SKIP_FOYER != 1 ]]; then
		"$TMP/foyer" venue generate --seats "$D_SEATS" --stands "$D_STANDS" --seed 1 --out "$TMP/d-venue.json" 2>>"$TMP/setup-D.log" ||
			die "foyer venue generate failed: $(tail -n 5 "$TMP/setup-D.log")"
		"$TMP/foyer" keys generate --out "$TMP/d-key.jwk" --jwks-out "$TMP/d-jwks.json" >/dev/null 2>>"$TMP/setup-D.log" ||
			die "foyer keys generate failed: $(tail -n 5 "$TMP/setup-D.log")"
		start_seating foyer-D "$D_STORE"
		token=$(seating_token)
		log "admission token: ${token:0:24}… (${#token} bytes)"
		local url=http://127.0.0.1:$FOYER_PORT$path
		# No Accept-Encoding: the raw packed status, as wrk will get it.
		code=$(curl -sS -m 5 -D "$fhdr" -o "$body" -w '%{http_code}' -H "Authorization: Bearer $token" "$url") || code=000
		[[ $code == 200 ]] || die "stand status answered HTTP $code: $(head -c 300 "$body")"
		grep -qi '^content-type: application/octet-stream' "$fhdr" || die "stand status is not application/octet-stream: $(tr -d '\r' <"$fhdr")"
		! grep -qi '^content-encoding:' "$fhdr" || die "stand status came encoded without Accept-Encoding: $(tr -d '\r' <"$fhdr")"
		code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$url") || code=000
		[[ $code == 401 ]] || die "stand status without a token answered HTTP $code, want 401"
		variants+=("foyer|$url|$FOYER_PID")
	else
		# Without Foyer: zeros of the size of one stand's status (2 bits a seat).
		head -c $(((D_SEATS / D_STANDS + 3) / 4)) /dev/zero >"$body"
	fi
	size=$(wc -c <"$body")
	((size > 0)) || die "the stand status is empty"
	local sport
	sport=$(free_port)
	start static-D "$TMP/baseline" static --listen "127.0.0.1:$sport" --file "$body" --content-type application/octet-stream
	local spid=$START_PID
	wait_port "$sport" "$spid" static-D
	code=$(curl -sS -m 5 -D "$shdr" -o "$TMP/static-D.body" -w '%{http_code}' "http://127.0.0.1:$sport$path") || code=000
	[[ $code == 200 ]] && cmp -s "$body" "$TMP/static-D.body" || die "baseline static does not answer the same $size bytes (HTTP $code)"
	variants+=("static|http://127.0.0.1:$sport$path|$spid")
	log "stand $D_STAND status: $size bytes, response headers: foyer $( [[ -s $fhdr ]] && wc -c <"$fhdr" || echo -) / static $(wc -c <"$shdr") bytes"

	# Every variant gets the same request, admission token included; a fresh
	# token each repetition keeps long runs clear of its expiry.
	local hdr=(-H "Authorization: Bearer $token")
	local v name url pids rep c0 c1 cache_lines=()
	for v in "${variants[@]}"; do
		IFS='|' read -r name url pids <<<"$v"
		warm "$url" "${hdr[@]}"
	done
	for rep in $(seq "$REPS"); do
		if [[ $SKIP_FOYER != 1 && $rep -gt 1 ]]; then
			token=$(seating_token)
			hdr=(-H "Authorization: Bearer $token")
		fi
		for v in "${variants[@]}"; do
			IFS='|' read -r name url pids <<<"$v"
			[[ $name == foyer ]] && c0=$(foyer_metrics "$cache_re")
			measure D "$rep" "$name" "$url" "$pids" "$check" -- "${hdr[@]}"
			if [[ $name == foyer ]]; then
				c1=$(foyer_metrics "$cache_re")
				cache_lines+=("rep $rep: $(diff_metrics "$c0" "$c1" | sed 's/foyer_seating_//g')")
				log "D rep $rep foyer stand cache: ${cache_lines[-1]#rep * }"
			fi
		done
	done
	[[ $SKIP_FOYER != 1 ]] && stop "$FOYER_PID"
	stop "$spid"
	{
		report D "D. Stand status from the stand cache ($D_STORE store, $D_SEATS seats in $D_STANDS stands, stand $D_STAND): foyer seating vs a handler returning the same $size bytes" \
			"foyer ≥ 0.8 × static req/s" foyer/static
		echo
		local hsizes="static $(header_summary "$shdr")"
		[[ -s $fhdr ]] && hsizes="foyer $(header_summary "$fhdr"), $hsizes"
		echo "Body: the raw packed status of stand $D_STAND, $size bytes (no Accept-Encoding), saved as \`stand-status.bin\`; every request carries the same \`Authorization: Bearer <admission token>\` (Foyer verifies it, the baseline ignores it). Response headers: $hsizes."
		if ((${#cache_lines[@]})); then
			echo
			echo "Foyer's stand cache during each foyer run (counters that grew): $(printf '%s; ' "${cache_lines[@]}" | sed 's/; $//')."
		fi
		if [[ $check == redis ]]; then
			echo
			echo "Redis calls: difference of INFO commandstats over the run (INFO excluded; commands run inside a Lua script count too). By design (docs/seating.md) a status read costs Redis nothing but one read in a hundred, which checks the published copy (one HGET), so expect about 0.01 calls/req, plus the stand cache's refreshes (a handful of commands a second per stand read, also in the static row, where Foyer runs idle)."
		fi
	} >>"$OUT/report.md"
}

# ---------------------------------------------------------------- main

command -v wrk >/dev/null || die "wrk not found"
command -v nginx >/dev/null || die "nginx not found"
command -v redis-server >/dev/null || die "redis-server not found"
mkdir -p "$OUT/raw"
printf '%s\n' "$COLUMNS_TSV" >"$RESULTS"
{
	echo "# Foyer benchmarks $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "$(nproc) CPUs, $(uname -r), REPS=$REPS DURATION=$DURATION CONNS=$CONNS WARMUP=$WARMUP A_STORE=$A_STORE D_STORE=$D_STORE SKIP_FOYER=$SKIP_FOYER; git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo none)$(cd "$ROOT" && git status --porcelain 2>/dev/null | grep -q . && echo ' (dirty tree)')"
} >"$OUT/report.md"

build
start_origin
for s in "${scenarios[@]}"; do "scenario_$s"; done

cat "$OUT/report.md"
log "raw results: $RESULTS; wrk outputs: $OUT/raw; report: $OUT/report.md"
if grep -q $'\tfailed' "$RESULTS"; then
	log "some runs FAILED (see the status column)"
	exit 1
fi
