/*
 * test_config.c - Check suite for the main.cf reader (lib/mail/config.c,
 * config_expand.c, param_value.c): syntax, $name expansion in every
 * form Postfix has (the expected results were taken from postconf -x of
 * Postfix 3.7), typed validation, and malformed or hostile input.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/config.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

/* Load text as main.cf; returns the status, err holds the message. */
static int load(const char *text, struct buf *err)
{
	buf_reset(err);
	return config_load_buffer("main.cf", text, strlen(text), err);
}

/*
 * Expansion: main.cf has e (empty), v = val and w = $v!; mail_name is
 * set to expr and read back. (postconf prints values with runs of white
 * space folded to one, so white space was checked on its own.) want NULL means the load must fail with
 * err_has in the message.
 */
struct expand_case {
	const char *expr;
	const char *want;
	const char *err_has;
};

static const struct expand_case expand_cases[] = {
	{ .expr = "plain text", .want = "plain text" },
	{ .expr = "x$undefined y", .want = "x y" },
	{ .expr = "$v", .want = "val" },
	{ .expr = "${v}", .want = "val" },
	{ .expr = "$(v)", .want = "val" },
	{ .expr = "${ v }", .want = "val" },
	{ .expr = "$v.b|$v-|$v{a}", .want = "val.b|val-|val{a}" },
	{ .expr = "$$v|$$$v|$$", .want = "$v|$val|$" },
	{ .expr = "$w", .want = "val!" },
	{ .expr = "$1a", .want = "" },
	{ .expr = "${V}", .want = "" },
	{ .expr = "${v?yes}|${e?yes}|${undefined?yes}", .want = "yes||" },
	{ .expr = "${v:no}|${e:no}|${undefined:no}", .want = "|no|no" },
	{ .expr = "${v?{x}:{y}}|${e?{x}:{y}}", .want = "x|y" },
	{ .expr = "${v?$v and ${e:E}}", .want = "val and E" },
	{ .expr = "${v?{x}}", .want = "x" },
	{ .expr = "${v?x y z}", .want = "x y z" },
	{ .expr = "${v:}|${v?}", .want = "|" },
	{ .expr = "${v?a}b}", .want = "ab}" },
	{ .expr = "${v?(a)}|$(v?(a))", .want = "(a)|(a)" },
	{ .expr = "${v?{a}:b}|${e?{a}:b}", .want = "a|b" },
	{ .expr = "${v?{ a }}|${v?{a} }", .want = " a |a" },
	{ .expr = "${v:{a}}|${e:{a}}", .want = "|a" },
	{ .expr = "${e?{a}:{b}}x", .want = "bx" },
	{ .expr = "${?x}", .want = "" },
	{ .expr = "${v?{a}: {b}}|${e?{a} : {b}}", .want = "a|b" },
	{ .expr = "${v?a:b}|${e:a:b}", .want = "a:b|a:b" },
	{ .expr = "${v ?x}|${ v ?{a}}", .want = "x|a" },
	{ .expr = "${v?{a{b}c}}|${v?{a$v}}|${v?{a}}}", .want = "a{b}c|aval|a}" },
	{ .expr = "${v?{$$}}|${v?$$x}|${e?{}:{$v}}", .want = "$|$x|val" },
	{ .expr = "$(v?{a}:{b})|${v?{a}:{b}}}|${v?x{y}z}", .want = "a|a}|x{y}z" },
	{ .expr = "${v? x }|${e:  x }|", .want = " x |  x |" },
	{ .expr = "${v?{a}:  b }|${e?{a}:  b }|", .want = "a|  b |" },
	/* Postfix 3's relational expressions. */
	{ .expr = "[${{1} == {1} ? {a} : {b}}][${{a} == {b} ? {x} : {y}}]", .want = "[a][y]" },
	{ .expr = "[${{2} < {10} ? {x} : {y}}][${{a} < {b} ? {x} : {y}}]", .want = "[x][x]" },
	{ .expr = "[${{1} == {1} ? {a}}][${{1} != {1} ? {a}}][${{1} == {1} : {b}}]", .want = "[a][][]" },
	{ .expr = "[${{$v} == {val}?{x}:{y}}][${{ 1 } == {1} ? {a} : {b}}]", .want = "[x][b]" },
	{ .expr = "[${{3.6} <level {3.10} ? {a} : {b}}][${{3} <level {3.0} ? {a} : {b}}]", .want = "[a][b]" },
	{ .expr = "[${{1}=={1}?{a}:{b}}][${{1} == {1} ? a : b}]", .want = "[a][ a : b]" },
	{ .expr = "[${{1} >= {1} ? {a} : {b}}][${{1} <= {0} ? {a} : {b}}][${{-1} < {0} ? {a} : {b}}]",
	  .want = "[a][b][a]" },
	{ .expr = "[${{1} == {1}}][${{1} != {1}}][${{} == {} ? {a} : {b}}]", .want = "[true][][a]" },
	{ .expr = "[${{10} > {9} ? {a} : {b}}][${{b} > {a} ? {a} : {b}}]", .want = "[a][a]" },
	/* The ?/: test looks at the value as written: x = $e is not empty. */
	{ .expr = "${x?yes}|${x:no}|[$x]", .want = "yes||[]" },
	/* Errors, each with Postfix's reason. */
	{ .expr = "end$", .err_has = "empty macro name" },
	{ .expr = "a$ b", .err_has = "empty macro name" },
	{ .expr = "a$-b", .err_has = "empty macro name" },
	{ .expr = "$v$", .err_has = "empty macro name" },
	{ .expr = "${}", .err_has = "empty macro name" },
	{ .expr = "${v", .err_has = "truncated macro reference" },
	{ .expr = "${v?{x}", .err_has = "truncated macro reference" },
	{ .expr = "$(v", .err_has = "truncated macro reference" },
	{ .expr = "${v)", .err_has = "truncated macro reference" },
	{ .expr = "$(v}", .err_has = "truncated macro reference" },
	{ .expr = "${v#x}", .err_has = "syntax error" },
	{ .expr = "${v x}", .err_has = "syntax error" },
	{ .expr = "${v-x}", .err_has = "syntax error" },
	{ .expr = "${v?{a}:{b}:{c}}", .err_has = "unexpected input" },
	{ .expr = "${v:{a}:{b}}", .err_has = "unexpected input" },
	{ .expr = "${v?{a}junk}", .err_has = "\":\" expected" },
	{ .expr = "${v?{a}{b}}", .err_has = "\":\" expected" },
	{ .expr = "${{x} <level {3} ? {a} : {b}}", .err_has = "compatibility level" },
	{ .expr = "${{1} === {1} ? {a} : {b}}", .err_has = "\"==\" or \"!=\"" },
	{ .expr = "${{1} == 1 ? {a} : {b}}", .err_has = "\"{expression}\" expected" },
	{ .expr = "${{1} == {1} ? {a} : {b} x}", .err_has = "unexpected input" },
	{ .expr = "${{1} == {1} ? {a} x}", .err_has = "\":\" expected" },
	{ .expr = "${{1} == {1", .err_has = "truncated" },
	{ .expr = "$mail_name", .err_has = "refers to itself" },
	{ .expr = "$loop1", .err_has = "refers to itself" },
	{ .expr = "${loop1?{x}:{y}}$loop2", .err_has = "refers to itself" },
};

