/*
 * test_params.c - Check suite for the parameter table (lib/mail/params.def,
 * params.c): order, well-formed rows, every text read back as its row
 * writes it, every default valid for its type and within its bounds, the
 * parameters the design and the issues name, and the defaults that Tern
 * deliberately chooses.
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

START_TEST(test_sorted_unique)
{
	ck_assert_uint_gt(param_count, 100);
	for (unsigned i = 1; i < param_count; i++) {
		const char *before = param_name(&param_table[i - 1]), *name = param_name(&param_table[i]);
		ck_assert_msg(strcmp(before, name) < 0, "%s before %s", before, name);
	}
}
END_TEST

/* Each row, one loop iteration. */
START_TEST(test_row)
{
	const struct param_def *p = &param_table[_i];
	const char *name = param_name(p), *def = param_default_text(p), *doc = param_doc(p);
	struct buf why = BUF_INIT, val = BUF_INIT, err = BUF_INIT;

	ck_assert_ptr_eq(param_find(name), p);
	for (const char *c = name; *c; c++)
		ck_assert_msg((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_',
			      "%s: bad name", name);
	ck_assert_msg(strlen(doc) > 10, "%s: no doc", name);
	ck_assert_msg(doc[strlen(doc) - 1] == '.', "%s: doc is not a sentence", name);
	ck_assert_msg(strchr(doc, '\n') == NULL, "%s: doc has a newline", name);
	ck_assert_msg((def == NULL) == ((p->flags & PARAM_F_COMPUTED) != 0),
		      "%s: NULL default iff computed", name);
	ck_assert_ptr_nonnull(param_default(p));
	ck_assert_str_ne(param_type_name(p->type), "");
	/* Only strings are computed (CSTR): the cases below read the default. */
	if (p->type != PARAM_STRING)
		ck_assert_msg(def != NULL, "%s: computed but not a string", name);

	switch (p->type) {
	case PARAM_TIME:
		ck_assert_msg(p->unit && strchr("smhdw", p->unit), "%s: unit", name);
		/* fall through */
	case PARAM_INT:
	case PARAM_SIZE:
		ck_assert_msg(p->min <= p->max, "%s: min > max", name);
		ck_assert_msg(strchr(def, '$') == NULL, "%s: numeric default refers", name);
		break;
	case PARAM_BOOL:
		ck_assert_msg(strcmp(def, "yes") == 0 || strcmp(def, "no") == 0,
			      "%s: default %s", name, def);
		break;
	default:
		break;
	}
	if (param_choices(p) != NULL)
		ck_assert(p->type == PARAM_STRING || p->type == PARAM_LIST);

	/* The default, expanded against an empty main.cf, passes its own check. */
	ck_assert_int_eq(config_load_buffer("main.cf", "", 0, &err), 0);
	if (p->flags & PARAM_F_RAW)
		buf_adds(&val, param_default(p));
	else
		ck_assert_int_eq(config_expand_checked(param_default(p), &val, &err), 0);
	ck_assert_msg(param_check(p, buf_str(&val), &why) == 0, "%s = %s: %s", name,
		      buf_str(&val), buf_str(&why));
	ck_assert_str_eq(cfg_str(name), buf_str(&val));

	/* Bounds: the limits pass, one beyond fails (when representable). */
	if (p->type == PARAM_INT || p->type == PARAM_SIZE || p->type == PARAM_TIME) {
		char text[64];
		snprintf(text, sizeof(text), "%lld%s", p->min, p->type == PARAM_TIME ? "s" : "");
		ck_assert_msg(param_check(p, text, &why) == 0, "%s: min %s", name, text);
		snprintf(text, sizeof(text), "%lld%s", p->max, p->type == PARAM_TIME ? "s" : "");
		ck_assert_msg(param_check(p, text, &why) == 0, "%s: max %s", name, text);
		snprintf(text, sizeof(text), "%lld%s", p->max + 1, p->type == PARAM_TIME ? "s" : "");
		ck_assert_msg(param_check(p, text, &why) < 0, "%s: max+1 %s", name, text);
		if (p->min > 0) {
			snprintf(text, sizeof(text), "%lld%s", p->min - 1,
				 p->type == PARAM_TIME ? "s" : "");
			ck_assert_msg(param_check(p, text, &why) < 0, "%s: min-1", name);
		}
	}
	buf_free(&why);
	buf_free(&val);
	buf_free(&err);
}
END_TEST

/*
 * Each row that Tern does not implement, set in main.cf: one warning that
 * names the file, the line and the parameter and says what happens
 * instead; an implemented row set the same way draws none.
 */
static void set_and_warn(const struct param_def *p, char *text, size_t size, unsigned *count)
{
	char logpath[] = "/tmp/test_params_log.XXXXXX";
	int fd = mkstemp(logpath);
	ck_assert_int_ge(fd, 0);
	log_init("test", LOG_TO_FILE);
	log_set_file(logpath);

	struct buf cf = BUF_INIT, err = BUF_INIT;
	const char *value = param_default(p);
	int len = -1;
	if (*value == '\0' || (p->flags & PARAM_F_COMPUTED)) {
		const char *choices = param_choices(p);
		value = choices != NULL ? choices : p->type == PARAM_MAPS ? "static:x" : "x";
		len = (int)strcspn(value, " ");
	}
	buf_printf(&cf, "# comment\n%s = %.*s\n", param_name(p), len, value);
	ck_assert_msg(config_load_buffer("/etc/tern/main.cf", buf_str(&cf), cf.len, &err) == 0,
		      "%s: %s", param_name(p), buf_str(&err));
	*count = config_warn_unimplemented();
	log_set_file(NULL);
	log_init("test_params", 0);

	ssize_t n = read(fd, text, size - 1);
	text[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(logpath);
	buf_free(&cf);
	buf_free(&err);
}

START_TEST(test_unimplemented_warns)
{
	const struct param_def *p = &param_table[_i];
	char text[4096], want[512];
	unsigned count;

	set_and_warn(p, text, sizeof(text), &count);
	if (param_unimplemented(p) == NULL) {
		ck_assert_msg(count == 0 && text[0] == '\0', "%s: %s", param_name(p), text);
		return;
	}
	ck_assert_uint_eq(count, 1);
	snprintf(want, sizeof(want), "/etc/tern/main.cf, line 2: %s is set, but Tern does not implement it: %s",
		 param_name(p), param_unimplemented(p));
	ck_assert_msg(strstr(text, want) != NULL, "%s: %s", param_name(p), text);
}
END_TEST

/*
 * The rows as params.def writes them, made here as plain pointers: the
 * table params.c makes of the same rows holds offsets into one block of
 * text instead (no relocations at start), and each of its accessors
 * must give back exactly what its row says, NULL where the row has none.
 */
struct written_row {
	const char *name, *def, *choices, *doc, *unimplemented, *words, *words_why;
	enum param_type type;
	unsigned flags;
	long long min, max;
	char unit;
};
#define NOT_IMPLEMENTED(what) .unimplemented = (what),
#define NOT_IMPLEMENTED_WORDS(words_, what) .words = (words_), .words_why = (what),
#define ROW(n, type_, flags_, d, ch, lo, hi, u, doc_, ...) \
	{ .name = #n, .type = (type_), .flags = (flags_), .def = (d), .choices = (ch), .min = (lo), \
	  .max = (hi), .unit = (u), .doc = (doc_), __VA_ARGS__ },
static const struct written_row written[] = {
#include "mail/params.def"
};
#undef ROW
#undef NOT_IMPLEMENTED
#undef NOT_IMPLEMENTED_WORDS

/* NULL where the row writes "" for "none". */
static const char *none_if_empty(const char *text)
{
	return text != NULL && *text != '\0' ? text : NULL;
}

static void assert_text(const char *name, const char *field, const char *got, const char *want)
{
	if (want == NULL)
		ck_assert_msg(got == NULL, "%s: %s \"%s\", the row has none", name, field, got);
	else
		ck_assert_msg(got != NULL && strcmp(got, want) == 0, "%s: %s \"%s\", the row says \"%s\"",
			      name, field, got != NULL ? got : "(NULL)", want);
}

START_TEST(test_texts_as_written)
{
	const struct param_def *p = &param_table[_i];
	const struct written_row *w = &written[_i];
	unsigned marks = PARAM_F_UNIMPLEMENTED | PARAM_F_UNIMPLEMENTED_WORDS;

	ck_assert_uint_eq(sizeof(written) / sizeof(written[0]), param_count);
	ck_assert_str_eq(param_name(p), w->name);
	ck_assert_int_eq(p->type, w->type);
	ck_assert_uint_eq(p->flags & ~marks, w->flags);
	ck_assert_int_eq(p->min, w->min);
	ck_assert_int_eq(p->max, w->max);
	ck_assert_int_eq(p->unit, w->unit);
	assert_text(w->name, "default", param_default_text(p),
		    (w->flags & PARAM_F_COMPUTED) ? NULL : w->def);
	assert_text(w->name, "choices", param_choices(p), none_if_empty(w->choices));
	assert_text(w->name, "doc", param_doc(p), w->doc);
	assert_text(w->name, "unimplemented", param_unimplemented(p), w->unimplemented);
	assert_text(w->name, "unimplemented choices", param_unimplemented_choices(p), w->words);
	assert_text(w->name, "why", param_unimplemented_choices_why(p), w->words_why);
	ck_assert_uint_eq((p->flags & PARAM_F_UNIMPLEMENTED) != 0, w->unimplemented != NULL);
	ck_assert_uint_eq((p->flags & PARAM_F_UNIMPLEMENTED_WORDS) != 0, w->words != NULL);
}
END_TEST

/* A few rows spelt out, each kind of text and of its absence. */
START_TEST(test_texts_known)
{
	const struct param_def *p = param_find(P_daemon_timeout);
	ck_assert_str_eq(param_default_text(p), "18000s");
	ck_assert_str_eq(param_doc(p), "How long a daemon process may spend on one request before it gives up.");
	ck_assert_str_eq(param_unimplemented(p), "only the timeouts of each step apply");
	ck_assert_ptr_null(param_choices(p));
	ck_assert_ptr_null(param_unimplemented_choices(p));
	ck_assert_ptr_null(param_unimplemented_choices_why(p));

	p = param_find(P_allow_mail_to_commands);
	ck_assert_str_eq(param_default_text(p), "alias, forward");
	ck_assert_str_eq(param_choices(p), "alias forward include");
	ck_assert_ptr_null(param_unimplemented(p));
	ck_assert_ptr_null(param_unimplemented_choices(p));

	p = param_find(P_propagate_unmatched_extensions);
	ck_assert_str_eq(param_choices(p), "canonical virtual alias forward include generic");
	ck_assert_ptr_null(param_unimplemented(p));
	ck_assert_str_eq(param_unimplemented_choices(p), "generic");
	ck_assert_str_eq(param_unimplemented_choices_why(p), "Tern has no smtp_generic_maps");
	ck_assert_str_eq(param_doc(p) + strlen(param_doc(p)) - 26, "Needs recipient_delimiter.");

	p = param_find(P_myhostname);	/* computed */
	ck_assert_ptr_null(param_default_text(p));
	ck_assert_str_ne(param_default(p), "");
	ck_assert_ptr_null(param_unimplemented(p));

	p = param_find(P_home_mailbox);	/* an empty default is no absent one */
	ck_assert_str_eq(param_default_text(p), "");
	ck_assert_ptr_null(param_choices(p));
	ck_assert_str_eq(param_name(p), "home_mailbox");
	ck_assert_ptr_eq(param_name(p), P_home_mailbox);
}
END_TEST

/* Every parameter the design and issues 2-4 name must exist, with its type. */
static const struct {
	const char *name;
	enum param_type type;
} required[] = {
	{ "myhostname", PARAM_STRING }, { "mydomain", PARAM_STRING },
	{ "myorigin", PARAM_STRING }, { "mydestination", PARAM_LIST },
	{ "mynetworks", PARAM_LIST }, { "relayhost", PARAM_STRING },
	{ "inet_interfaces", PARAM_LIST }, { "inet_protocols", PARAM_LIST },
	{ "home_mailbox", PARAM_STRING }, { "mail_spool_directory", PARAM_STRING },
	{ "mailbox_size_limit", PARAM_SIZE }, { "message_size_limit", PARAM_SIZE },
	{ "recipient_delimiter", PARAM_STRING }, { "alias_maps", PARAM_MAPS },
	{ "alias_database", PARAM_MAPS }, { "virtual_alias_maps", PARAM_MAPS },
	{ "virtual_alias_domains", PARAM_LIST }, { "canonical_maps", PARAM_MAPS },
	{ "local_login_sender_maps", PARAM_MAPS }, { "trusted_users", PARAM_LIST },
	{ "alternate_config_directories", PARAM_LIST },
	{ "2bounce_notice_recipient", PARAM_STRING }, { "queue_directory", PARAM_STRING },
	{ "data_directory", PARAM_STRING }, { "daemon_directory", PARAM_STRING },
	{ "command_directory", PARAM_STRING }, { "mail_owner", PARAM_STRING },
	{ "setgid_group", PARAM_STRING }, { "maillog_file", PARAM_STRING },
	{ "local_maildir_base", PARAM_STRING }, { "mailq_format", PARAM_STRING },
	{ "queue_run_delay", PARAM_TIME }, { "minimal_backoff_time", PARAM_TIME },
	{ "maximal_backoff_time", PARAM_TIME }, { "maximal_queue_lifetime", PARAM_TIME },
	{ "bounce_queue_lifetime", PARAM_TIME }, { "delay_warning_time", PARAM_TIME },
	{ "bounce_size_limit", PARAM_SIZE }, { "forward_path", PARAM_LIST },
	{ "allow_mail_to_commands", PARAM_LIST }, { "allow_mail_to_files", PARAM_LIST },
	{ "mailbox_delivery_lock", PARAM_LIST }, { "command_time_limit", PARAM_TIME },
	{ "default_privs", PARAM_STRING }, { "biff", PARAM_BOOL },
	{ "smtpd_banner", PARAM_STRING }, { "smtpd_helo_required", PARAM_BOOL },
	{ "smtpd_recipient_limit", PARAM_INT }, { "smtpd_timeout", PARAM_TIME },
	{ "smtpd_hard_error_limit", PARAM_INT }, { "smtpd_soft_error_limit", PARAM_INT },
	{ "smtpd_forbid_bare_newline", PARAM_BOOL },
	{ "smtpd_forbid_unauth_pipelining", PARAM_BOOL },
	{ "smtpd_relay_restrictions", PARAM_LIST }, { "smtpd_recipient_restrictions", PARAM_LIST },
	{ "smtpd_client_restrictions", PARAM_LIST }, { "smtpd_helo_restrictions", PARAM_LIST },
	{ "smtpd_sender_restrictions", PARAM_LIST }, { "smtpd_tls_cert_file", PARAM_STRING },
	{ "smtpd_tls_key_file", PARAM_STRING }, { "smtpd_tls_chain_files", PARAM_LIST },
	{ "smtpd_tls_security_level", PARAM_STRING }, { "smtpd_tls_auth_only", PARAM_BOOL },
	{ "smtpd_tls_protocols", PARAM_LIST }, { "smtpd_tls_ciphers", PARAM_STRING },
	{ "smtpd_sasl_auth_enable", PARAM_BOOL }, { "smtpd_sasl_type", PARAM_STRING },
	{ "smtpd_sasl_path", PARAM_STRING }, { "smtpd_sasl_password_maps", PARAM_MAPS },
	{ "broken_sasl_auth_clients", PARAM_BOOL },
	{ "smtpd_client_connection_count_limit", PARAM_INT },
	{ "smtpd_client_connection_rate_limit", PARAM_INT },
	{ "smtpd_client_message_rate_limit", PARAM_INT },
	{ "smtpd_client_recipient_rate_limit", PARAM_INT },
	{ "smtpd_client_event_limit_exceptions", PARAM_LIST },
	{ "anvil_rate_time_unit", PARAM_TIME }, { "disable_vrfy_command", PARAM_BOOL },
	{ "smtpd_milters", PARAM_LIST }, { "non_smtpd_milters", PARAM_LIST },
	{ "milter_default_action", PARAM_STRING }, { "line_length_limit", PARAM_INT },
	{ "mail_name", PARAM_STRING }, { "mail_version", PARAM_STRING },
	{ "default_database_type", PARAM_STRING }, { "syslog_name", PARAM_STRING },
	{ "config_directory", PARAM_STRING },
};

START_TEST(test_required)
{
	const struct param_def *p = param_find(required[_i].name);
	ck_assert_msg(p != NULL, "%s missing", required[_i].name);
	ck_assert_msg(p->type == required[_i].type, "%s: type %s", param_name(p), param_type_name(p->type));
}
END_TEST

/* Defaults the issues fix (Tern's safer choices and compiled-in paths). */
static const struct {
	const char *name;
	const char *def;
} defaults[] = {
	{ "mynetworks", "127.0.0.1/32, [::1]/128" },
	{ "smtpd_relay_restrictions", "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination" },
	{ "myorigin", "$myhostname" },
	{ "mydestination", "$myhostname, localhost.$mydomain, localhost" },
	{ "setgid_group", TERN_DROP_GROUP },
	{ "mail_owner", TERN_USER },
	{ "queue_directory", TERN_QUEUE_DIR },
	{ "data_directory", TERN_DATA_DIR },
	{ "daemon_directory", TERN_DAEMON_DIR },
	{ "command_directory", TERN_COMMAND_DIR },
	{ "sendmail_path", TERN_COMMAND_DIR "/sendmail" },
	{ "mailq_path", TERN_BIN_DIR "/mailq" },
	{ "newaliases_path", TERN_BIN_DIR "/newaliases" },
	{ "biff", "no" },
	{ "mailq_format", "sendmail" },
	{ "disable_vrfy_command", "yes" },
	{ "smtpd_forbid_bare_newline", "yes" },
	{ "inet_protocols", "all" },
	{ "relayhost", "" },
	{ "alias_database", "hash:/etc/aliases" },
	{ "default_database_type", "hash" },
	{ "smtpd_banner", "$myhostname ESMTP $mail_name" },
	{ "message_size_limit", "10240000" },
	{ "mailbox_size_limit", "51200000" },
	{ "maximal_queue_lifetime", "5d" },
	{ "2bounce_notice_recipient", "postmaster" },
};

START_TEST(test_defaults)
{
	const struct param_def *p = param_find(defaults[_i].name);
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(param_default(p), defaults[_i].def);
}
END_TEST

START_TEST(test_find)
{
	ck_assert_ptr_null(param_find("no_such_parameter"));
	ck_assert_ptr_null(param_find(""));
	ck_assert_ptr_null(param_find(NULL));
	ck_assert_ptr_null(param_find("MYHOSTNAME"));
	ck_assert_ptr_eq(param_find(param_name(&param_table[0])), &param_table[0]);
	ck_assert_ptr_eq(param_find(param_name(&param_table[param_count - 1])), &param_table[param_count - 1]);
	ck_assert_str_eq(param_type_name(PARAM_TIME), "time");
	ck_assert_str_eq(param_type_name(PARAM_MAPS), "maps");
}
END_TEST

/*
 * P_name is its row's slot (param_names.h): every slot holds its row's
 * name, and param_find() takes it to that row; the same name from
 * anywhere else (a copy, main.cf) finds the same row by search, and a
 * pointer into a slot that is not its start is not taken for the row.
 */
START_TEST(test_find_slot)
{
	const struct param_def *p = &param_table[_i];
	char copy[PARAM_NAME_SLOT];
	ck_assert_str_eq(param_name_slot[_i], param_name(p));
	ck_assert_ptr_eq(param_find(param_name_slot[_i]), p);
	strlcpy(copy, param_name(p), sizeof(copy));
	ck_assert_ptr_eq(param_find(copy), p);
	const struct param_def *suffix = param_find(param_name_slot[_i] + 1);
	ck_assert(suffix == NULL || strcmp(param_name(suffix), param_name(p) + 1) == 0);
}
END_TEST

START_TEST(test_find_named)
{
	ck_assert_ptr_eq(param_find(P_myhostname), param_find("myhostname"));
	ck_assert_str_eq(param_name(param_find(P_myhostname)), "myhostname");
	ck_assert_str_eq(param_name(param_find(P_virtual_alias_maps)), "virtual_alias_maps");
	ck_assert_str_eq(P_queue_directory, "queue_directory");
}
END_TEST

int main(void)
{
	log_init("test_params", 0);
	Suite *s = suite_create("params");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_sorted_unique);
	tcase_add_loop_test(tc, test_row, 0, (int)param_count);
	tcase_add_loop_test(tc, test_unimplemented_warns, 0, (int)param_count);
	tcase_add_loop_test(tc, test_required, 0, sizeof(required) / sizeof(required[0]));
	tcase_add_loop_test(tc, test_defaults, 0, sizeof(defaults) / sizeof(defaults[0]));
	tcase_add_test(tc, test_find);
	tcase_add_loop_test(tc, test_find_slot, 0, (int)param_count);
	tcase_add_test(tc, test_find_named);
	tcase_add_loop_test(tc, test_texts_as_written, 0, (int)param_count);
	tcase_add_test(tc, test_texts_known);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
