/*
 * Kernel command line: space-separated `key=value` words or bare `flag`s.
 * A value may be double-quoted to hold spaces: app=shell motd="hi there".
 * When a key repeats, the last one wins. Portable: host-tested.
 */
#ifndef LIB_CMDLINE_H
#define LIB_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#define CMDLINE_MAX_ARGS 64
#define CMDLINE_BUF	 1024

struct cmdline {
	unsigned nr;
	const char *key[CMDLINE_MAX_ARGS];
	const char *value[CMDLINE_MAX_ARGS]; /* "" for a bare flag */
	char buf[CMDLINE_BUF];
};

/*
 * cmdline_parse - split s into cl (s is copied; cl owns its strings).
 * Returns: the number of words, -E2BIG if there are more than
 * CMDLINE_MAX_ARGS words or s is longer than the buffer, or -EINVAL for an
 * unterminated quote or an empty key ("=x"). On error cl is empty.
 */
int cmdline_parse(struct cmdline *cl, const char *s);

/* cmdline_get - value of key (last occurrence), or NULL if absent. */
const char *cmdline_get(const struct cmdline *cl, const char *key);

/* cmdline_has - key present, with or without a value. */
bool cmdline_has(const struct cmdline *cl, const char *key);

/* The kernel's own parsed command line (lib/kernel/init.c). */
extern struct cmdline kernel_cmdline;

#endif
