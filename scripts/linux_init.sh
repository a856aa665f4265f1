#!/bin/busybox sh
# /init of the Linux baseline guest (built by scripts/linux_guest.py).
#
# Loads the virtio modules, runs the benchmark named by lb.bench= on the
# kernel command line, prints "@@LB ..." lines (and the tools' own output)
# on the console (ttyS0) and powers off, which ends QEMU.
#
#   lb.bench=blk  lb.dev=vda lb.ms=1000 lb.size=256M lb.engine=libaio
#                 lb.sched=none|mq-deadline (default: the kernel's choice)
#                 lb.cases=read:4k:1,randread:4k:32,...   (fio rw:bs:iodepth)
#   lb.bench=net  lb.ip=10.77.0.2/24 lb.host=10.77.0.1 lb.t=10
#                 iperf -s runs on the guest; a connection to port 5002 starts
#                 the guest's own iperf -c to lb.host (guest to host)
#   lb.bench=shell   a shell on the console (debugging)

/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
export PATH=/bin:/usr/bin HOME=/tmp

lb() { echo "@@LB $*"; }

# The value of lb.KEY= on the kernel command line, else $2.
arg() {
	for w in $(cat /proc/cmdline); do
		case "$w" in "lb.$1="*) echo "${w#*=}"; return ;; esac
	done
	echo "$2"
}

off() {
	sync
	lb "poweroff"
	poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}

for m in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$m.ko" || lb "error insmod $m"
done

# Interrupts of the virtio queues whose /proc/interrupts name matches $1,
# summed over the CPUs.
irqs() {
	awk -v pat="$1" 'NR == 1 { n = NF; next }
		$NF ~ pat { for (i = 2; i <= n + 1; i++) s += $i } END { print s + 0 }' /proc/interrupts
}

wait_for() {
	i=0
	while [ ! -e "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "$1" ]
}

run_blk() {
	dev=$(arg dev vda)
	ms=$(arg ms 1000)
	size=$(arg size "")
	engine=$(arg engine libaio)
	sched=$(arg sched "")
	cases=$(arg cases "read:4k:1")
	wait_for "/dev/$dev" || { lb "error no /dev/$dev"; return; }
	q=/sys/block/$dev/queue
	[ -n "$sched" ] && echo "$sched" >"$q/scheduler"
	lb "info kernel $(uname -r)"
	lb "info fio $(fio --version)"
	lb "info scheduler $(cat "$q/scheduler")"
	lb "info hwqueues $(ls "/sys/block/$dev/mq" | wc -l)"
	lb "info nr_requests $(cat "$q/nr_requests")"
	lb "info max_sectors_kb $(cat "$q/max_sectors_kb")"
	lb "info size $(($(cat "/sys/block/$dev/size") / 2048))M"
	i=0
	for c in $(echo "$cases" | tr , ' '); do
		rw=${c%%:*}
		rest=${c#*:}
		bs=${rest%%:*}
		qd=${rest#*:}
		i0=$(irqs "^virtio[0-9]+-req")
		fio --name="case$i" --filename="/dev/$dev" --direct=1 --ioengine="$engine" \
			--rw="$rw" --bs="$bs" --iodepth="$qd" --time_based --runtime="${ms}ms" \
			${size:+--size=$size} --output-format=json --output=/tmp/fio.json \
			>/tmp/fio.err 2>&1
		rc=$?
		i1=$(irqs "^virtio[0-9]+-req")
		lb "case $i $rw $bs $qd rc=$rc irqs=$((i1 - i0))"
		[ $rc -ne 0 ] && cat /tmp/fio.err
		lb "json-begin $i"
		cat /tmp/fio.json
		lb "json-end $i"
		i=$((i + 1))
	done
}

run_net() {
	ip=$(arg ip 10.77.0.2/24)
	host=$(arg host 10.77.0.1)
	t=$(arg t 10)
	wait_for /sys/class/net/eth0 || { lb "error no eth0"; return; }
	ip link set lo up
	ip addr add "$ip" dev eth0
	ip link set eth0 up
	lb "info kernel $(uname -r)"
	lb "info iperf $(iperf -v 2>&1)"
	lb "info eth0 features $(cat /sys/class/net/eth0/device/features 2>/dev/null)"
	# The server's reports (CSV) go straight to the console.
	iperf -s -y C &
	sleep 1
	lb "net ready"
	nc -l -p 5002 </dev/null >/dev/null 2>&1
	lb "net reverse begin"
	iperf -c "$host" -t "$t" -y C
	lb "net reverse end rc=$?"
	kill %1 2>/dev/null
}

bench=$(arg bench shell)
lb "init bench=$bench"
case "$bench" in
blk) run_blk ;;
net) run_net ;;
*) setsid cttyhack sh ;;
esac
lb "done"
off
