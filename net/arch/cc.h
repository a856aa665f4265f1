/*
 * lwIP compiler and platform glue (lwIP 2.1.3 "arch/cc.h"): newlib
 * supplies the C library, the kernel supplies diagnostics, assertions
 * and random numbers. Included by every lwIP source through lwip/arch.h.
 */
#ifndef NET_ARCH_CC_H
#define NET_ARCH_CC_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

/* newlib's sys/types.h has ssize_t (long); say so, or lwIP typedefs its own. */
#ifndef SSIZE_MAX
#define SSIZE_MAX LONG_MAX
#endif

/* x86-64 is little-endian; byte swaps as single instructions. */
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))

/* net_random - 32 bits from the kernel's generator (DHCP xid, ports; ISNs: net_hooks.h). */
uint32_t net_random(void);
#define LWIP_RAND() ((u32_t)net_random())

/* net_assert_fail - lwIP's assertion failed: print where and panic. */
void net_assert_fail(const char *msg, const char *file, int line) __attribute__((noreturn));

#define LWIP_PLATFORM_DIAG(x) \
	do {                  \
		printf x;     \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) net_assert_fail((x), __FILE__, __LINE__)

#endif