START_TEST(test_expand)
{
	const struct expand_case *c = &expand_cases[_i];
	struct buf text = BUF_INIT, err = BUF_INIT;

	buf_printf(&text, "e =\nv = val\nw = $v!\nx = $e\nloop1 = a$loop2\nloop2 = ${loop1}\n"
		   "mail_name = %s\n", c->expr);
	int rc = config_load_buffer("main.cf", text.data, text.len, &err);
	if (c->want != NULL) {
		ck_assert_msg(rc == 0, "%s: %s", c->expr, buf_str(&err));
		ck_assert_str_eq(cfg_str("mail_name"), c->want);
		ck_assert_str_eq(cfg_raw("mail_name"), c->expr);
	} else {
		ck_assert_msg(rc < 0, "%s: loaded as %s", c->expr, cfg_str("mail_name"));
		ck_assert_msg(strstr(buf_str(&err), c->err_has) != NULL, "%s: %s", c->expr,
			      buf_str(&err));
		ck_assert_msg(strstr(buf_str(&err), "main.cf, line 7: parameter mail_name: bad value")
			      == buf_str(&err), "%s", buf_str(&err));
		ck_assert_ptr_null(strchr(buf_str(&err), '\n'));
	}
	buf_free(&text);
	buf_free(&err);
}
END_TEST

/* Syntax of main.cf itself. */
struct syntax_case {
	const char *text;
	const char *param;	/* read back */
	const char *want;	/* NULL: the load fails */
	const char *err;	/* exact message when it fails */
};

