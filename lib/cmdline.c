/* Kernel command line parsing (see include/lib/cmdline.h for syntax). */
#include <errno.h>
#include <string.h>

#include <lib/cmdline.h>

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int cmdline_parse(struct cmdline *cl, const char *s)
{
	size_t o = 0;
	int rc = 0;

	cl->nr = 0;
	if (!s)
		return 0;
	if (strlen(s) >= sizeof(cl->buf))
		return -E2BIG;

	while (*s) {
		while (is_space(*s))
			s++;
		if (!*s)
			break;
		if (cl->nr == CMDLINE_MAX_ARGS) {
			rc = -E2BIG;
			goto fail;
		}
		/*
		 * The output is at most strlen(s) + 1 bytes: every NUL but the
		 * last word's takes the place of an '=' or a separator, and
		 * quotes are dropped. strlen(s) < sizeof(buf): no overflow.
		 */
		cl->key[cl->nr] = &cl->buf[o];
		while (*s && *s != '=' && !is_space(*s))
			cl->buf[o++] = *s++;
		if (cl->key[cl->nr] == &cl->buf[o]) {
			rc = -EINVAL;
			goto fail;
		}
		cl->buf[o++] = '\0';
		cl->value[cl->nr] = "";
		if (*s == '=') {
			cl->value[cl->nr] = &cl->buf[o];
			s++;
			if (*s == '"') {
				s++;
				while (*s && *s != '"')
					cl->buf[o++] = *s++;
				if (*s != '"') {
					rc = -EINVAL;
					goto fail;
				}
				s++;
			} else {
				while (*s && !is_space(*s))
					cl->buf[o++] = *s++;
			}
			cl->buf[o++] = '\0';
		}
		cl->nr++;
	}
	return (int)cl->nr;
fail:
	cl->nr = 0;
	return rc;
}

const char *cmdline_get(const struct cmdline *cl, const char *key)
{
	for (unsigned i = cl->nr; i-- > 0;)
		if (strcmp(cl->key[i], key) == 0)
			return cl->value[i];
	return NULL;
}

bool cmdline_has(const struct cmdline *cl, const char *key)
{
	return cmdline_get(cl, key) != NULL;
}
