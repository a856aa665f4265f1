/* Kernel-wide basics: sizes, alignment, logging, panic and exit codes. */
#ifndef KERNEL_KERNEL_H
#define KERNEL_KERNEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)			(((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a)		((x) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a)		(((x) & ((__typeof__(x))(a)-1)) == 0)
#define MIN(a, b)			((a) < (b) ? (a) : (b))
#define MAX(a, b)			((a) > (b) ? (a) : (b))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

#define PAGE_SIZE  4096ull
#define PAGE_SHIFT 12

#ifndef __noreturn
#define __noreturn __attribute__((noreturn))
#endif
#ifndef __printf
#define __printf(a, b) __attribute__((format(printf, a, b)))
#endif
#ifndef __used
#define __used __attribute__((used))
#endif
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Exit codes written to QEMU's isa-debug-exit port; QEMU exits with
 * (code << 1) | 1, so the host sees 33 for pass and 35 for fail.
 */
#define EXIT_PASS 0x10
#define EXIT_FAIL 0x11

/*
 * kprintf: formatted output straight to the consoles, bypassing stdio
 * buffering and never allocating (no %f). Safe in exception handlers and
 * before the heap is up.
 */
int kprintf(const char *fmt, ...) __printf(1, 2);
int vkprintf(const char *fmt, va_list ap);

/* panic: a broken kernel invariant. Prints, backtraces, exits with EXIT_FAIL. */
void panic(const char *fmt, ...) __printf(1, 2) __noreturn;

/* kernel_exit: flush stdio, leave QEMU with the given EXIT_* code. */
void kernel_exit(int code) __noreturn;

/* Linker-script symbols. */
extern char __kernel_start[], __kernel_end[];
extern char __text_start[], __text_end[];
extern char __rodata_start[], __rodata_end[];
extern char __data_start[], __bss_start[], __bss_end[];
extern uint64_t boot_tsc_start;

#endif