static const struct syntax_case syntax_cases[] = {
	{ .text = "", .param = "relayhost", .want = "" },
	{ .text = "relayhost = [r]", .param = "relayhost", .want = "[r]" },
	{ .text = "relayhost=[r]   \r\n", .param = "relayhost", .want = "[r]" },
	{ .text = "  relayhost = a\nmail_name = z\n", .param = "relayhost", .want = "" },
	{ .text = "mail_name = a\n   b\n\tc\n", .param = "mail_name", .want = "a b c" },
	{ .text = "mail_name = a\n# comment\n   b\n", .param = "mail_name", .want = "a b" },
	{ .text = "mail_name = a\n\n   b\n", .param = "mail_name", .want = "a b" },
	{ .text = "mail_name = a\n  # still a comment\n", .param = "mail_name", .want = "a" },
	{ .text = "mail_name =\n", .param = "mail_name", .want = "" },
	{ .text = "mail_name =x=y\n", .param = "mail_name", .want = "x=y" },
	{ .text = "mail_name = a\nmail_name = b\n", .param = "mail_name", .want = "b" },
	{ .text = "# only\n\n\t\n", .param = "mail_name", .want = "Tern" },
	{ .text = "mail_name = $myhostname", .param = "mail_name", .want = NULL, .err = NULL },
	{ .text = "x\n", .want = NULL, .err = "main.cf, line 1: missing '=' after parameter name: \"x\"" },
	{ .text = "# c\na b = c\n", .want = NULL,
	  .err = "main.cf, line 2: missing '=' after parameter name: \"a b = c\"" },
	{ .text = "=x\n", .want = NULL, .err = "main.cf, line 1: missing parameter name: \"=x\"" },
	{ .text = "foo-bar = x\n", .want = NULL,
	  .err = "main.cf, line 1: bad parameter name (letters, digits and _ only): \"foo-bar = x\"" },
	{ .text = "mail_name = a\n   b\nrelay host\n", .want = NULL,
	  .err = "main.cf, line 3: missing '=' after parameter name: \"relay host\"" },
	{ .text = "smtpd_timeout = 5y\n", .want = NULL,
	  .err = "main.cf, line 1: parameter smtpd_timeout: bad value \"5y\": expected a time "
		 "(a number with unit s, m, h, d or w; default s) from 1s to 100d" },
	{ .text = "biff = maybe\n", .want = NULL,
	  .err = "main.cf, line 1: parameter biff: bad value \"maybe\": expected yes or no" },
	{ .text = "a = 1\n\n# c\nsmtpd_recipient_limit = 0\n", .want = NULL,
	  .err = "main.cf, line 4: parameter smtpd_recipient_limit: bad value \"0\": expected "
		 "an integer from 1 to 100000000" },
	{ .text = "message_size_limit = 10k\n", .want = NULL,
	  .err = "main.cf, line 1: parameter message_size_limit: bad value \"10k\": expected a "
		 "size in bytes from 0 to 1125899906842624" },
	{ .text = "inet_protocols = ipv4, ipx\n", .want = NULL,
	  .err = "main.cf, line 1: parameter inet_protocols: bad value \"ipv4, ipx\": expected a "
		 "list of: all ipv4 ipv6" },
	{ .text = "smtpd_tls_security_level = maybe\n", .want = NULL,
	  .err = "main.cf, line 1: parameter smtpd_tls_security_level: bad value \"maybe\": "
		 "expected one of: none may encrypt" },
	{ .text = "alias_maps = nis:mail.aliases\n", .want = NULL,
	  .err = "main.cf, line 1: parameter alias_maps: bad value \"nis:mail.aliases\": expected "
		 "a list of type:name maps, types hash, btree, texthash, regexp, inline:{...} or static" },
	{ .text = "virtual_alias_maps = pcre:/etc/tern/v\n", .want = NULL,
	  .err = "main.cf, line 1: parameter virtual_alias_maps: bad value \"pcre:/etc/tern/v\": "
		 "expected regexp: instead of pcre: (Tern has no PCRE; regexp: reads the same file format "
		 "with POSIX regular expressions)" },
	{ .text = "# x\nvirtual_alias_maps = hash:/etc/v, hash:run/maps\n", .want = NULL,
	  .err = "main.cf, line 2: parameter virtual_alias_maps: bad value \"hash:/etc/v, hash:run/maps\": "
		 "expected an absolute file name in each type:name map (run/maps is relative, "
		 "and the daemons run in queue_directory)" },
	/* Control characters in a value are shown escaped, still one line. */
	{ .text = "biff = a\tb\n", .want = NULL,
	  .err = "main.cf, line 1: parameter biff: bad value \"a\\x09b\": expected yes or no" },
};

START_TEST(test_syntax)
{
	const struct syntax_case *c = &syntax_cases[_i];
	struct buf err = BUF_INIT;
	int rc = load(c->text, &err);

	if (c->param != NULL && (c->want != NULL || c->err != NULL)) {
		ck_assert_msg(rc == 0, "%s: %s", c->text, buf_str(&err));
		ck_assert_str_eq(cfg_str(c->param), c->want);
	} else if (c->want != NULL) {
		ck_assert_msg(rc == 0, "%s: %s", c->text, buf_str(&err));
	} else if (c->err != NULL) {
		ck_assert_int_lt(rc, 0);
		ck_assert_str_eq(buf_str(&err), c->err);
	} else {
		ck_assert_int_eq(rc, 0);	/* "$myhostname" must load */
	}
	buf_free(&err);
}
END_TEST

/* Values of each type, with the number the program reads. */
struct typed_case {
	const char *param;
	const char *value;
	bool ok;
	long long num;		/* cfg_int (or cfg_bool) when ok */
};

