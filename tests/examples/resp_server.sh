#!/usr/bin/env bash
# CTest example.resp_server: example_resp_server and the real redis-server 7 (no persistence,
# loopback), each on a free port, get the same requests and must give the same bytes back:
#   - a command script through redis-cli's interactive mode (commands on its stdin; it first
#     asks COMMAND DOCS, which only redis-server knows: redis-cli then uses its built-in help)
#     in both output forms, and single commands given as redis-cli arguments;
#   - raw requests on a bash /dev/tcp socket, compared byte for byte: arrays and inline
#     commands, wrong arity, wrong types, integers out of range, TTL after EXPIRE and SET EX,
#     lists with negative indices, MGET with missing keys, QUIT;
#   - a pipeline of 3,000 requests sent in one write, compared byte for byte, and the same
#     requests through redis-cli --pipe;
#   - malformed input (bad lengths, a missing '$', unbalanced quotes, over-long lines): both
#     must answer with the same "-ERR Protocol error: ..." and close the connection.
# Exit status 77 (skipped) when redis-server or redis-cli is missing.
#   resp_server.sh PATH/TO/example_resp_server
set -euo pipefail
source "$(dirname "$0")/background_server.sh"
require redis-server redis-cli
require timeout cmp
ours_server=$1

work=$(mktemp -d)
redis_pid=
trap '[ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null
      [ -n "$redis_pid" ] && kill -KILL "$redis_pid" 2>/dev/null
      rm -rf "$work" "$server_out"' EXIT

# start_redis: redis-server on a free port, in $redis_port once it answers PING (10 s at most).
# A port found free can be taken before redis-server binds it: then it exits, and another is
# tried.
start_redis() {
  for _ in $(seq 20); do
    redis_port=$((20000 + RANDOM % 40000))
    (exec 3<> "/dev/tcp/127.0.0.1/$redis_port") 2> /dev/null && continue  # taken
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
      --dir "$work" > "$work/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 100); do
      [ "$(timeout 5 redis-cli -p "$redis_port" ping 2> /dev/null)" = PONG ] && return 0
      kill -0 "$redis_pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -KILL "$redis_pid" 2> /dev/null || true
    wait "$redis_pid" 2> /dev/null || true
    redis_pid=
  done
  fail "redis-server did not start: $(tail -n 5 "$work/redis.log")"
}

stop_redis() {
  kill -TERM "$redis_pid"
  for _ in $(seq 100); do
    kill -0 "$redis_pid" 2> /dev/null || break
    sleep 0.1
  done
  kill -KILL "$redis_pid" 2> /dev/null || true
  wait "$redis_pid" 2> /dev/null || true
  redis_pid=
}

start_redis
start_server "$ours_server" 0
ports=("$redis_port" "$port")
names=(redis ours)

# same NAME COMMAND...: runs COMMAND once per server, with the server's port in $P, output in
# $work/NAME.redis and $work/NAME.ours; fails unless the two are identical.
same() {
  local name=$1
  shift
  for i in 0 1; do
    P=${ports[$i]} timeout 30 bash -c "$*" > "$work/$name.${names[$i]}" 2>&1 ||
      fail "$name: '$*' failed against ${names[$i]}: $(tail -n 3 "$work/$name.${names[$i]}")"
  done
  cmp -s "$work/$name.redis" "$work/$name.ours" ||
    fail "$name: the replies differ:
$(diff "$work/$name.redis" "$work/$name.ours" | head -n 40)"
}

# raw NAME BYTES: writes BYTES (printf %b escapes) to a file, and prints the command that sends
# that file on a new connection to port $P (in one write, up to 128 KiB) and prints every byte
# received until the server closes the connection, which it must do within 10 s (after QUIT or
# a protocol error).
raw() {
  printf '%b' "$2" > "$work/$1.request"
  echo "bash $work/raw.sh $work/$1.request"
}
cat > "$work/raw.sh" << 'EOF'
exec 3<> "/dev/tcp/127.0.0.1/$P"
cat "$1" >&3
timeout 10 cat <&3 || { echo "<the server did not close the connection>"; exit 1; }
EOF

