/*
 * test_milter_cfg.c - Check suite for the milter settings
 * (lib/mail/milter_cfg.c): every address form of smtpd_milters, { }
 * groups and each of their overrides, defaults inherited from the
 * milter_* parameters, every error with its message, the macro lists
 * and milter_macro_defaults.
 */
#include "compat.h"

#include <check.h>
#include <netdb.h>
#include <sys/socket.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mail/config.h"
#include "mail/milter_cfg.h"

/* What milter_cfg_load() passes in with main.cf's defaults. */
static const struct milter_spec defaults = {
	.connect_timeout_ms = 30000, .command_timeout_ms = 30000, .content_timeout_ms = 300000,
	.default_action = MILTER_DEF_TEMPFAIL, .protocol = 6,
};

#define U MILTER_SOCK_UNIX
#define I4 MILTER_SOCK_INET
#define I6 MILTER_SOCK_INET6

/* One milter lists: its one milter as parsed. */
static const struct {
	const char *list;
	const char *name;
	enum milter_sock kind;
	const char *path, *host;
	unsigned port, connect, command, content;
	enum milter_default action;
	unsigned protocol;
} one[] = {
	{ "unix:/run/opendkim.sock", "unix:/run/opendkim.sock", U, "/run/opendkim.sock", NULL, 0,
	  30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "local:/var/run/m", "local:/var/run/m", U, "/var/run/m", NULL, 0, 30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "/var/run/m", "/var/run/m", U, "/var/run/m", NULL, 0, 30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "inet:127.0.0.1:8891", "inet:127.0.0.1:8891", I4, NULL, "127.0.0.1", 8891,
	  30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "inet:localhost:1", "inet:localhost:1", I4, NULL, "localhost", 1, 30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "inet:milter.example.com:65535", "inet:milter.example.com:65535", I4, NULL, "milter.example.com", 65535,
	  30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "inet:[127.0.0.1]:25", "inet:[127.0.0.1]:25", I4, NULL, "127.0.0.1", 25, 30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "inet:[::1]:8891", "inet:[::1]:8891", I6, NULL, "::1", 8891, 30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "inet6:[::1]:8891", "inet6:[::1]:8891", I6, NULL, "::1", 8891, 30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "inet6:::1:8891", "inet6:::1:8891", I6, NULL, "::1", 8891, 30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "inet6:[fe80::1%lo]:8891", "inet6:[fe80::1%lo]:8891", I6, NULL, "fe80::1%lo", 8891,
	  30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "  ,inet:127.0.0.1:8891 ,", "inet:127.0.0.1:8891", I4, NULL, "127.0.0.1", 8891,
	  30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	/* Groups: each override, in each spelling of name = value. */
	{ "{ inet:127.0.0.1:8891 }", "inet:127.0.0.1:8891", I4, NULL, "127.0.0.1", 8891,
	  30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "{inet:127.0.0.1:8891,default_action=accept}", "inet:127.0.0.1:8891", I4, NULL, "127.0.0.1", 8891,
	  30000, 30000, 300000, MILTER_DEF_ACCEPT, 6 },
	{ "{ inet:127.0.0.1:8891, default_action = accept, command_timeout = 5s }", "inet:127.0.0.1:8891", I4, NULL,
	  "127.0.0.1", 8891, 30000, 5000, 300000, MILTER_DEF_ACCEPT, 6 },
	{ "{ unix:/run/m connect_timeout= 2m }", "unix:/run/m", U, "/run/m", NULL, 0,
	  120000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "{ unix:/run/m, connect_timeout =7 }", "unix:/run/m", U, "/run/m", NULL, 0,
	  7000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "{ unix:/run/m, content_timeout = 1h }", "unix:/run/m", U, "/run/m", NULL, 0,
	  30000, 30000, 3600000, MILTER_DEF_TEMPFAIL, 6 },
	{ "{ unix:/run/m, default_action = reject }", "unix:/run/m", U, "/run/m", NULL, 0,
	  30000, 30000, 300000, MILTER_DEF_REJECT, 6 },
	{ "{ unix:/run/m, default_action = TempFail }", "unix:/run/m", U, "/run/m", NULL, 0,
	  30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 6 },
	{ "{ unix:/run/m, default_action = quarantine }", "unix:/run/m", U, "/run/m", NULL, 0,
	  30000, 30000, 300000, MILTER_DEF_QUARANTINE, 6 },
	{ "{ unix:/run/m, protocol = 2 }", "unix:/run/m", U, "/run/m", NULL, 0,
	  30000, 30000, 300000, MILTER_DEF_TEMPFAIL, 2 },
	{ "{ inet6:[::1]:10025, protocol=4, connect_timeout=1s, command_timeout=2s, content_timeout=3s, default_action=accept }",
	  "inet6:[::1]:10025", I6, NULL, "::1", 10025, 1000, 2000, 3000, MILTER_DEF_ACCEPT, 4 },
	/* Longer than a poll() can wait: the most it can. */
	{ "{ unix:/run/m, content_timeout = 100d }", "unix:/run/m", U, "/run/m", NULL, 0,
	  30000, 30000, INT_MAX, MILTER_DEF_TEMPFAIL, 6 },
};

START_TEST(test_one)
{
	struct milter_cfg m;
	struct buf err = BUF_INIT;
	int rc = milter_cfg_parse_list(one[_i].list, &defaults, &m, &err);
	ck_assert_msg(rc == 0, "%s: %s", one[_i].list, buf_str(&err));
	ck_assert_uint_eq(m.n, 1);
	const struct milter_spec *s = &m.v[0];
	ck_assert_str_eq(s->name, one[_i].name);
	ck_assert_int_eq(s->kind, one[_i].kind);
	if (one[_i].path != NULL)
		ck_assert_str_eq(s->path, one[_i].path);
	else
		ck_assert_ptr_null(s->path);
	if (one[_i].host != NULL)
		ck_assert_str_eq(s->host, one[_i].host);
	else
		ck_assert_ptr_null(s->host);
	ck_assert_uint_eq(s->port, one[_i].port);
	ck_assert_uint_eq(s->connect_timeout_ms, one[_i].connect);
	ck_assert_uint_eq(s->command_timeout_ms, one[_i].command);
	ck_assert_uint_eq(s->content_timeout_ms, one[_i].content);
	ck_assert_int_eq(s->default_action, one[_i].action);
	ck_assert_uint_eq(s->protocol, one[_i].protocol);
	milter_cfg_free(&m);
	buf_free(&err);
}
END_TEST

/* Errors: the message names the word at fault. */
static const struct {
	const char *list, *want;
} bad[] = {
	{ "{ inet:127.0.0.1:8891, default_actoin = accept }", "unknown setting \"default_actoin\"" },
	{ "{ inet:127.0.0.1:8891, max_timeout = 5s }", "unknown setting \"max_timeout\"" },
	{ "inet:127.0.0.1:0", "bad port \"0\" in \"inet:127.0.0.1:0\"" },
	{ "inet:127.0.0.1:65536", "bad port \"65536\" in \"inet:127.0.0.1:65536\"" },
	{ "inet:127.0.0.1:999999", "bad port \"999999\"" },
	{ "inet:127.0.0.1:smtp", "bad port \"smtp\"" },
	{ "inet:127.0.0.1:", "bad port \"\" in \"inet:127.0.0.1:\"" },
	{ "inet:127.0.0.1", "missing :port in \"inet:127.0.0.1\"" },
	{ "inet::8891", "bad host \"\" in \"inet::8891\"" },
	{ "inet:[::1]8891", "missing :port after ] in \"inet:[::1]8891\"" },
	{ "inet:[::1:8891", "missing ] in \"inet:[::1:8891\"" },
	{ "inet:::1:8891", "an IPv6 address must be in brackets in \"inet:::1:8891\"" },
	/* A blank splits the list: a host with one is never one word. */
	{ "inet:my host:25", "missing :port in \"inet:my\"" },
	{ "inet:[my host]:25", "missing ] in \"inet:[my\"" },
	{ "{ inet:[my host]:25 }", "missing ] in \"inet:[my\"" },
	{ "{ inet:a\"b:25 }", "bad host \"a\"b\"" },
	{ "inet:a/b:25", "bad host \"a/b\" in \"inet:a/b:25\"" },
	{ "unix:", "empty socket path in \"unix:\"" },
	{ "local:", "empty socket path in \"local:\"" },
	{ "unix:run/milter", "socket path \"run/milter\" is relative in \"unix:run/milter\"" },
	{ "127.0.0.1:8891", "unknown milter address \"127.0.0.1:8891\"" },
	{ "tcp:127.0.0.1:8891", "unknown milter address \"tcp:127.0.0.1:8891\"" },
	{ "{ inet:127.0.0.1:8891", "unbalanced { in \"{ inet:127.0.0.1:8891\"" },
	{ "inet:127.0.0.1:8891 }", "unbalanced } in \"}\"" },
	{ "inet:127.0.0.1:8891}", "unbalanced } in \"inet:127.0.0.1:8891}\"" },
	{ "{ inet:127.0.0.1:8891 }x", "\"x\" after } in" },
	{ "{ inet:127.0.0.1:8891 { protocol = 2 } }", "unexpected brace" },
	{ "inet:{127.0.0.1}:8891", "unexpected { in \"inet:{127.0.0.1}:8891\"" },
	{ "{ default_action=accept, inet:127.0.0.1:1 }", "\"default_action=accept\" where a milter address must come first" },
	{ "{ }", "empty group \"{ }\"" },
	{ "{ default_action = accept }", "\"default_action\" where a milter address must come first" },
	{ "{ inet:127.0.0.1:8891, default_action = bounce }", "bad default_action \"bounce\"" },
	{ "{ inet:127.0.0.1:8891, protocol = 1 }", "bad protocol \"1\" (expected a version from 2 to 6)" },
	{ "{ inet:127.0.0.1:8891, protocol = 7 }", "bad protocol \"7\"" },
	{ "{ inet:127.0.0.1:8891, protocol = six }", "bad protocol \"six\"" },
	{ "{ inet:127.0.0.1:8891, command_timeout = 5x }", "bad command_timeout \"5x\"" },
	{ "{ inet:127.0.0.1:8891, connect_timeout = 0 }", "bad connect_timeout \"0\"" },
	{ "{ inet:127.0.0.1:8891, content_timeout = -1 }", "bad content_timeout \"-1\"" },
	{ "{ inet:127.0.0.1:8891, protocol }", "\"protocol\" is not name = value" },
	{ "{ inet:127.0.0.1:8891, inet:127.0.0.1:8892 }", "\"inet:127.0.0.1:8892\" is not name = value" },
	{ "{ inet:127.0.0.1:8891, protocol = }", "no value for protocol" },
	{ "{ inet:127.0.0.1:8891, =2 }", "= without a name" },
	/* The first bad one of several. */
	{ "inet:127.0.0.1:8891, unix:relative", "socket path \"relative\" is relative" },
};

START_TEST(test_bad)
{
	struct milter_cfg m;
	struct buf err = BUF_INIT;
	ck_assert_msg(milter_cfg_parse_list(bad[_i].list, &defaults, &m, &err) < 0, "%s parses", bad[_i].list);
	ck_assert_msg(strstr(buf_str(&err), bad[_i].want) != NULL, "%s: got \"%s\", want \"%s\"", bad[_i].list,
		      buf_str(&err), bad[_i].want);
	ck_assert_ptr_null(m.v);
	ck_assert_uint_eq(m.n, 0);
	buf_free(&err);
}
END_TEST

START_TEST(test_several)
{
	struct milter_cfg m;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(milter_cfg_parse_list("", &defaults, &m, &err), 0);
	ck_assert_uint_eq(m.n, 0);
	milter_cfg_free(&m);
	ck_assert_int_eq(milter_cfg_parse_list(
		" unix:/a {inet:127.0.0.1:1, default_action=accept},inet:[::1]:2\n\t{ /b, protocol=3 }",
		&defaults, &m, &err), 0);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_str_eq(m.v[0].path, "/a");
	ck_assert_int_eq(m.v[0].default_action, MILTER_DEF_TEMPFAIL);
	ck_assert_str_eq(m.v[1].host, "127.0.0.1");
	ck_assert_int_eq(m.v[1].default_action, MILTER_DEF_ACCEPT);
	ck_assert_uint_eq(m.v[1].protocol, 6);
	ck_assert_str_eq(m.v[2].host, "::1");
	ck_assert_int_eq(m.v[2].default_action, MILTER_DEF_TEMPFAIL);
	ck_assert_str_eq(m.v[3].name, "/b");
	ck_assert_uint_eq(m.v[3].protocol, 3);
	ck_assert_int_eq(m.v[3].default_action, MILTER_DEF_TEMPFAIL);
	milter_cfg_free(&m);
	milter_cfg_free(&m);	/* twice is harmless: free zeroes */
	buf_free(&err);
}
END_TEST

static void load(const char *text)
{
	struct buf err = BUF_INIT;
	int rc = config_load_buffer("main.cf", text, strlen(text), &err);
	ck_assert_msg(rc == 0, "%s", buf_str(&err));
	buf_free(&err);
}

static void assert_list(char **got, const char *const *want)
{
	size_t i = 0;
	ck_assert_ptr_nonnull(got);
	for (; want[i] != NULL; i++) {
		ck_assert_msg(got[i] != NULL, "list ends before %s", want[i]);
		ck_assert_str_eq(got[i], want[i]);
	}
	ck_assert_msg(got[i] == NULL, "extra item %s", got[i]);
}

/* The defaults of params.def, milter by milter. */
START_TEST(test_load_defaults)
{
	struct milter_cfg m;
	struct buf err = BUF_INIT;
	load("myhostname = mx.example.com\nsmtpd_milters = inet:127.0.0.1:8891 { unix:/run/m, command_timeout = 9 }\n");
	ck_assert_msg(milter_cfg_load(P_smtpd_milters, &m, &err) == 0, "%s", buf_str(&err));
	ck_assert_uint_eq(m.n, 2);
	ck_assert_uint_eq(m.v[0].connect_timeout_ms, 30000);
	ck_assert_uint_eq(m.v[0].command_timeout_ms, 30000);
	ck_assert_uint_eq(m.v[0].content_timeout_ms, 300000);
	ck_assert_int_eq(m.v[0].default_action, MILTER_DEF_TEMPFAIL);
	ck_assert_uint_eq(m.v[0].protocol, 6);
	ck_assert_uint_eq(m.v[1].command_timeout_ms, 9000);
	assert_list(m.macros[MILTER_M_CONNECT], (const char *[]){ "j", "{daemon_name}", "{daemon_addr}", "v", "_", NULL });
	assert_list(m.macros[MILTER_M_HELO], (const char *[]){ "{tls_version}", "{cipher}", "{cipher_bits}",
							     "{cert_subject}", "{cert_issuer}", NULL });
	assert_list(m.macros[MILTER_M_ENVFROM], (const char *[]){ "i", "{auth_type}", "{auth_authen}", "{auth_author}",
								 "{mail_addr}", "{mail_host}", "{mail_mailer}", NULL });
	assert_list(m.macros[MILTER_M_ENVRCPT], (const char *[]){ "i", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}", NULL });
	assert_list(m.macros[MILTER_M_DATA], (const char *[]){ "i", NULL });
	assert_list(m.macros[MILTER_M_EOH], (const char *[]){ "i", NULL });
	assert_list(m.macros[MILTER_M_EOM], (const char *[]){ "i", NULL });
	assert_list(m.macros[MILTER_M_UNKNOWN], (const char *[]){ NULL });
	assert_list(m.macro_defaults, (const char *[]){ NULL });
	ck_assert_str_eq(m.daemon_name, "mx.example.com");
	ck_assert_str_eq(m.macro_v, "Tern " TERN_VERSION);
	ck_assert_str_eq(m.header_checks, "");
	milter_cfg_free(&m);
	/* The other list, empty by default. */
	ck_assert_int_eq(milter_cfg_load(P_non_smtpd_milters, &m, &err), 0);
	ck_assert_uint_eq(m.n, 0);
	milter_cfg_free(&m);
	buf_free(&err);
}
END_TEST

/* Every milter_* parameter reaches the result; groups override them. */
START_TEST(test_load_settings)
{
	struct milter_cfg m;
	struct buf err = BUF_INIT;
	load("non_smtpd_milters = unix:/run/a, { inet:127.0.0.1:8891, default_action = reject, protocol = 3 }\n"
	     "milter_connect_timeout = 1m\n"
	     "milter_command_timeout = 7\n"
	     "milter_content_timeout = 2h\n"
	     "milter_default_action = accept\n"
	     "milter_protocol = 4\n"
	     "milter_connect_macros = j, {j} daemon_name\n"
	     "milter_helo_macros = {client_name}\n"
	     "milter_mail_macros =\n"
	     "milter_rcpt_macros = {rcpt_addr},{rcpt_host}\n"
	     "milter_data_macros = i {x}\n"
	     "milter_end_of_header_macros = {eoh}\n"
	     "milter_end_of_data_macros = {msg_id}\n"
	     "milter_unknown_command_macros = {a} b\n"
	     "milter_macro_daemon_name = d-$mail_name\n"
	     "milter_macro_v = vee\n"
	     "milter_header_checks = regexp:/etc/tern/milter_header_checks\n"
	     "milter_macro_defaults = auth_type=none, {client_name}=unknown {j}=x, "
	     "{ {client_addr} = 1.2.3.4, or so } {empty=} { spaced = a b }\n");
	ck_assert_msg(milter_cfg_load(P_non_smtpd_milters, &m, &err) == 0, "%s", buf_str(&err));
	ck_assert_uint_eq(m.n, 2);
	ck_assert_uint_eq(m.v[0].connect_timeout_ms, 60000);
	ck_assert_uint_eq(m.v[0].command_timeout_ms, 7000);
	ck_assert_uint_eq(m.v[0].content_timeout_ms, 7200000);
	ck_assert_int_eq(m.v[0].default_action, MILTER_DEF_ACCEPT);
	ck_assert_uint_eq(m.v[0].protocol, 4);
	ck_assert_uint_eq(m.v[1].connect_timeout_ms, 60000);
	ck_assert_int_eq(m.v[1].default_action, MILTER_DEF_REJECT);
	ck_assert_uint_eq(m.v[1].protocol, 3);
	assert_list(m.macros[MILTER_M_CONNECT], (const char *[]){ "j", "j", "{daemon_name}", NULL });
	assert_list(m.macros[MILTER_M_HELO], (const char *[]){ "{client_name}", NULL });
	assert_list(m.macros[MILTER_M_ENVFROM], (const char *[]){ NULL });
	assert_list(m.macros[MILTER_M_ENVRCPT], (const char *[]){ "{rcpt_addr}", "{rcpt_host}", NULL });
	assert_list(m.macros[MILTER_M_DATA], (const char *[]){ "i", "x", NULL });
	assert_list(m.macros[MILTER_M_EOH], (const char *[]){ "{eoh}", NULL });
	assert_list(m.macros[MILTER_M_EOM], (const char *[]){ "{msg_id}", NULL });
	assert_list(m.macros[MILTER_M_UNKNOWN], (const char *[]){ "a", "b", NULL });
	assert_list(m.macro_defaults, (const char *[]){ "{auth_type}", "none", "{client_name}", "unknown", "j", "x",
							"{client_addr}", "1.2.3.4, or so", "{empty}", "",
							"{spaced}", "a b", NULL });
	ck_assert_str_eq(m.daemon_name, "d-Tern");
	ck_assert_str_eq(m.macro_v, "vee");
	ck_assert_str_eq(m.header_checks, "regexp:/etc/tern/milter_header_checks");
	milter_cfg_free(&m);
	buf_free(&err);
}
END_TEST

/* milter_cfg_load's errors: main.cf's line, the parameter, the word. */
static const struct {
	const char *conf, *want;
} load_bad[] = {
	{ "smtpd_milters = inet:127.0.0.1:0\n",
	  "main.cf, line 2: smtpd_milters: bad port \"0\" in \"inet:127.0.0.1:0\"" },
	{ "smtpd_milters = { inet:127.0.0.1:1, timeout = 1 }\n",
	  "main.cf, line 2: smtpd_milters: unknown setting \"timeout\"" },
	{ "milter_connect_macros = j {}\n", "main.cf, line 2: milter_connect_macros: bad macro name \"{}\"" },
	{ "milter_helo_macros = a=b\n", "milter_helo_macros: bad macro name \"a=b\"" },
	{ "milter_mail_macros = {a b}\n", "milter_mail_macros: bad macro name \"{a b}\"" },
	{ "milter_rcpt_macros = $$x\n", "milter_rcpt_macros: bad macro name" },
	{ "milter_data_macros = {{x}}\n", "milter_data_macros: bad macro name \"{{x}}\"" },
	{ "milter_end_of_header_macros = {x\n", "milter_end_of_header_macros: bad macro name \"{x\"" },
	{ "milter_end_of_data_macros = x}\n", "milter_end_of_data_macros: bad macro name \"x}\"" },
	{ "milter_unknown_command_macros = {}\n", "milter_unknown_command_macros: bad macro name \"{}\"" },
	{ "milter_macro_defaults = auth_type\n", "main.cf, line 2: milter_macro_defaults: \"auth_type\" is not name=value" },
	{ "milter_macro_defaults = =x\n", "milter_macro_defaults: bad macro name \"\" in \"=x\"" },
	{ "milter_macro_defaults = {a b}=x\n", "milter_macro_defaults: bad macro name \"{a b}\"" },
	{ "milter_macro_defaults = { novalue }\n", "milter_macro_defaults: \"{ novalue }\" is not name=value" },
};

START_TEST(test_load_bad)
{
	struct milter_cfg m;
	struct buf err = BUF_INIT, text = BUF_INIT;
	buf_printf(&text, "# line 1\n%s", load_bad[_i].conf);
	load(buf_str(&text));
	ck_assert_msg(milter_cfg_load(P_smtpd_milters, &m, &err) < 0, "%s loads", load_bad[_i].conf);
	ck_assert_msg(strstr(buf_str(&err), load_bad[_i].want) != NULL, "got \"%s\", want \"%s\"", buf_str(&err),
		      load_bad[_i].want);
	ck_assert_ptr_null(m.v);
	ck_assert_ptr_null(m.macro_defaults);
	for (int i = 0; i < MILTER_M_ALL; i++)
		ck_assert_ptr_null(m.macros[i]);
	buf_free(&err);
	buf_free(&text);
}
END_TEST

/* A value set with cfg_set (master.cf -o) has no main.cf line. */
START_TEST(test_load_override)
{
	struct milter_cfg m;
	struct buf err = BUF_INIT;
	load("smtpd_milters = inet:127.0.0.1:8891\n");
	ck_assert_int_eq(cfg_set(P_smtpd_milters, "unix:x", &err), 0);
	ck_assert_int_lt(milter_cfg_load(P_smtpd_milters, &m, &err), 0);
	ck_assert_str_eq(buf_str(&err), "smtpd_milters: socket path \"x\" is relative in \"unix:x\" (it must start with /)");
	buf_free(&err);
}
END_TEST

/* smtpd resolves host names once, at start; numeric addresses stay as written. */
START_TEST(test_resolve)
{
	struct milter_cfg m;
	struct milter_spec d = {.protocol = 6};
	struct buf err = BUF_INIT;
	ck_assert_int_eq(milter_cfg_parse_list("inet:127.0.0.2:8891, inet6:[::1]:25, unix:/run/x",
					       &d, &m, &err), 0);
	ck_assert_int_eq(milter_cfg_resolve(&m, &err), 0);
	ck_assert_str_eq(m.v[0].host, "127.0.0.2");
	ck_assert_str_eq(m.v[1].host, "::1");
	milter_cfg_free(&m);
	ck_assert_int_eq(milter_cfg_parse_list("inet:no-such-host.invalid:1", &d, &m, &err), 0);
	ck_assert_int_lt(milter_cfg_resolve(&m, &err), 0);
	ck_assert_msg(strstr(buf_str(&err), "cannot resolve no-such-host.invalid") != NULL, "%s", buf_str(&err));
	milter_cfg_free(&m);
	/* A name the resolver knows (when this host's /etc/hosts has localhost). */
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
	if (getaddrinfo("localhost", NULL, &hints, &ai) == 0) {
		freeaddrinfo(ai);
		ck_assert_int_eq(milter_cfg_parse_list("inet:localhost:8891", &d, &m, &err), 0);
		ck_assert_int_eq(milter_cfg_resolve(&m, &err), 0);
		ck_assert_str_eq(m.v[0].host, "127.0.0.1");
		ck_assert_str_eq(m.v[0].name, "inet:localhost:8891");
		milter_cfg_free(&m);
	}
	buf_free(&err);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
	Suite *s = suite_create("milter_cfg");
	TCase *tc = tcase_create("milter_cfg");
	tcase_add_loop_test(tc, test_one, 0, N(one));
	tcase_add_loop_test(tc, test_bad, 0, N(bad));
	tcase_add_test(tc, test_several);
	tcase_add_test(tc, test_load_defaults);
	tcase_add_test(tc, test_load_settings);
	tcase_add_loop_test(tc, test_load_bad, 0, N(load_bad));
	tcase_add_test(tc, test_load_override);
	tcase_add_test(tc, test_resolve);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