static const struct typed_case typed_cases[] = {
	{ "biff", "yes", true, 1 },
	{ "biff", "NO", true, 0 },
	{ "biff", "", false, 0 },
	{ "biff", "1", false, 0 },
	{ "smtpd_recipient_limit", "1", true, 1 },
	{ "smtpd_recipient_limit", "100000000", true, 100000000 },
	{ "smtpd_recipient_limit", "100000001", false, 0 },
	{ "smtpd_recipient_limit", "-5", false, 0 },
	{ "smtpd_recipient_limit", "12abc", false, 0 },
	{ "smtpd_recipient_limit", "99999999999999999999999", false, 0 },
	{ "milter_protocol", "6", true, 6 },
	{ "milter_protocol", "7", false, 0 },
	{ "queue_run_delay", "300", true, 300 },
	{ "queue_run_delay", "300s", true, 300 },
	{ "queue_run_delay", "5m", true, 300 },
	{ "queue_run_delay", "2h", true, 7200 },
	{ "maximal_queue_lifetime", "5", true, 5 * 86400 },	/* default unit d */
	{ "maximal_queue_lifetime", "1w", true, 7 * 86400 },
	{ "delay_warning_time", "4", true, 4 * 3600 },		/* default unit h */
	{ "delay_warning_time", "0", true, 0 },
	{ "queue_run_delay", "0s", false, 0 },
	{ "queue_run_delay", "5x", false, 0 },
	{ "queue_run_delay", "5ms", false, 0 },
	{ "queue_run_delay", "-5s", false, 0 },
	{ "queue_run_delay", "s", false, 0 },
	{ "queue_run_delay", "99999999999999999w", false, 0 },
	{ "message_size_limit", "0", true, 0 },
	{ "message_size_limit", "20480000", true, 20480000 },
	{ "message_size_limit", "10M", false, 0 },
	{ "message_size_limit", "-1", false, 0 },
	{ "mailbox_delivery_lock", "fcntl, dotlock", true, 0 },
	{ "mailbox_delivery_lock", "flock", true, 0 },
	{ "mailbox_delivery_lock", "fcntl, lockf", false, 0 },
	{ "mailq_format", "postfix", true, 0 },
	{ "mailq_format", "exim", false, 0 },
	{ "mailq_format", "", false, 0 },
	{ "smtpd_tls_security_level", "", true, 0 },
	{ "virtual_alias_maps", "hash:/etc/tern/virtual", true, 0 },
	{ "virtual_alias_maps", "hash:/a, btree:/b texthash:/c static:x", true, 0 },
	{ "virtual_alias_maps", "inline:{ a=b, c=d }", true, 0 },
	{ "virtual_alias_maps", "inline:a=b", false, 0 },
	{ "virtual_alias_maps", "/etc/tern/virtual", false, 0 },
	{ "virtual_alias_maps", "hash:", false, 0 },
	{ "virtual_alias_maps", ":x", false, 0 },
	{ "virtual_alias_maps", "ldap:/etc/x", false, 0 },
	{ "virtual_alias_maps", "regexp:/etc/tern/virtual_regexp", true, 0 },
	{ "virtual_alias_maps", "regexp:virtual_regexp", false, 0 },
	{ "virtual_alias_maps", "regexp:{ {/^a/ b}, {/c/ d} }", true, 0 },
	{ "virtual_alias_maps", "pcre:/etc/tern/virtual_pcre", false, 0 },
	{ "virtual_alias_maps", "", true, 0 },
	/* Relative table files: daemons run in queue_directory and would never find them. */
	{ "virtual_alias_maps", "hash:run/maps", false, 0 },
	{ "alias_maps", "hash:/etc/aliases, texthash:aliases", false, 0 },
	{ "smtpd_recipient_restrictions", "check_recipient_access hash:run/x, reject", false, 0 },
	{ "smtpd_client_restrictions", "check_client_access btree:access", false, 0 },
	{ "smtpd_client_restrictions", "check_client_access texthash:./access", false, 0 },
	{ "smtpd_recipient_restrictions", "check_recipient_access hash:/etc/x, reject", true, 0 },
	{ "smtpd_client_restrictions", "check_client_access inline:{ 1.2.3.4=REJECT }", true, 0 },
};

START_TEST(test_typed)
{
	const struct typed_case *c = &typed_cases[_i];
	struct buf text = BUF_INIT, err = BUF_INIT;

	buf_printf(&text, "%s = %s\n", c->param, c->value);
	int rc = config_load_buffer("main.cf", text.data, text.len, &err);
	ck_assert_msg((rc == 0) == c->ok, "%s = %s: %s", c->param, c->value, buf_str(&err));
	if (c->ok) {
		const struct param_def *p = param_find(c->param);
		if (p->type == PARAM_BOOL)
			ck_assert_int_eq(cfg_bool(c->param), c->num);
		else if (p->type == PARAM_INT || p->type == PARAM_TIME || p->type == PARAM_SIZE)
			ck_assert_int_eq(cfg_int(c->param), c->num);
	} else {
		char *want = xasprintf("main.cf, line 1: parameter %s: bad value \"", c->param);
		ck_assert_msg(strncmp(buf_str(&err), want, strlen(want)) == 0, "%s", buf_str(&err));
		ck_assert_ptr_nonnull(strstr(buf_str(&err), "\": expected "));
		free(want);
	}
	buf_free(&text);
	buf_free(&err);
}
END_TEST

