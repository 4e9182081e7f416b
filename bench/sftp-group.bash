# The sftp group of bench/run (sourced by it, which defines every helper and
# variable used here): oxftpd's SFTP against OpenSSH's own SFTP server (sshd
# with `Subsystem sftp internal-sftp`), both driven by OpenSSH's sftp client
# with the same cipher and a key login, over the shared tree.
# shellcheck shell=bash disable=SC2154

# sftp_time SERVER BATCH: runs OpenSSH's sftp with the batch file as the bench
# user against SERVER's SFTP port; prints the seconds it took (connection,
# login and the batch), or fails.
sftp_time() {
    local port_var=PORT_SFTP_$1 t0 t1
    t0=$(date +%s.%N)
    sftp -q -b "$2" -P "${!port_var}" -i "$SFTP_DIR/id_ed25519" -c "$SFTP_CIPHER" -F /dev/null \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR \
        "$USER_NAME@127.0.0.1" >/dev/null 2>"$WORK/sftp.err" || return 1
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}

# sftp_run SERVER ROW UNIT AMOUNT BATCH: one timed batch; records
# AMOUNT / seconds (AMOUNT in MB for MB/s, in files for files/s).
sftp_run() {
    local server=$1 row=$2 unit=$3 amount=$4 batch=$5 secs
    log "$server: sftp $row"
    if secs=$(sftp_time "$server" "$batch"); then
        record --workload "$row" --label "$server" --unit "$unit" \
            "$(awk -v a="$amount" -v s="$secs" 'BEGIN { printf "%.1f", a / s }')"
    else
        record --workload "$row" --label "$server" --unit "$unit" --errors 1 --error "$(head -1 "$WORK/sftp.err")"
    fi
}

