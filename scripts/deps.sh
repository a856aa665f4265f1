#!/usr/bin/env bash
# Installs what the build and the tests need, from Debian's archive only, and
# builds the third-party code into build/deps/ (cached, rebuilt when its
# Debian version changes):
#   newlib 3.3.0  from the newlib-source package, built for bare-metal x86-64
#   lwIP 2.1.3    pristine source from Debian's lwip source package (unpacked)
#   dpdk-testpmd  only this binary, unpacked from Debian's dpdk-dev (the package
#                 itself pulls in 199 packages, 170 MB); its libraries are in PKGS
#
# Usage: scripts/deps.sh [DEPS_DIR]      (default: build/deps)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps=${1:-$top/build/deps}
mkdir -p "$deps"
deps=$(cd "$deps" && pwd)

TESTPMD_PKGS=(
	librte-eal23 librte-ethdev23 librte-vhost23 librte-net-vhost23 librte-mempool-ring23
	librte-cmdline23 librte-crypto-scheduler23 librte-reorder23 librte-bitratestats23
	librte-metrics23 librte-bpf23 librte-gro23 librte-gso23 librte-latencystats23
	librte-pdump23 librte-pcapng23 librte-net-bnxt23 librte-net-i40e23 librte-net-ixgbe23
	librte-security23 librte-bus-dpaa23 librte-common-dpaax23 librte-eventdev23
	librte-timer23 librte-mempool-dpaa23 librte-net-dpaa23 librte-net-bond23 librte-sched23
	librte-ip-frag23 librte-net-ice23 librte-common-iavf23 librte-net-mlx5-23
	librte-common-mlx5-23 librte-bus-auxiliary23 libpcap0.8 ibverbs-providers libnuma1
	libfdt1 libjansson4 libbsd0 libelf1
)

PKGS=(
	# build
	gcc make binutils xz-utils dpkg-dev newlib-source gnu-efi mtools
	# run and test
	qemu-system-x86 qemu-utils ovmf python3 python3-pytest python3-pytest-xdist
	libcmocka-dev check iperf iproute2 iputils-ping netcat-openbsd
	# make bench's plots (bench/report.py, /usr/bin/python3 with the Agg backend)
	python3-matplotlib
	# fuzzing: clang 14, its libFuzzer/ASan runtimes, llvm-symbolizer for reports
	clang libclang-rt-14-dev llvm
	# dpdk-testpmd (tests/qemu/test_vhost_user_net.py): the DPDK 22.11 libraries it
	# links and the vhost and mempool drivers it loads (about 10 MB of downloads)
	"${TESTPMD_PKGS[@]}"
)

log() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: error: %s\n' "$*" >&2; exit 1; }

missing_pkgs() {
	local p st
	for p in "${PKGS[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$st" = "install ok installed" ] || printf '%s ' "$p"
	done
}

install_pkgs() {
	local miss
	miss=$(missing_pkgs)
	[ -z "$miss" ] && return 0
	local line="apt-get install -y --no-install-recommends $miss"
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
		die "missing Debian packages; as root run: $line"
	fi
	log "installing: $miss"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! apt-get install -y --no-install-recommends $miss >"$deps/apt.log" 2>&1; then
		log "install failed, running apt-get update first"
		apt-get update >>"$deps/apt.log" 2>&1 || true
		# shellcheck disable=SC2086
		apt-get install -y --no-install-recommends $miss >>"$deps/apt.log" 2>&1 ||
			{ tail -20 "$deps/apt.log" >&2; die "apt-get failed (log: $deps/apt.log)"; }
	fi
	miss=$(missing_pkgs)
	[ -z "$miss" ] || die "still missing after install: $miss"
}

pkg_version() { dpkg-query -W -f='${Version}' "$1"; }

# newlib: configured for x86_64-elf with the host toolchain. No red zone
# (interrupts arrive on the kernel stack), no PIC, no stack protector, and
# only the compiler's own freestanding headers (never the host libc's).
NEWLIB_CC="gcc -mno-red-zone -fno-pic -fno-pie -fno-stack-protector -nostdinc -isystem $(gcc -print-file-name=include)"
NEWLIB_CFLAGS="-O2 -g -fno-omit-frame-pointer"
NEWLIB_CONF=(--target=x86_64-elf --disable-multilib --disable-nls
	--disable-newlib-supplied-syscalls --enable-newlib-io-long-long
	--enable-newlib-io-c99-formats)

