/*
 * test_instance.c - Check suite for tern init's work (lib/mail/instance.c):
 * a new instance in an empty directory (files, settings, queue modes, the
 * port), a second run that changes nothing, and the directories it must
 * refuse (foreign files, a half-made instance).
 */
#include "compat.h"

#include <check.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/instance.h"

enum setup { EMPTY, FOREIGN_FILE, HALF_MADE, MADE_BEFORE };

struct init_case {
	const char *label;
	enum setup setup;
	int port;
	const char *stage;
	enum instance_status want;
	int want_port;		/* 0 = any picked port */
};

static const struct init_case init_cases[] = {
	{ .label = "empty, given port", .setup = EMPTY, .port = 2525, .want = INSTANCE_MADE, .want_port = 2525 },
	{ .label = "empty, picked port", .setup = EMPTY, .want = INSTANCE_MADE },
	{ .label = "empty, build tree", .setup = EMPTY, .port = 2600, .stage = "/build/stage",
	  .want = INSTANCE_MADE, .want_port = 2600 },
	{ .label = "second run keeps its port", .setup = MADE_BEFORE, .port = 3000,
	  .want = INSTANCE_EXISTS, .want_port = 2700 },
	{ .label = "foreign file", .setup = FOREIGN_FILE, .port = 2525, .want = INSTANCE_FOREIGN },
	{ .label = "half made (no main.cf)", .setup = HALF_MADE, .port = 2525, .want = INSTANCE_FOREIGN },
};

static void touch(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("x\n", f);
	fclose(f);
}

static void has_line(const char *text, const char *line)
{
	char *want = NULL;
	ck_assert_int_gt(asprintf(&want, "\n%s\n", line), 0);
	ck_assert_msg(strstr(text, want) != NULL, "main.cf lacks \"%s\"", line);
	free(want);
}

START_TEST(test_init)
{
	const struct init_case *c = &init_cases[_i];
	char dir[] = "/tmp/test_instance.XXXXXX", path[600], *line = NULL;
	struct buf err = BUF_INIT;
	struct stat before, after;
	int port = -1;
	ck_assert_ptr_nonnull(mkdtemp(dir));

	struct instance_opts opts = { .port = c->port, .stage = c->stage, .drop_group = "no-such-group-x" };
	if (c->setup == FOREIGN_FILE)
		touch(dir, "notes.txt");
	if (c->setup == HALF_MADE) {
		snprintf(path, sizeof(path), "%s/queue", dir);
		ck_assert_int_eq(mkdir(path, 0755), 0);
	}
	if (c->setup == MADE_BEFORE) {
		struct instance_opts first = { .port = 2700 };
		ck_assert_int_eq(instance_init(dir, &first, &port, &err), INSTANCE_MADE);
	}
	snprintf(path, sizeof(path), "%s/main.cf", dir);
	int had = stat(path, &before) == 0;

	enum instance_status st = instance_init(dir, &opts, &port, &err);
	ck_assert_msg(st == c->want, "%s: status %d (%s)", c->label, st, buf_str(&err));

	if (c->want == INSTANCE_FOREIGN) {
		ck_assert(!instance_is(dir));
		ck_assert_int_ne(stat(path, &after), 0);	/* nothing written */
	} else {
		ck_assert(instance_is(dir));
		if (c->want_port)
			ck_assert_int_eq(port, c->want_port);
		else
			ck_assert(port >= 20000 && port <= 32767);
		ck_assert_int_eq(instance_smtp_port(dir), port);
		char *text = instance_read(dir, "main.cf");
		ck_assert_ptr_nonnull(text);
		const char *me = getpwuid(geteuid())->pw_name;
		const char *want[] = { "mail_owner = %s", "queue_directory = %s/queue", "data_directory = %s/data",
				       "maillog_file = %s/maillog", "local_maildir_base = %s/mail",
				       "alias_maps = hash:%s/aliases", "alias_database = hash:%s/aliases" };
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			ck_assert_int_gt(asprintf(&line, want[i], i == 0 ? me : dir), 0);
			has_line(text, line);
			free(line);
		}
		has_line(text, "inet_protocols = ipv4");
		has_line(text, "inet_interfaces = 127.0.0.1");
		if (c->stage) {
			has_line(text, "daemon_directory = /build/stage");
			has_line(text, "command_directory = /build/stage");
		} else {
			ck_assert_ptr_null(strstr(text, "daemon_directory"));
		}
		free(text);
		snprintf(path, sizeof(path), "%s/aliases.db", dir);	/* alias_maps is usable at once */
		ck_assert_int_eq(stat(path, &after), 0);
		snprintf(path, sizeof(path), "%s/queue/maildrop", dir);
		ck_assert_int_eq(stat(path, &after), 0);
		ck_assert_uint_eq(after.st_mode & 07777, 01730);
		snprintf(path, sizeof(path), "%s/mail", dir);
		ck_assert_int_eq(stat(path, &after), 0);
		ck_assert_uint_eq(after.st_mode & 07777, 0700);
		if (had) {	/* the second run rewrote nothing */
			snprintf(path, sizeof(path), "%s/main.cf", dir);
			ck_assert_int_eq(stat(path, &after), 0);
			ck_assert_int_eq(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
			ck_assert_int_eq(after.st_ino, before.st_ino);
		}
	}
	buf_free(&err);
	char *cmd = NULL;
	ck_assert_int_gt(asprintf(&cmd, "rm -rf '%s'", dir), 0);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}
END_TEST

START_TEST(test_pick_port)
{
	int a = instance_pick_port();
	ck_assert(a >= 20000 && a <= 32767);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("instance");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_init, 0, sizeof(init_cases) / sizeof(init_cases[0]));
	tcase_add_test(tc, test_pick_port);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
