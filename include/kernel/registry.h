/*
 * Link-time tables of in-guest tests, applications and shell commands.
 * Each entry lands in its own section; the linker script brackets them,
 * so adding a test or command is one macro in the file that owns it.
 *
 *	KTEST(printf, "newlib printf formats") { ...; return 0; }
 *	KAPP(shell, "interactive shell") { ... }
 *	KCMD(echo, "print the arguments") { ...argc, argv... }
 */
#ifndef KERNEL_REGISTRY_H
#define KERNEL_REGISTRY_H

#include <stddef.h>

struct ktest {
	const char *name;
	const char *help;
	int (*fn)(void); /* 0 = pass, anything else = fail */
};

struct kapp {
	const char *name;
	const char *help;
	int (*fn)(void); /* return value becomes the exit status */
};

struct kcmd {
	const char *name;
	const char *help;
	int (*fn)(int argc, char **argv);
};

#define KTEST(id, helptext)                                                             \
	static int ktest_fn_##id(void);                                                 \
	static const struct ktest ktest_##id                                            \
		__attribute__((used, section(".ktest"), aligned(8))) = {#id, helptext,  \
									ktest_fn_##id}; \
	static int ktest_fn_##id(void)

#define KAPP(id, helptext)                                                                         \
	static int kapp_fn_##id(void);                                                             \
	static const struct kapp kapp_##id __attribute__((used, section(".kapp"), aligned(8))) = { \
		#id, helptext, kapp_fn_##id};                                                      \
	static int kapp_fn_##id(void)

#define KCMD(id, helptext)                                                                         \
	static int kcmd_fn_##id(int argc, char **argv);                                            \
	static const struct kcmd kcmd_##id __attribute__((used, section(".kcmd"), aligned(8))) = { \
		#id, helptext, kcmd_fn_##id};                                                      \
	static int kcmd_fn_##id(int argc __attribute__((unused)),                                  \
				char **argv __attribute__((unused)))

extern const struct ktest __ktest_start[], __ktest_end[];
extern const struct kapp __kapp_start[], __kapp_end[];
extern const struct kcmd __kcmd_start[], __kcmd_end[];

#define for_each_ktest(t) for (const struct ktest *t = __ktest_start; t < __ktest_end; t++)
#define for_each_kapp(a)  for (const struct kapp *a = __kapp_start; a < __kapp_end; a++)
#define for_each_kcmd(c)  for (const struct kcmd *c = __kcmd_start; c < __kcmd_end; c++)

#endif