build_newlib() {
	local want have src
	want="$(pkg_version newlib-source) $NEWLIB_CC $NEWLIB_CFLAGS ${NEWLIB_CONF[*]}"
	have=$(cat "$deps/newlib/.stamp" 2>/dev/null || true)
	[ "$want" = "$have" ] && return 0
	src=$(ls /usr/src/newlib/newlib-*.tar.* 2>/dev/null | head -1)
	[ -n "$src" ] || die "newlib-source is installed but /usr/src/newlib has no tarball"
	log "building newlib $(pkg_version newlib-source) (about 2 minutes)"
	rm -rf "$deps/newlib" "$deps/newlib-src" "$deps/newlib-build"
	mkdir -p "$deps/newlib-src" "$deps/newlib-build"
	tar -xf "$src" -C "$deps/newlib-src" --strip-components=1
	(
		cd "$deps/newlib-build"
		"$deps/newlib-src/configure" "${NEWLIB_CONF[@]}" --prefix="$deps/newlib" \
			CC_FOR_TARGET="$NEWLIB_CC" CFLAGS_FOR_TARGET="$NEWLIB_CFLAGS" \
			AR_FOR_TARGET=ar AS_FOR_TARGET=as LD_FOR_TARGET=ld NM_FOR_TARGET=nm \
			RANLIB_FOR_TARGET=ranlib OBJDUMP_FOR_TARGET=objdump \
			READELF_FOR_TARGET=readelf STRIP_FOR_TARGET=strip
		make -j"$(nproc)" all-target-newlib
		make install-target-newlib
	) >"$deps/newlib-build.log" 2>&1 ||
		{ tail -30 "$deps/newlib-build.log" >&2; die "newlib build failed (log: $deps/newlib-build.log)"; }
	[ -f "$deps/newlib/x86_64-elf/lib/libc.a" ] || die "newlib built no libc.a"
	rm -rf "$deps/newlib-src" "$deps/newlib-build"
	printf '%s' "$want" >"$deps/newlib/.stamp"
}

# lwIP: `apt-get source` through a private source list and state directory
# under build/deps, so the system's apt configuration is left untouched.
fetch_lwip() {
	local apt="$deps/apt" ver
	[ -f "$deps/lwip/.stamp" ] && [ -f "$deps/lwip/src/include/lwip/init.h" ] && return 0
	log "fetching lwIP source from Debian"
	rm -rf "$apt" "$deps/lwip"
	mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/src"
	local src_list=/etc/apt/sources.list.d/debian.sources
	if [ -f "$src_list" ]; then
		sed 's/^Types:.*/Types: deb-src/' "$src_list" >"$apt/parts/debian-src.sources"
	else
		grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | grep -i debian |
			sed 's/^deb /deb-src /' >"$apt/parts/debian-src.list"
	fi
	local opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt/parts"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
		-o APT::Sandbox::User=root)
	apt-get "${opts[@]}" update >"$apt/log" 2>&1 || true
	(cd "$apt/src" && apt-get "${opts[@]}" source --download-only lwip) >>"$apt/log" 2>&1 ||
		{ tail -10 "$apt/log" >&2; die "apt-get source lwip failed (log: $apt/log)"; }
	local dsc
	dsc=$(ls "$apt/src"/lwip_*.dsc | head -1)
	ver=$(basename "$dsc" .dsc)
	# Pristine upstream tree: Debian's patches are for its Linux port.
	dpkg-source -x --skip-patches "$dsc" "$deps/lwip" >>"$apt/log" 2>&1 ||
		die "dpkg-source failed (log: $apt/log)"
	local h="$deps/lwip/src/include/lwip/init.h"
	grep -Eq 'LWIP_VERSION_MAJOR +2[^0-9]' "$h" && grep -Eq 'LWIP_VERSION_MINOR +1[^0-9]' "$h" &&
		grep -Eq 'LWIP_VERSION_REVISION +3[^0-9]' "$h" ||
		die "$dsc is not lwIP 2.1.3"
	rm -rf "$apt"
	printf '%s' "$ver" >"$deps/lwip/.stamp"
}

# dpdk-testpmd: `apt-get download dpdk-dev` of the installed libraries' version
# (else the archive's), and only usr/bin/dpdk-testpmd out of it. A failure
# is not fatal: the vhost-user-net tests then skip and say why.
fetch_testpmd() {
	local dir="$deps/dpdk" ver want tmp
	ver=$(pkg_version librte-eal23)
	want="dpdk-dev $ver"
	[ "$(cat "$dir/.stamp" 2>/dev/null || true)" = "$want" ] &&
		[ -x "$dir/usr/bin/dpdk-testpmd" ] && return 0
	log "fetching dpdk-testpmd from Debian's dpdk-dev $ver"
	rm -rf "$dir"
	tmp=$(mktemp -d "$deps/dpdk-dl.XXXXXX")
	if ! (cd "$tmp" && { apt-get -o APT::Sandbox::User=root download "dpdk-dev=$ver" ||
		apt-get -o APT::Sandbox::User=root download dpdk-dev; }) \
		>"$deps/dpdk-dl.log" 2>&1; then
		rm -rf "$tmp"
		log "warning: apt-get download dpdk-dev failed (log: $deps/dpdk-dl.log);" \
			"the vhost-user-net tests will skip"
		return 0
	fi
	mkdir -p "$dir"
	dpkg-deb --fsys-tarfile "$tmp"/dpdk-dev_*.deb |
		tar -x -C "$dir" ./usr/bin/dpdk-testpmd >>"$deps/dpdk-dl.log" 2>&1 || true
	rm -rf "$tmp"
	if ! "$dir/usr/bin/dpdk-testpmd" -h >>"$deps/dpdk-dl.log" 2>&1; then
		rm -rf "$dir"
		log "warning: dpdk-testpmd from dpdk-dev does not run (log: $deps/dpdk-dl.log);" \
			"the vhost-user-net tests will skip"
		return 0
	fi
	printf '%s' "$want" >"$dir/.stamp"
}

# One run at a time (parallel makes, two terminals).
if command -v flock >/dev/null; then
	exec 9>"$deps/.lock"
	flock 9
fi
install_pkgs
build_newlib
fetch_lwip
fetch_testpmd
touch "$deps/.ok"