# Proportional set size (KiB) of every process in the session of the server
# started as $1: sshd forks per connection, oxftpd does not.
pss_of() {
    local total=0 p v
    for p in $(pgrep -s "$1"); do
        v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# sftp_idle SERVER: opens $SFTP_IDLE SFTP sessions that stay idle (subsystem
# started, no request) and records the server's memory per session.
sftp_idle() {
    local server=$1 port_var=PORT_SFTP_$1 before after clients=() i up=0
    before=$(pss_of "${PID_OF[$server]}")
    for ((i = 0; i < SFTP_IDLE; i++)); do
        sleep 600 | ssh -T -s -p "${!port_var}" -i "$SFTP_DIR/id_ed25519" -c "$SFTP_CIPHER" -F /dev/null \
            -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR \
            "$USER_NAME@127.0.0.1" sftp >/dev/null 2>&1 &
        clients+=($!)
    done
    # Wait until every client holds an established connection (bounded).
    for _ in $(seq 150); do
        up=$(ss -Htn state established "( sport = :${!port_var} )" | wc -l)
        ((up < SFTP_IDLE)) || break
        sleep 0.2
    done
    # Logins and subsystem starts finish after the TCP handshake.
    sleep 2
    after=$(pss_of "${PID_OF[$server]}")
    log "$server: $up idle SFTP sessions, server PSS $before -> $after KiB"
    record --workload "memory per idle SFTP session ($SFTP_IDLE sessions, PSS)" --label "$server" --unit KiB \
        --lower-is-better "$(awk -v a="$after" -v b="$before" -v n="$SFTP_IDLE" 'BEGIN { printf "%.1f", (a - b) / n }')"
    # The ssh clients go with their pipelines' sleeps.
    pkill -f "ssh -T -s -p ${!port_var} " 2>/dev/null || true
    kill "${clients[@]}" 2>/dev/null || true
    wait "${clients[@]}" 2>/dev/null || true
}

group_begin sftp
command -v sftp >/dev/null || { log "installing openssh-client"; apt_install openssh-client; }
[[ -x /usr/sbin/sshd ]] || { log "installing openssh-server"; apt_install openssh-server; }
SFTP_DIR=$WORK/sftp
mkdir -p "$SFTP_DIR" /run/sshd
[[ -f $SFTP_DIR/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -f "$SFTP_DIR/id_ed25519"
[[ -f $SFTP_DIR/sshd_host_key ]] || ssh-keygen -q -t ed25519 -N '' -f "$SFTP_DIR/sshd_host_key"
cp "$SFTP_DIR/id_ed25519.pub" "$SFTP_DIR/authorized_keys"
chmod 644 "$SFTP_DIR/authorized_keys"
printf '[[user]]\nname = "%s"\nclass = "user"\nhome = "/"\nauthorized_keys = ["%s"]\n' \
    "$USER_NAME" "$(cat "$SFTP_DIR/id_ed25519.pub")" >"$SFTP_DIR/users.toml"
# sshd serves the bench user's home (the shared tree, $ROOT) as that user:
# internal-sftp, no chroot, key logins only.
printf '%s\n' "Port $PORT_SFTP_openssh" "ListenAddress 127.0.0.1" "HostKey $SFTP_DIR/sshd_host_key" \
    "PidFile none" "UsePAM no" "StrictModes no" "AuthorizedKeysFile $SFTP_DIR/authorized_keys" \
    "PasswordAuthentication no" "KbdInteractiveAuthentication no" "PermitRootLogin no" \
    "Subsystem sftp internal-sftp" "MaxSessions 100" "MaxStartups 1000" "LogLevel ERROR" \
    >"$SFTP_DIR/sshd_config"
# sshd will not log in an account whose shell is missing from /etc/shells;
# internal-sftp runs none: /bin/false for the run, put back after.
SFTP_SHELL_BEFORE=$(getent passwd "$USER_NAME" | cut -d: -f7)
usermod --shell /bin/false "$USER_NAME"
start oxftpd-sftp "$OXFTPD" --config "$HERE/oxftpd-sftp.toml" --listen "127.0.0.1:$PORT_oxftpd"
PID_OF[oxftpd]=$SERVER_PID
CG_OF[oxftpd]=$SERVER_CG
start openssh-sftp /usr/sbin/sshd -D -e -f "$SFTP_DIR/sshd_config"
PID_OF[openssh]=$SERVER_PID
CG_OF[openssh]=$SERVER_CG
# Ready when the port answers with an SSH banner (`oxftp-bench wait` wants FTP's 220).
ssh_banner_within() { # PORT SECONDS
    local deadline=$((SECONDS + $2)) line
    while ((SECONDS < deadline)); do
        line=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && IFS= read -r -t 2 l <&3 && printf %s "$l") 2>/dev/null) || true
        [[ $line == SSH-* ]] && return 0
        sleep 0.1
    done
    return 1
}
for s in oxftpd openssh; do
    port_var=PORT_SFTP_$s
    ssh_banner_within "${!port_var}" 20 || die "$s SFTP did not start (logs in $LOGS)"
done
SFTP_UP=$WORK/sftp-up.bin
[[ -f $SFTP_UP && $(stat -c %s "$SFTP_UP") == $((SFTP_MIB << 20)) ]] \
    || head -c $((SFTP_MIB << 20)) /dev/urandom >"$SFTP_UP"
if [[ ! -f $ROOT/sftp.bin || $(stat -c %s "$ROOT/sftp.bin") != $((SFTP_MIB << 20)) ]]; then
    head -c $((SFTP_MIB << 20)) /dev/urandom >"$ROOT/sftp.bin"
    chown "$USER_NAME" "$ROOT/sftp.bin"
fi
# Both from page cache: this measures the servers, not the disk.
cat "$ROOT/sftp.bin" "$SFTP_UP" >/dev/null
echo "get sftp.bin /dev/null" >"$SFTP_DIR/get.batch"
for i in $(seq 0 $((SMALL - 1))); do printf 'get small/f%04d /dev/null\n' "$i"; done >"$SFTP_DIR/small-get.batch"
for s in oxftpd openssh; do
    echo "put $SFTP_UP up/$s/sftp.bin" >"$SFTP_DIR/put-$s.batch"
    for i in $(seq 0 $((SMALL - 1))); do printf 'put %s up/%s/s%04d\n' "$WORK/4k.bin" "$s" "$i"; done \
        >"$SFTP_DIR/small-put-$s.batch"
    mkdir -p "$ROOT/up/$s"
    chown "$USER_NAME" "$ROOT/up/$s"
done
[[ -f $WORK/4k.bin ]] || head -c 4096 /dev/urandom >"$WORK/4k.bin"
chmod 644 "$WORK/4k.bin"
SFTP_MB=$(awk -v m="$SFTP_MIB" 'BEGIN { printf "%.3f", m * 1048576 / 1e6 }')
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    ORDER=$(in_turn "oxftpd openssh")
    log "sftp: round $ROUND of $ROUNDS: $ORDER"
    for s in $ORDER; do sftp_run "$s" "sftp get $SFTP_MIB MiB" MB/s "$SFTP_MB" "$SFTP_DIR/get.batch"; done
    for s in $ORDER; do
        rm -f "$ROOT/up/$s/sftp.bin"
        sftp_run "$s" "sftp put $SFTP_MIB MiB" MB/s "$SFTP_MB" "$SFTP_DIR/put-$s.batch"
    done
    for s in $ORDER; do
        sftp_run "$s" "sftp $SMALL x 4 KiB get, one session" files/s "$SMALL" "$SFTP_DIR/small-get.batch"
    done
    for s in $ORDER; do
        rm -f "$ROOT/up/$s"/s[0-9][0-9][0-9][0-9]
        sftp_run "$s" "sftp $SMALL x 4 KiB put, one session" files/s "$SMALL" "$SFTP_DIR/small-put-$s.batch"
    done
done
for s in oxftpd openssh; do sftp_idle "$s"; done
stop_servers
usermod --shell "${SFTP_SHELL_BEFORE:-/usr/sbin/nologin}" "$USER_NAME"
rm -f "$ROOT"/up/*/sftp.bin "$ROOT"/up/*/s[0-9][0-9][0-9][0-9]
group_end "SFTP against OpenSSH's sftp-server" \
    "$INTERLEAVED; OpenSSH's sftp client (batch mode, key login, cipher $SFTP_CIPHER) against oxftpd and against OpenSSH's sshd with Subsystem sftp internal-sftp; each timing includes connecting and logging in" \
    "client $(ssh -V 2>&1 | head -1); peer: $(/usr/sbin/sshd -V 2>&1 | head -1 || true)" \
    "targets (issue 17): get and put >= 1.0x OpenSSH, small files >= 1.0x, memory per idle session <= 64 KiB"