/* Lists split on commas and white space, {...} groups whole. */
START_TEST(test_lists)
{
	struct buf err = BUF_INIT;
	ck_assert_int_eq(load("mynetworks = 10.0.0.0/8,,192.0.2.1 ,\n\t[::1]/128\n"
			      "smtpd_recipient_restrictions = check_client_access inline:{ 1.2.3.4=REJECT, "
			      "5.6.7.8 = OK }, permit\n", &err), 0);
	char **l = cfg_list("mynetworks");
	ck_assert_str_eq(l[0], "10.0.0.0/8");
	ck_assert_str_eq(l[1], "192.0.2.1");
	ck_assert_str_eq(l[2], "[::1]/128");
	ck_assert_ptr_null(l[3]);
	l = cfg_list("smtpd_recipient_restrictions");
	ck_assert_str_eq(l[0], "check_client_access");
	ck_assert_str_eq(l[1], "inline:{ 1.2.3.4=REJECT, 5.6.7.8 = OK }");
	ck_assert_str_eq(l[2], "permit");
	ck_assert_ptr_null(l[3]);
	/* Defaults split too; an empty list is just the terminator. */
	l = cfg_list("mydestination");
	ck_assert_str_eq(l[0], cfg_str("myhostname"));
	ck_assert_ptr_null(cfg_list("relay_domains")[0]);
	/* An unbalanced { swallows the rest instead of reading past the end. */
	char **u = config_split_list("a {b, c");
	ck_assert_str_eq(u[0], "a");
	ck_assert_str_eq(u[1], "{b, c");
	ck_assert_ptr_null(u[2]);
	config_free_list(u);
	buf_free(&err);
}
END_TEST

/* Hostile input: never a crash, never unbounded work; errors are errors. */
START_TEST(test_hostile)
{
	struct buf text = BUF_INIT, err = BUF_INIT;

	/* A NUL byte in a line. */
	static const char nul[] = "relayhost = a\0b\n";
	ck_assert_int_lt(config_load_buffer("main.cf", nul, sizeof(nul) - 1, &err), 0);
	ck_assert_str_eq(buf_str(&err), "main.cf, line 1: NUL byte in line");

	/* A very long line and a very long value load and read back whole. */
	buf_reset(&text);
	buf_adds(&text, "mail_name = ");
	for (int i = 0; i < 1 << 20; i++)
		buf_addc(&text, (char)('a' + i % 26));
	buf_adds(&text, "\n");
	ck_assert_int_eq(config_load_buffer("main.cf", text.data, text.len, &err), 0);
	ck_assert_uint_eq(strlen(cfg_str("mail_name")), 1u << 20);

	/* A chain deeper than Postfix's nesting limit. */
	buf_reset(&text);
	for (int i = 0; i < 150; i++)
		buf_printf(&text, "p%d = $p%d\n", i, i + 1);
	buf_adds(&text, "mail_name = $p0\n");
	ck_assert_int_lt(config_load_buffer("main.cf", text.data, text.len, &err), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "nesting"));

	/* Exponential growth: 2^60 copies must stop at a bound, quickly. */
	buf_reset(&text);
	for (int i = 0; i < 60; i++)
		buf_printf(&text, "b%d = $b%d$b%d\n", i, i + 1, i + 1);
	buf_adds(&text, "b60 = xxxxxxxxxxxxxxxx\nmail_name = $b0\n");
	ck_assert_int_lt(config_load_buffer("main.cf", text.data, text.len, &err), 0);
	ck_assert_msg(strstr(buf_str(&err), "too long") || strstr(buf_str(&err), "too complex"),
		      "%s", buf_str(&err));
	/* The same with empty values: no output, but the work is bounded. */
	buf_reset(&text);
	for (int i = 0; i < 60; i++)
		buf_printf(&text, "c%d = $c%d$c%d\n", i, i + 1, i + 1);
	buf_adds(&text, "c60 =\nmail_name = $c0\n");
	ck_assert_int_lt(config_load_buffer("main.cf", text.data, text.len, &err), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "too complex"));

	/* Deeply nested conditionals in one value. */
	buf_reset(&text);
	buf_adds(&text, "v = 1\nmail_name = ");
	for (int i = 0; i < 5000; i++)
		buf_adds(&text, "${v?{");
	for (int i = 0; i < 5000; i++)
		buf_adds(&text, "}}");
	buf_adds(&text, "\n");
	ck_assert_int_lt(config_load_buffer("main.cf", text.data, text.len, &err), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "nesting"));

	/* A reference to a name longer than any parameter may be. */
	buf_reset(&text);
	buf_adds(&text, "mail_name = $");
	for (int i = 0; i < 1000; i++)
		buf_addc(&text, 'n');
	buf_adds(&text, "\n");
	ck_assert_int_lt(config_load_buffer("main.cf", text.data, text.len, &err), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "too long"));

	/* Many settings, many duplicates: last wins. */
	buf_reset(&text);
	for (int i = 0; i < 20000; i++)
		buf_printf(&text, "mail_name = n%d\nuser%d = x\n", i, i % 100);
	ck_assert_int_eq(config_load_buffer("main.cf", text.data, text.len, &err), 0);
	ck_assert_str_eq(cfg_str("mail_name"), "n19999");

	/* A continuation line with nothing before it, only white space. */
	ck_assert_int_eq(load("   \n\t\n  x = y\n", &err), 0);
	ck_assert_int_eq(cfg_is_set("x"), 0);
	buf_free(&text);
	buf_free(&err);
}
END_TEST

