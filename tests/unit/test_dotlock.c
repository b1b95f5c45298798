/*
 * test_dotlock.c - Check suite for dot-locks (lib/util/dotlock.c): when
 * a lock is stale (its holder's process id is gone, or it is older than
 * stale_lock_time), that one is broken at once, that a live holder's is
 * not, and that a holder stopped by SIGTERM removes its lock.
 */
#include "compat.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/dotlock.h"

/* A process id that exists no more: a child that has been reaped. */
static pid_t gone_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static void text_of(char *out, size_t size, long pid, const char *tail)
{
	snprintf(out, size, "%ld%s", pid, tail);
}

START_TEST(test_stale_rules)
{
	char t[64];
	time_t now = 1000000;
	long dead = (long)gone_pid();

	/* The holder is gone: stale at once, with or without a newline. */
	text_of(t, sizeof(t), dead, "\n");
	ck_assert(dotlock_is_stale(t, strlen(t), now, now, 500));
	text_of(t, sizeof(t), dead, "");
	ck_assert(dotlock_is_stale(t, strlen(t), now, now, 500));
	/* The holder lives (this process, and init): not stale until old. */
	text_of(t, sizeof(t), (long)getpid(), "\n");
	ck_assert(!dotlock_is_stale(t, strlen(t), now, now, 500));
	ck_assert(dotlock_is_stale(t, strlen(t), now - 501, now, 500));
	/* No readable process id: age only. */
	ck_assert(!dotlock_is_stale("", 0, now, now, 500));
	ck_assert(dotlock_is_stale("", 0, now - 501, now, 500));
	ck_assert(!dotlock_is_stale("0\n", 2, now, now, 500));
	ck_assert(!dotlock_is_stale("1\n", 2, now, now, 500));
	text_of(t, sizeof(t), dead, " x\n");
	ck_assert(!dotlock_is_stale(t, strlen(t), now, now, 500));
	text_of(t, sizeof(t), dead, "\n\n");
	ck_assert(!dotlock_is_stale(t, strlen(t), now, now, 500));
	ck_assert(!dotlock_is_stale("99999999999999999999\n", 21, now, now, 500));
	ck_assert(!dotlock_is_stale("-5\n", 3, now, now, 500));
	/* stale_lock_time 0: never by age. */
	ck_assert(!dotlock_is_stale("", 0, 0, now, 0));
}
END_TEST

static char dir[] = "/tmp/test_dotlock.XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	snprintf(dir, sizeof(dir), "/tmp/test_dotlock.XXXXXX");
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(test_take_release)
{
	char mbox[300], lockpath[310], text[64] = "";
	struct buf lock = BUF_INIT, other = BUF_INIT;

	snprintf(mbox, sizeof(mbox), "%s/user", dir);
	snprintf(lockpath, sizeof(lockpath), "%s.lock", mbox);
	ck_assert_int_eq(dotlock_take(mbox, 1, 1, 500, &lock), 1);
	ck_assert_str_eq(buf_str(&lock), lockpath);
	/* It names its holder. */
	FILE *f = fopen(lockpath, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(text, sizeof(text), f));
	fclose(f);
	ck_assert_int_eq(atol(text), (long)getpid());
	/* A live holder: busy. */
	ck_assert_int_eq(dotlock_take(mbox, 1, 1, 500, &other), -1);
	dotlock_release(&lock);
	ck_assert_int_ne(access(lockpath, F_OK), 0);

	/* A holder that is gone does not block, however fresh its lock. */
	snprintf(text, sizeof(text), "%ld\n", (long)gone_pid());
	write_file(lockpath, text);
	ck_assert_int_eq(dotlock_take(mbox, 1, 1, 500, &lock), 1);
	dotlock_release(&lock);
	/* A fresh lock without a process id waits for stale_lock_time. */
	write_file(lockpath, "");
	ck_assert_int_eq(dotlock_take(mbox, 1, 1, 500, &lock), -1);
	unlink(lockpath);
	buf_free(&lock);
	buf_free(&other);
}
END_TEST

START_TEST(test_removed_on_sigterm)
{
	char mbox[300], lockpath[310];
	int p[2];

	snprintf(mbox, sizeof(mbox), "%s/user", dir);
	snprintf(lockpath, sizeof(lockpath), "%s.lock", mbox);
	ck_assert_int_eq(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct buf lock = BUF_INIT;
		signal(SIGTERM, SIG_DFL);
		if (dotlock_take(mbox, 1, 1, 500, &lock) != 1)
			_exit(2);
		if (write(p[1], "x", 1) != 1)
			_exit(3);
		pause();
		_exit(4);
	}
	char c;
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(access(lockpath, F_OK), 0);
	kill(pid, SIGTERM);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	/* It died of the signal, as it would have, and its lock went first. */
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
	ck_assert_int_ne(access(lockpath, F_OK), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("dotlock");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_stale_rules);
	suite_add_tcase(s, tc);
	TCase *tf = tcase_create("files");
	tcase_add_checked_fixture(tf, setup, teardown);
	tcase_add_test(tf, test_take_release);
	tcase_add_test(tf, test_removed_on_sigterm);
	suite_add_tcase(s, tf);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
