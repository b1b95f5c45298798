/*
 * test_sasl_init.c - Check suite for sasl_server_init() (lib/mail/
 * sasl_init.c): the SASL backend chosen from main.cf, with the tern
 * backend reading real maps (texthash: and hash:) and the Dovecot socket
 * path resolved against queue_directory.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/sasl.h"
#include "mail/sasl_backend.h"
#include "util/map.h"

/* "secret" (yescrypt), made with crypt(3). */
#define HASH_SECRET "$y$j9T$VOK7F2YQJ3RsMlkvIq7sR0$SkCIRtVlZVR2QJHfOX8ALDw2s25K6Lc3LnNIBKp4.g."

static char dir[64];

static void write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void make_dir(void)
{
	strlcpy(dir, "/tmp/tern-test-sasl-init.XXXXXX", sizeof dir);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
	sasl_server_shutdown();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void load(const char *main_cf)
{
	write_file("main.cf", main_cf);
	struct buf err = BUF_INIT;
	ck_assert_msg(config_load(dir, false, &err) == 0, "%s", buf_str(&err));
	buf_free(&err);
}

static enum sasl_status plain(const char *user, const char *pass, const char **who)
{
	struct buf msg = BUF_INIT, ch = BUF_INIT;
	buf_addc(&msg, '\0');
	buf_adds(&msg, user);
	buf_addc(&msg, '\0');
	buf_adds(&msg, pass);
	struct sasl_server *s = sasl_server_new("PLAIN", "192.0.2.1", true);
	ck_assert_ptr_nonnull(s);
	enum sasl_status st = sasl_server_step(s, msg.data, msg.len, &ch);
	static char name[64];
	name[0] = '\0';
	if (sasl_username(s))
		strlcpy(name, sasl_username(s), sizeof name);
	*who = name;
	sasl_server_free(s);
	buf_free(&msg);
	buf_free(&ch);
	return st;
}

START_TEST(test_tern_texthash)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	buf_printf(&text, "# user  crypt(3) hash\nalice %s\n", HASH_SECRET);
	write_file("sasl_passwd", text.data);
	buf_reset(&text);
	buf_printf(&text, "smtpd_sasl_type = tern\n"
		   "smtpd_sasl_password_maps = texthash:%s/sasl_passwd\n", dir);
	load(text.data);
	ck_assert_msg(sasl_server_init(&err) == 0, "%s", buf_str(&err));
	ck_assert_str_eq(sasl_server_mechanisms(true), "PLAIN LOGIN");
	const char *who;
	ck_assert_int_eq(plain("alice", "secret", &who), SASL_DONE);
	ck_assert_str_eq(who, "alice");
	ck_assert_int_eq(plain("alice", "Secret", &who), SASL_FAIL);
	ck_assert_int_eq(plain("bob", "secret", &who), SASL_FAIL);
	/* Map keys fold case, as user names do in Postfix's tables. */
	ck_assert_int_eq(plain("ALICE", "secret", &who), SASL_DONE);
	buf_free(&text);
	buf_free(&err);
}
END_TEST

START_TEST(test_tern_hash)
{
	struct buf spec = BUF_INIT, err = BUF_INIT;
	buf_printf(&spec, "hash:%s/sasl_passwd", dir);
	struct map *m = map_open(spec.data, MAP_WRITE | MAP_CREATE | MAP_TRUNC, &err);
	ck_assert_msg(m != NULL, "%s", buf_str(&err));
	ck_assert_int_eq(map_update(m, "carol", HASH_SECRET), 1);
	ck_assert_int_eq(map_update(m, "locked", "!" HASH_SECRET), 1);
	ck_assert_int_eq(map_close(m), 0);
	struct buf text = BUF_INIT;
	buf_printf(&text, "smtpd_sasl_type = tern\nsmtpd_sasl_password_maps = %s\n", spec.data);
	load(text.data);
	ck_assert_msg(sasl_server_init(&err) == 0, "%s", buf_str(&err));
	const char *who;
	ck_assert_int_eq(plain("carol", "secret", &who), SASL_DONE);
	ck_assert_str_eq(who, "carol");
	ck_assert_int_eq(plain("carol", "secret2", &who), SASL_FAIL);
	ck_assert_int_eq(plain("locked", "secret", &who), SASL_FAIL);
	buf_free(&spec);
	buf_free(&text);
	buf_free(&err);
}
END_TEST

START_TEST(test_tern_without_maps)
{
	struct buf err = BUF_INIT;
	load("smtpd_sasl_type = tern\n");
	ck_assert_int_eq(sasl_server_init(&err), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&err), "smtpd_sasl_password_maps"));
	buf_free(&err);
}
END_TEST

START_TEST(test_dovecot_relative_path)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	buf_printf(&text, "queue_directory = %s/queue\n"
		   "smtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth\n", dir);
	load(text.data);
	/* Nothing listens there: the error names the resolved path. */
	ck_assert_int_eq(sasl_server_init(&err), -1);
	buf_reset(&text);
	buf_printf(&text, "%s/queue/private/auth", dir);
	ck_assert_msg(strstr(buf_str(&err), text.data) != NULL, "%s", buf_str(&err));
	buf_free(&text);
	buf_free(&err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sasl_init");
	TCase *tc = tcase_create("config");
	tcase_add_checked_fixture(tc, make_dir, remove_dir);
	tcase_add_test(tc, test_tern_texthash);
	tcase_add_test(tc, test_tern_hash);
	tcase_add_test(tc, test_tern_without_maps);
	tcase_add_test(tc, test_dovecot_relative_path);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