START_TEST(test_set_and_raw)
{
	struct buf err = BUF_INIT;
	ck_assert_int_eq(load("myhostname = mx.example.org\nfoo = bar\n", &err), 0);
	ck_assert(cfg_is_set("myhostname"));
	ck_assert(!cfg_is_set("myorigin"));
	ck_assert_uint_eq(cfg_line("foo"), 2);
	ck_assert_str_eq(cfg_raw("myorigin"), "$myhostname");
	ck_assert_str_eq(cfg_str("myorigin"), "mx.example.org");
	ck_assert_str_eq(cfg_str("mydomain"), "example.org");
	ck_assert_str_eq(cfg_str("mydestination"), "mx.example.org, localhost.example.org, localhost");
	ck_assert_str_eq(cfg_str("foo"), "bar");
	ck_assert_str_eq(cfg_str("not_defined_anywhere"), "");

	const char *before = cfg_str("myorigin");
	ck_assert_int_eq(cfg_set("myorigin", "example.net", &err), 0);
	ck_assert_str_eq(cfg_str("myorigin"), "example.net");
	ck_assert_str_eq(before, "mx.example.org");	/* still valid after cfg_set */
	ck_assert_int_eq(cfg_set("myhostname", "other.example.com", &err), 0);
	ck_assert_str_eq(cfg_str("mydomain"), "example.com");
	ck_assert_str_eq(cfg_str("smtpd_banner"), "other.example.com ESMTP Tern");

	ck_assert_int_lt(cfg_set("smtpd_timeout", "forever", &err), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "parameter smtpd_timeout: bad value \"forever\""));
	ck_assert_int_eq(cfg_int("smtpd_timeout"), 300);	/* unchanged */
	ck_assert_int_lt(cfg_set("bad name", "x", &err), 0);
	ck_assert_int_eq(cfg_set("smtpd_timeout", "1m", &err), 0);
	ck_assert_int_eq(cfg_int("smtpd_timeout"), 60);

	const char *const *names = cfg_set_names();
	ck_assert_str_eq(names[0], "foo");
	ck_assert_str_eq(names[1], "myhostname");
	ck_assert_str_eq(names[2], "myorigin");
	ck_assert_str_eq(names[3], "smtpd_timeout");
	ck_assert_ptr_null(names[4]);
	buf_free(&err);
}
END_TEST

/* Computed defaults follow what main.cf sets, as in Postfix. */
START_TEST(test_computed)
{
	struct buf err = BUF_INIT;
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);

	ck_assert_int_eq(load("", &err), 0);
	const char *h = cfg_str("myhostname");
	ck_assert_ptr_nonnull(strchr(h, '.'));
	ck_assert_str_eq(cfg_str("mydomain"), strchr(h, '.') + 1);
	ck_assert_str_eq(cfg_str("myorigin"), h);
	if (strchr(host, '.') == NULL) {
		char *want = xasprintf("%s.localdomain", host);
		ck_assert_str_eq(h, want);
		free(want);
		ck_assert_int_eq(load("mydomain = example.org\n", &err), 0);
		want = xasprintf("%s.example.org", host);
		ck_assert_str_eq(cfg_str("myhostname"), want);
		free(want);
		/* mydomain = $myhostname would be a loop: an error, not a hang. */
		ck_assert_int_lt(load("mydomain = $myhostname\n", &err), 0);
		ck_assert_ptr_nonnull(strstr(buf_str(&err), "refers to itself"));
	}
	ck_assert_int_eq(load("myhostname = single\n", &err), 0);
	ck_assert_str_eq(cfg_str("mydomain"), "localdomain");
	buf_free(&err);
}
END_TEST

static int vars(void *ctx, const char *name, const char **value)
{
	(void)ctx;
	if (strcmp(name, "home") == 0) {
		*value = "/home/u$x";	/* literal: never expanded again */
		return 1;
	}
	if (strcmp(name, "extension") == 0) {
		*value = "tag";
		return 1;
	}
	return 0;
}

