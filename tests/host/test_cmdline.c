/* Host tests for lib/cmdline.c: the kernel command line parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lib/cmdline.h>

/*
 * Each test gets a heap struct cmdline of exactly its size, filled with
 * garbage: buf is its last member, so ASan catches any write past it.
 */
static int setup(void **state)
{
	struct cmdline *cl = malloc(sizeof(*cl));

	if (!cl)
		return -1;
	memset(cl, 0xa5, sizeof(*cl));
	*state = cl;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* A heap copy of s, exactly strlen(s) + 1 bytes, so reads past it are caught. */
static char *dup_exact(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

static int parse(struct cmdline *cl, const char *s)
{
	char *p = dup_exact(s);
	int rc = cmdline_parse(cl, p);

	/* cl owns its strings: the source may go away. */
	memset(p, 'X', strlen(p));
	free(p);
	return rc;
}

/* Parse s, which must fail with err, leaving cl empty. */
static void parse_fails(struct cmdline *cl, const char *s, int err)
{
	cl->nr = 7;
	assert_int_equal(parse(cl, s), err);
	assert_int_equal(cl->nr, 0);
}

static void test_null_and_empty(void **state)
{
	struct cmdline *cl = *state;

	assert_int_equal(cmdline_parse(cl, NULL), 0);
	assert_int_equal(cl->nr, 0);
	assert_null(cmdline_get(cl, "a"));
	assert_false(cmdline_has(cl, "a"));
	assert_false(cmdline_has(cl, ""));

	cl->nr = 7;
	assert_int_equal(parse(cl, ""), 0);
	assert_int_equal(cl->nr, 0);
	cl->nr = 7;
	assert_int_equal(parse(cl, " \t\r\n  "), 0);
	assert_int_equal(cl->nr, 0);
	assert_null(cmdline_get(cl, ""));
}

static void test_single_key_value(void **state)
{
	struct cmdline *cl = *state;

	assert_int_equal(parse(cl, "app=shell"), 1);
	assert_int_equal(cl->nr, 1);
	assert_string_equal(cl->key[0], "app");
	assert_string_equal(cl->value[0], "shell");
	assert_string_equal(cmdline_get(cl, "app"), "shell");
	assert_true(cmdline_has(cl, "app"));

	/* Empty value. */
	assert_int_equal(parse(cl, "console="), 1);
	assert_string_equal(cl->key[0], "console");
	assert_string_equal(cmdline_get(cl, "console"), "");
	assert_true(cmdline_has(cl, "console"));
}

static void test_bare_flag(void **state)
{
	struct cmdline *cl = *state;
	const char *v;

	assert_int_equal(parse(cl, "quiet"), 1);
	assert_string_equal(cl->key[0], "quiet");
	v = cmdline_get(cl, "quiet");
	assert_non_null(v);
	assert_string_equal(v, "");
	assert_true(cmdline_has(cl, "quiet"));

	assert_int_equal(parse(cl, "debug app=net nosmp"), 3);
	assert_string_equal(cmdline_get(cl, "debug"), "");
	assert_string_equal(cmdline_get(cl, "app"), "net");
	assert_string_equal(cmdline_get(cl, "nosmp"), "");
	assert_string_equal(cl->key[2], "nosmp");
}

static void test_quoted_value(void **state)
{
	struct cmdline *cl = *state;

	assert_int_equal(parse(cl, "app=shell motd=\"hi there\" x=1"), 3);
	assert_string_equal(cmdline_get(cl, "motd"), "hi there");
	assert_string_equal(cmdline_get(cl, "app"), "shell");
	assert_string_equal(cmdline_get(cl, "x"), "1");
	assert_string_equal(cl->key[1], "motd");

	/* Tabs, '=' and several spaces inside quotes are kept as they are. */
	assert_int_equal(parse(cl, "m=\"  a\tb=c  \""), 1);
	assert_string_equal(cmdline_get(cl, "m"), "  a\tb=c  ");

	/* Empty quotes, and a quoted value last. */
	assert_int_equal(parse(cl, "e=\"\" f=\"z\""), 2);
	assert_string_equal(cmdline_get(cl, "e"), "");
	assert_string_equal(cmdline_get(cl, "f"), "z");
}

static void test_whitespace(void **state)
{
	struct cmdline *cl = *state;

	assert_int_equal(parse(cl, "  \t a=1 \n\n b \r\n\t c=3\t\n"), 3);
	assert_string_equal(cl->key[0], "a");
	assert_string_equal(cl->value[0], "1");
	assert_string_equal(cl->key[1], "b");
	assert_string_equal(cl->value[1], "");
	assert_string_equal(cl->key[2], "c");
	assert_string_equal(cl->value[2], "3");
	/* A separator ends an unquoted value and a flag. */
	assert_int_equal(parse(cl, "a=1\tb\nc"), 3);
	assert_string_equal(cmdline_get(cl, "a"), "1");
	assert_true(cmdline_has(cl, "b"));
	assert_true(cmdline_has(cl, "c"));
}

static void test_last_wins(void **state)
{
	struct cmdline *cl = *state;

	assert_int_equal(parse(cl, "a=1 b=2 a=3"), 3);
	assert_string_equal(cmdline_get(cl, "a"), "3");
	assert_string_equal(cmdline_get(cl, "b"), "2");
	/* All occurrences are kept, in order. */
	assert_string_equal(cl->value[0], "1");
	assert_string_equal(cl->value[2], "3");

	/* A later bare flag overrides a value, and the other way round. */
	assert_int_equal(parse(cl, "a=1 a b a=\"x y\" b"), 5);
	assert_string_equal(cmdline_get(cl, "a"), "x y");
	assert_string_equal(cmdline_get(cl, "b"), "");
	assert_int_equal(parse(cl, "v=9 v"), 2);
	assert_string_equal(cmdline_get(cl, "v"), "");
}

static void test_has_and_missing(void **state)
{
	struct cmdline *cl = *state;

	assert_int_equal(parse(cl, "app=shell quiet net.ip=10.0.2.15"), 3);
	assert_true(cmdline_has(cl, "app"));
	assert_true(cmdline_has(cl, "quiet"));
	assert_true(cmdline_has(cl, "net.ip"));
	assert_false(cmdline_has(cl, "shell"));
	assert_false(cmdline_has(cl, "ap"));
	assert_false(cmdline_has(cl, "apps"));
	assert_false(cmdline_has(cl, "app=shell"));
	assert_false(cmdline_has(cl, "QUIET"));
	assert_false(cmdline_has(cl, ""));
	assert_null(cmdline_get(cl, "missing"));
	assert_null(cmdline_get(cl, "net"));
	assert_null(cmdline_get(cl, "app "));
	assert_string_equal(cmdline_get(cl, "net.ip"), "10.0.2.15");
}

static void test_value_with_equals(void **state)
{
	struct cmdline *cl = *state;

	assert_int_equal(parse(cl, "ip=a=b"), 1);
	assert_string_equal(cl->key[0], "ip");
	assert_string_equal(cmdline_get(cl, "ip"), "a=b");
	assert_null(cmdline_get(cl, "a"));

	assert_int_equal(parse(cl, "x==y z=== q=\"=\""), 3);
	assert_string_equal(cmdline_get(cl, "x"), "=y");
	assert_string_equal(cmdline_get(cl, "z"), "==");
	assert_string_equal(cmdline_get(cl, "q"), "=");
}

static void test_unterminated_quote(void **state)
{
	struct cmdline *cl = *state;

	parse_fails(cl, "a=\"abc", -EINVAL);
	parse_fails(cl, "a=\"", -EINVAL);
	parse_fails(cl, "a=\"hello world", -EINVAL);
	/* Earlier good words are thrown away too. */
	parse_fails(cl, "x=1 quiet y=\"z", -EINVAL);
	assert_null(cmdline_get(cl, "x"));
	assert_false(cmdline_has(cl, "quiet"));
	/* The parser is usable again afterwards. */
	assert_int_equal(parse(cl, "x=1"), 1);
	assert_string_equal(cmdline_get(cl, "x"), "1");
}

static void test_empty_key(void **state)
{
	struct cmdline *cl = *state;

	parse_fails(cl, "=x", -EINVAL);
	parse_fails(cl, "=", -EINVAL);
	parse_fails(cl, "=\"a b\"", -EINVAL);
	parse_fails(cl, "a=1 b =2", -EINVAL);
	assert_null(cmdline_get(cl, "a"));
	parse_fails(cl, "  =x  ", -EINVAL);
}

/* Build n words made by fmt(i) into s, separated by single spaces. */
static void build_words(char *s, size_t size, unsigned n, const char *fmt)
{
	size_t o = 0;

	for (unsigned i = 0; i < n; i++) {
		int w = snprintf(s + o, size - o, i ? " " : "");

		assert_true(w >= 0 && (size_t)w < size - o);
		o += (size_t)w;
		w = snprintf(s + o, size - o, fmt, i, i);
		assert_true(w >= 0 && (size_t)w < size - o);
		o += (size_t)w;
	}
}

static void test_too_many_words(void **state)
{
	struct cmdline *cl = *state;
	static char s[4096];
	char key[16];

	build_words(s, sizeof(s), CMDLINE_MAX_ARGS, "k%u=%u");
	assert_int_equal(parse(cl, s), CMDLINE_MAX_ARGS);
	for (unsigned i = 0; i < CMDLINE_MAX_ARGS; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		assert_string_equal(cl->key[i], key);
		assert_int_equal(atoi(cmdline_get(cl, key)), i);
	}

	build_words(s, sizeof(s), CMDLINE_MAX_ARGS + 1, "k%u=%u");
	parse_fails(cl, s, -E2BIG);
	assert_null(cmdline_get(cl, "k0"));

	/* Trailing blanks after the last allowed word are fine. */
	build_words(s, sizeof(s), CMDLINE_MAX_ARGS, "f%u");
	strcat(s, " \t \n");
	assert_int_equal(parse(cl, s), CMDLINE_MAX_ARGS);
	strcat(s, "x");
	parse_fails(cl, s, -E2BIG);
}

static void test_too_long(void **state)
{
	struct cmdline *cl = *state;
	static char s[CMDLINE_BUF + 2];

	/* CMDLINE_BUF - 1 characters is the most that is accepted. */
	memset(s, 'a', CMDLINE_BUF);
	s[CMDLINE_BUF] = '\0';
	parse_fails(cl, s, -E2BIG);
	s[CMDLINE_BUF + 1] = '\0';
	s[CMDLINE_BUF] = 'b';
	parse_fails(cl, s, -E2BIG);
	/* Also when most of it is blank. */
	memset(s, ' ', CMDLINE_BUF);
	s[0] = 'a';
	s[CMDLINE_BUF] = '\0';
	parse_fails(cl, s, -E2BIG);

	/* One word of CMDLINE_BUF - 1 characters fills the buffer exactly. */
	memset(s, 'a', CMDLINE_BUF - 1);
	s[CMDLINE_BUF - 1] = '\0';
	assert_int_equal(parse(cl, s), 1);
	assert_int_equal(strlen(cl->key[0]), CMDLINE_BUF - 1);
	assert_string_equal(cmdline_get(cl, s), "");

	/* The same length as key=value and as key="quoted value". */
	s[1] = '=';
	assert_int_equal(parse(cl, s), 1);
	assert_int_equal(strlen(cmdline_get(cl, "a")), CMDLINE_BUF - 3);
	s[2] = '"';
	s[CMDLINE_BUF - 2] = '"';
	assert_int_equal(parse(cl, s), 1);
	assert_int_equal(strlen(cmdline_get(cl, "a")), CMDLINE_BUF - 5);
}

/* A string of exactly CMDLINE_BUF - 1 characters: "a b c ..." repeated. */
static void fill_pattern(char *s, const char *unit)
{
	size_t u = strlen(unit);

	for (size_t i = 0; i < CMDLINE_BUF - 1; i++)
		s[i] = unit[i % u];
	s[CMDLINE_BUF - 1] = '\0';
}

static void test_full_length_many_words(void **state)
{
	struct cmdline *cl = *state;
	static char s[CMDLINE_BUF];

	/* Too many words for CMDLINE_MAX_ARGS: refused without overrunning. */
	fill_pattern(s, "a b c d e f g h ");
	assert_int_equal(strlen(s), CMDLINE_BUF - 1);
	parse_fails(cl, s, -E2BIG);
	fill_pattern(s, "a=b ");
	parse_fails(cl, s, -E2BIG);
	fill_pattern(s, "k=\"v w\" ");
	parse_fails(cl, s, -E2BIG);

	/*
	 * CMDLINE_MAX_ARGS words of 15 characters and single spaces make
	 * CMDLINE_BUF - 1 characters and need all CMDLINE_BUF bytes of buf.
	 */
	build_words(s, sizeof(s), CMDLINE_MAX_ARGS, "flag%02u_________");
	assert_int_equal(strlen(s), CMDLINE_BUF - 1);
	assert_int_equal(parse(cl, s), CMDLINE_MAX_ARGS);
	assert_string_equal(cl->key[0], "flag00_________");
	assert_string_equal(cl->key[CMDLINE_MAX_ARGS - 1], "flag63_________");
	assert_true(cmdline_has(cl, "flag63_________"));
	assert_string_equal(cmdline_get(cl, "flag31_________"), "");

	build_words(s, sizeof(s), CMDLINE_MAX_ARGS, "key%02u=val%02u____");
	assert_int_equal(strlen(s), CMDLINE_BUF - 1);
	assert_int_equal(parse(cl, s), CMDLINE_MAX_ARGS);
	assert_string_equal(cmdline_get(cl, "key00"), "val00____");
	assert_string_equal(cmdline_get(cl, "key63"), "val63____");
	assert_string_equal(cl->value[CMDLINE_MAX_ARGS - 1], "val63____");

	/* Quoted values with spaces. */
	build_words(s, sizeof(s), CMDLINE_MAX_ARGS, "q%02u=\"v%02u   x  \"");
	assert_int_equal(strlen(s), CMDLINE_BUF - 1);
	assert_int_equal(parse(cl, s), CMDLINE_MAX_ARGS);
	assert_string_equal(cmdline_get(cl, "q07"), "v07   x  ");
	assert_string_equal(cmdline_get(cl, "q63"), "v63   x  ");
}

int main(void)
{
	const struct CMUnitTest cmdline[] = {
		cmocka_unit_test_setup_teardown(test_null_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_key_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quoted_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whitespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_has_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_with_equals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unterminated_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_length_many_words, setup, teardown),
	};

	return cmocka_run_group_tests(cmdline, NULL, NULL);
}