# --- Commands through redis-cli ------------------------------------------------------------------
cat > "$work/script" << 'EOF'
PING
PING "hello world"
ECHO "line\nbreak"
SET greeting hello
GET greeting
GET missing
SET counter 41
INCR counter
INCR newcounter
SET notanumber abc
INCR notanumber
SET big 9223372036854775807
INCR big
SET session alive EX 100
TTL session
SET ms alive PX 100700
TTL ms
SET plain value
TTL plain
TTL nosuchkey
EXPIRE plain 50
TTL plain
EXPIRE plain 200 LT
EXPIRE plain 20 GT
TTL plain
EXPIRE nosuchkey 10
SET x 1 NX
SET x 2 XX
SET y 1 XX
SET x 3 GET
GET x
SET x 4 EX 0
SET x 4 EX notanumber
SET x 4 BOGUS
MSET a 1 b 2 c 3
MGET a nosuchkey b c greeting
MSET a 1 b
EXISTS a b a nosuchkey
DEL a b nosuchkey
EXISTS a b
RPUSH list one two three
LPUSH list zero minus
LRANGE list 0 -1
LRANGE list -3 -1
LRANGE list 1 2
LRANGE list -100 100
LRANGE list 5 1
LRANGE list notanumber 1
LRANGE nosuchkey 0 -1
LPOP list
RPOP list
LPOP list 2
RPOP list 0
LPOP list -1
LPOP nosuchkey 3
RPOP nosuchkey
LLEN list
GET list
INCR list
LPUSH greeting x
SET list overwritten
GET list
GET
SET onlykey
PING a b
NOSUCHCOMMAND with some args
CONFIG GET save
CONFIG GET appendonly
CONFIG GET nosuchparameter
CONFIG BOGUS
EXPIRE session -1
EXISTS session
EOF
same cli-script 'redis-cli -p $P --no-raw < '"$work/script"
same cli-script-raw 'redis-cli -p $P --raw < '"$work/script"
same cli-arguments 'redis-cli -p $P set k v; redis-cli -p $P --no-raw get k; redis-cli -p $P --no-raw lrange list 0 -1;
                    redis-cli -p $P --no-raw incr k; redis-cli -p $P --no-raw mget k list nothing'

# --- Raw requests, byte for byte -----------------------------------------------------------------
same raw-commands "$(raw commands '*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n'\
'PING\r\nping inline\n  echo   "a\\x41\\n"\r\necho '"'"'b\\'"'"'c'"'"'\r\n\r\n*0\r\n*-1\r\nexists k k nope\r\n'\
'set n -9223372036854775808\r\nincr n\r\nset n 01\r\nincr n\r\nrpush l a b c d e\r\nlrange l -2 -1\r\nlpop l 0\r\n'\
'rpop l 10\r\nlpop l\r\nmget l n k\r\nunknown '"'"'arg one'"'"' two\r\nQUIT\r\nPING\r\n')"

# --- Pipelining ----------------------------------------------------------------------------------
pipeline=$work/pipeline
for i in $(seq 1000); do
  printf '*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$%d\r\n%d\r\n' $((4 + ${#i})) "$i" "${#i}" "$i"
  printf '*2\r\n$4\r\nINCR\r\n$%d\r\nkey:%d\r\n' $((4 + ${#i})) "$i"
  printf '*3\r\n$5\r\nRPUSH\r\n$5\r\nplist\r\n$%d\r\n%d\r\n' "${#i}" "$i"
done > "$pipeline"
printf 'MGET key:1 key:500 nokey\r\nLRANGE plist 995 -1\r\nQUIT\r\n' >> "$pipeline"
same pipeline-one-write "bash $work/raw.sh $pipeline"
same pipeline-cli 'head -c -6 '"$pipeline"' | redis-cli -p $P --pipe | grep -v "^All data\|^Last reply"'

# --- Protocol errors: the same error, then the connection closed ---------------------------------
long=$(head -c 70000 /dev/zero | tr '\0' 1)
for request in '*abc\r\n' '*1\r\n+foo\r\n' '*1\r\n$-5\r\n' '*1\r\n$600000000\r\n' '*1\r\n$01\r\nx\r\n' \
               '*2147483648\r\n' 'PING\r\n*1\r\n$4\r\nping\r\n*1\r\nping\r\n' '*1\r\n$ 1\r\nx\r\n' \
               'SET "a b\r\n' 'echo "a"b\r\n' "*$long" "*1\\r\\n\$$long" "P$long"; do
  same protocol-error "$(raw protocol-error "$request")"
  grep -q '^-ERR Protocol error: ' "$work/protocol-error.ours" ||
    fail "no protocol error for '${request:0:40}': $(head -c 200 "$work/protocol-error.ours")"
done

stop_server
stop_redis
echo "resp_server ok"