START_TEST(test_expand_vars)
{
	struct buf err = BUF_INIT, out = BUF_INIT;
	ck_assert_int_eq(load("recipient_delimiter = +\n", &err), 0);
	/* forward_path is read as written, for the delivery agent to expand. */
	ck_assert_str_eq(cfg_str("forward_path"),
			 "$home/.forward${recipient_delimiter}${extension}, $home/.forward");
	ck_assert_int_eq(config_expand_vars(cfg_str("forward_path"), vars, NULL, &out, &err), 0);
	ck_assert_str_eq(buf_str(&out), "/home/u$x/.forward+tag, /home/u$x/.forward");
	buf_reset(&out);
	ck_assert_int_lt(config_expand_vars("${home", vars, NULL, &out, &err), 0);
	buf_reset(&out);
	config_expand("$recipient_delimiter$mail_name", &out);
	ck_assert_str_eq(buf_str(&out), "+Tern");
	buf_reset(&out);
	config_expand("bad ${", &out);	/* kept as written */
	ck_assert_str_eq(buf_str(&out), "bad ${");
	buf_reset(&out);
	ck_assert_int_lt(config_expand_checked("bad ${", &out, &err), 0);
	buf_free(&out);
	buf_free(&err);
}
END_TEST

/* Unknown names warn with file and line; names used in $references do not. */
START_TEST(test_unknown_warnings)
{
	char logpath[] = "/tmp/test_config_log.XXXXXX";
	int fd = mkstemp(logpath);
	ck_assert_int_ge(fd, 0);
	close(fd);
	log_init("test", LOG_TO_FILE);
	log_set_file(logpath);

	struct buf err = BUF_INIT;
	/* The defaults alone refer to nothing undefined: no warning at all. */
	ck_assert_int_eq(load("", &err), 0);
	struct stat st;
	ck_assert_int_eq(stat(logpath, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	ck_assert_int_eq(load("used = x\nmyorigin = $used\nstray_name = y\n"
			      "smtpd_banner = $myhostnme ESMTP\n", &err), 0);
	log_set_file(NULL);
	log_init("test_config", 0);

	char text[4096] = "";
	FILE *f = fopen(logpath, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(logpath);
	ck_assert_msg(strstr(text, "warning: main.cf, line 3: unknown parameter: stray_name"), "%s", text);
	ck_assert_msg(strstr(text, "unknown parameter: used") == NULL, "%s", text);
	ck_assert_msg(strstr(text, "warning: main.cf, line 4: parameter smtpd_banner: undefined "
			      "parameter: myhostnme"), "%s", text);
	buf_free(&err);
}
END_TEST

/* config_load: directory choice, missing file, a real file. */
START_TEST(test_load_dir)
{
	char dir[] = "/tmp/test_config.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	struct buf err = BUF_INIT;

	ck_assert_int_lt(config_load(dir, false, &err), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "main.cf"));
	buf_reset(&err);
	ck_assert_int_eq(config_load(dir, true, &err), 0);
	ck_assert_str_eq(config_dir(), dir);

	char *path = xasprintf("%s/main.cf", dir);
	FILE *f = fopen(path, "w");
	fputs("# test\nmail_name = FromFile\nsmtpd_timeout = 9\n", f);
	fclose(f);
	setenv("TERN_CONFIG_DIR", dir, 1);
	ck_assert_str_eq(config_default_dir(), dir);
	ck_assert_str_ne(config_builtin_dir(), dir);
	ck_assert_int_eq(config_load(NULL, false, &err), 0);
	unsetenv("TERN_CONFIG_DIR");
	ck_assert_str_eq(config_file(), path);
	ck_assert_str_eq(cfg_str("mail_name"), "FromFile");
	ck_assert_str_eq(cfg_str("config_directory"), dir);
	ck_assert_int_eq(cfg_int("smtpd_timeout"), 9);

	f = fopen(path, "w");
	fputs("# test\n\nsmtpd_timeout = 9 days\n", f);
	fclose(f);
	ck_assert_int_lt(config_load(dir, false, &err), 0);
	char *want = xasprintf("%s, line 3: parameter smtpd_timeout: bad value \"9 days\": expected", path);
	ck_assert_msg(strncmp(buf_str(&err), want, strlen(want)) == 0, "%s", buf_str(&err));
	free(want);

	/* Not a regular file (a FIFO would block a reader forever). */
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	buf_reset(&err);
	ck_assert_int_lt(config_load(dir, false, &err), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "not a regular file"));
	unlink(path);

	/* Larger than any real main.cf: refused, not read into memory whole. */
	f = fopen(path, "w");
	ck_assert_int_eq(ftruncate(fileno(f), 17 << 20), 0);
	fclose(f);
	buf_reset(&err);
	ck_assert_int_lt(config_load(dir, false, &err), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "larger than"));

	unlink(path);
	free(path);
	rmdir(dir);
	buf_free(&err);
}
END_TEST

/*
 * cfg_bool and cfg_int keep the parsed value per row: a second load
 * (ternconf, tests, a program that loads another directory) and a
 * cfg_set are still seen, and so are both readings of one row.
 */
