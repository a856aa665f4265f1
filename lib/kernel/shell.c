/*
 * The shell: a line editor on the console and a table of commands.
 * Commands register themselves with KCMD() in the file that owns them, so
 * drivers add theirs without touching this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kernel/clock.h>
#include <kernel/kernel.h>
#include <kernel/mm.h>
#include <kernel/page_alloc.h>
#include <kernel/registry.h>

#define SHELL_LINE_MAX 256
#define SHELL_ARGS_MAX 16
#define SHELL_HISTORY  16

/* The last SHELL_HISTORY lines entered; hist_count counts every line ever kept. */
static char history[SHELL_HISTORY][SHELL_LINE_MAX];
static unsigned hist_count;

static void echo_out(const char *s, size_t n)
{
	fwrite(s, 1, n, stdout);
	fflush(stdout);
}

/* Erase the n characters typed so far and show with instead. */
static void replace_line(char *line, size_t *n, const char *with)
{
	size_t len = strlen(with);

	for (; *n > 0; (*n)--)
		echo_out("\b \b", 3);
	memcpy(line, with, len + 1);
	*n = len;
	echo_out(line, len);
}

static void history_add(const char *line)
{
	if (!line[0] ||
	    (hist_count && strcmp(history[(hist_count - 1) % SHELL_HISTORY], line) == 0))
		return;
	strcpy(history[hist_count % SHELL_HISTORY], line);
	hist_count++;
}

/*
 * Read one line with backspace editing and history (up and down arrows);
 * Ctrl-C drops the line, Ctrl-D on an empty line ends input. Other escape
 * sequences are swallowed. Returns: the length, or -1 at end of input.
 */
static int shell_readline(char *line, size_t size)
{
	unsigned back = 0; /* 0: the new line; k: the k-th most recent history line */
	size_t n = 0;
	int esc = 0;

	for (;;) {
		char c;

		if (read(0, &c, 1) != 1)
			return -1;
		if (esc) {
			/* ESC [ ... final byte in 0x40-0x7e */
			if (esc == 1 && c == '[') {
				esc = 2;
				continue;
			}
			if (esc == 2 && (c < 0x40 || c > 0x7e))
				continue;
			if (esc == 2 && c == 'A' && back < MIN(hist_count, SHELL_HISTORY)) {
				back++;
				replace_line(line, &n,
					     history[(hist_count - back) % SHELL_HISTORY]);
			} else if (esc == 2 && c == 'B' && back > 0) {
				back--;
				replace_line(line, &n,
					     back ? history[(hist_count - back) % SHELL_HISTORY]
						  : "");
			}
			esc = 0;
			continue;
		}
		switch (c) {
		case '\r':
		case '\n':
			echo_out("\n", 1);
			line[n] = '\0';
			history_add(line);
			return (int)n;
		case 0x7f:
		case '\b':
			if (n > 0) {
				n--;
				echo_out("\b \b", 3);
			}
			break;
		case 0x03:
			echo_out("^C\n", 3);
			line[0] = '\0';
			return 0;
		case 0x04:
			if (n == 0)
				return -1;
			break;
		case 0x1b: esc = 1; break;
		default:
			if ((unsigned char)c >= 0x20 && n + 1 < size) {
				line[n++] = c;
				echo_out(&c, 1);
			}
		}
	}
}

static int split_args(char *line, char **argv, int max)
{
	int argc = 0;
	char *save = NULL;

	for (char *tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (argc == max)
			return -1;
		argv[argc++] = tok;
	}
	return argc;
}

/* shell_run_line - run one command line. Returns: the command's status. */
int shell_run_line(char *line)
{
	char *argv[SHELL_ARGS_MAX + 1];
	int argc = split_args(line, argv, SHELL_ARGS_MAX);

	if (argc < 0) {
		printf("error: more than %d arguments\n", SHELL_ARGS_MAX);
		return 1;
	}
	if (argc == 0)
		return 0;
	argv[argc] = NULL;
	for_each_kcmd (c)
		if (strcmp(c->name, argv[0]) == 0)
			return c->fn(argc, argv);
	printf("error: unknown command '%s' (try 'help')\n", argv[0]);
	return 1;
}

KAPP(shell, "interactive shell on the console (the default)")
{
	char line[SHELL_LINE_MAX];

	printf("shell: type 'help' for commands\n");
	for (;;) {
		int rc;

		printf("> ");
		fflush(stdout);
		if (shell_readline(line, sizeof(line)) < 0)
			break;
		rc = shell_run_line(line);
		if (rc)
			printf("(exit status %d)\n", rc);
	}
	printf("shell: end of input\n");
	return 0;
}

static int cmd_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct kcmd *const *)a)->name,
		      (*(const struct kcmd *const *)b)->name);
}

KCMD(help, "list commands")
{
	size_t n = (size_t)(__kcmd_end - __kcmd_start);
	const struct kcmd **sorted = malloc(n * sizeof(*sorted));

	if (!sorted) {
		printf("error: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		sorted[i] = &__kcmd_start[i];
	qsort(sorted, n, sizeof(*sorted), cmd_cmp);
	for (size_t i = 0; i < n; i++)
		printf("  %-10s %s\n", sorted[i]->name, sorted[i]->help);
	free(sorted);
	return 0;
}

KCMD(echo, "print the arguments")
{
	for (int i = 1; i < argc; i++)
		printf("%s%s", argv[i], i + 1 < argc ? " " : "");
	printf("\n");
	return 0;
}

KCMD(uptime, "time since the first kernel instruction")
{
	uint64_t ns = clock_ns();

	printf("up %llu.%03llu s\n", (unsigned long long)(ns / 1000000000),
	       (unsigned long long)(ns / 1000000 % 1000));
	return 0;
}

KCMD(mem, "memory map, free pages and heap")
{
	struct heap_stats h;

	for (unsigned i = 0; i < phys_map.nr; i++)
		printf("  [0x%012llx-0x%012llx] %s\n", (unsigned long long)phys_map.r[i].base,
		       (unsigned long long)(phys_map.r[i].base + phys_map.r[i].len - 1),
		       memmap_type_name(phys_map.r[i].type));
	heap_get_stats(&h);
	printf("pages: %llu free of %llu (%llu KiB free)\n", (unsigned long long)kernel_pages.nfree,
	       (unsigned long long)kernel_pages.ntotal,
	       (unsigned long long)(kernel_pages.nfree * PAGE_SIZE / KiB));
	printf("heap: started at 0x%llx, break 0x%llx, %llu KiB of pages held\n",
	       (unsigned long long)h.start, (unsigned long long)h.brk,
	       (unsigned long long)(h.claimed / KiB));
	return 0;
}

KCMD(poweroff, "shut the machine down")
{
	printf("poweroff\n");
	kernel_exit(EXIT_PASS);
}