START_TEST(test_parsed_cache)
{
	struct buf err = BUF_INIT;
	ck_assert_int_eq(load("biff = yes\nsmtpd_timeout = 10s\nmessage_size_limit = 1000\n", &err), 0);
	ck_assert(cfg_bool(P_biff));
	ck_assert(cfg_bool(P_biff));
	ck_assert_int_eq(cfg_int(P_smtpd_timeout), 10);
	ck_assert_int_eq(cfg_int(P_message_size_limit), 1000);

	ck_assert_int_eq(load("biff = no\nsmtpd_timeout = 2m\n", &err), 0);
	ck_assert(!cfg_bool(P_biff));
	ck_assert_int_eq(cfg_int(P_smtpd_timeout), 120);
	ck_assert_int_eq(cfg_int(P_message_size_limit), 10240000);	/* the default again */

	ck_assert_int_eq(cfg_set("biff", "yes", &err), 0);
	ck_assert_int_eq(cfg_set("smtpd_timeout", "1h", &err), 0);
	ck_assert(cfg_bool(P_biff));
	ck_assert_int_eq(cfg_int(P_smtpd_timeout), 3600);
	/* The same row read as a number after a boolean: parsed as a number. */
	ck_assert_int_eq(load("biff = no\n", &err), 0);
	ck_assert(!cfg_bool(P_biff));
	ck_assert_int_eq(cfg_int(P_biff), 0);
	ck_assert(!cfg_bool(P_biff));
	/* A row whose two readings differ: a stale cache of either shows. */
	ck_assert_int_eq(load("message_size_limit = 1000\n", &err), 0);
	ck_assert(!cfg_bool(P_message_size_limit));
	ck_assert_int_eq(cfg_int(P_message_size_limit), 1000);
	ck_assert(!cfg_bool(P_message_size_limit));
	ck_assert_int_eq(cfg_int(P_message_size_limit), 1000);
	buf_free(&err);
}
END_TEST

/*
 * config_set_lazy_defaults (sendmail -t's loads): far fewer values
 * checked at load, every value read the same as after a full load, a
 * bad value main.cf sets still an error of the load.
 */
START_TEST(test_lazy_defaults)
{
	static const char text[] = "myhostname = mx.example.org\n"
				   "smtpd_banner = $myhostname ESMTP hello\n"
				   "message_size_limit = 1000\n"
				   "queue_directory = /var/spool/elsewhere\n";
	struct buf err = BUF_INIT;
	char **full = xcalloc(param_count, sizeof(*full));

	ck_assert_int_eq(load(text, &err), 0);
	unsigned all = config_checked_count();
	ck_assert_uint_eq(all, param_count);
	for (unsigned i = 0; i < param_count; i++)
		full[i] = xstrdup(cfg_str(param_name(&param_table[i])));

	config_set_lazy_defaults(true);
	ck_assert_int_eq(load(text, &err), 0);
	unsigned lazy = config_checked_count();
	ck_assert_msg(lazy >= 4 && lazy < all / 2, "lazy load checked %u of %u", lazy, all);
	for (unsigned i = 0; i < param_count; i++) {
		const char *name = param_name(&param_table[i]);
		ck_assert_msg(strcmp(cfg_str(name), full[i]) == 0, "%s: \"%s\" against \"%s\"",
			      name, cfg_str(name), full[i]);
	}
	ck_assert_int_eq(cfg_int(P_message_size_limit), 1000);
	ck_assert_int_lt(load("message_size_limit = lots\n", &err), 0);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "message_size_limit"));
	/*
	 * Checked at load: what main.cf sets (4) and every default that is
	 * computed or refers to other parameters (and config_directory's,
	 * which is the directory loaded).
	 */
	ck_assert_int_eq(load(text, &err), 0);
	unsigned want = 4;
	for (unsigned i = 0; i < param_count; i++) {
		const struct param_def *p = &param_table[i];
		const char *name = param_name(p), *def = param_default_text(p);
		bool set = strcmp(name, P_myhostname) == 0 || strcmp(name, P_smtpd_banner) == 0 ||
			   strcmp(name, P_message_size_limit) == 0 || strcmp(name, P_queue_directory) == 0;
		if (!set && (def == NULL || strchr(def, '$') != NULL))
			want++;
	}
	ck_assert_uint_ge(config_checked_count(), want);
	ck_assert_uint_le(config_checked_count(), want + 1);
	config_set_lazy_defaults(false);

	for (unsigned i = 0; i < param_count; i++)
		free(full[i]);
	free(full);
	buf_free(&err);
}
END_TEST

int main(void)
{
	log_init("test_config", 0);	/* warnings are checked in one test only */
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_expand, 0, sizeof(expand_cases) / sizeof(expand_cases[0]));
	tcase_add_loop_test(tc, test_syntax, 0, sizeof(syntax_cases) / sizeof(syntax_cases[0]));
	tcase_add_loop_test(tc, test_typed, 0, sizeof(typed_cases) / sizeof(typed_cases[0]));
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_set_and_raw);
	tcase_add_test(tc, test_computed);
	tcase_add_test(tc, test_expand_vars);
	tcase_add_test(tc, test_unknown_warnings);
	tcase_add_test(tc, test_load_dir);
	tcase_add_test(tc, test_lazy_defaults);
	tcase_add_test(tc, test_parsed_cache);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
