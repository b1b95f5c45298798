/*
 * test_log.c - Check suite for the log file writer (lib/util/log.c): it
 * keeps the file open between lines but follows rotation (looking at
 * the name once a second) and a forked child never writes into a
 * descriptor that now means something else; syslog_name
 * and syslog_facility (log_set_syslog) and the file/syslog switch;
 * threads that log at once (without a lock) never split or mix lines.
 * Runs unprivileged.
 */
#include "compat.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/mem.h"

static char dir[64];
static char *path, *rotated, *other;

static void setup(void)
{
	strlcpy(dir, "/tmp/tern-log.XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	path = xasprintf("%s/maillog", dir);
	rotated = xasprintf("%s/maillog.1", dir);
	other = xasprintf("%s/other", dir);
	log_init("test", LOG_TO_FILE);
	log_set_file(path);
}

static void teardown(void)
{
	log_set_file(NULL);
	unlink(path);
	unlink(rotated);
	unlink(other);
	rmdir(dir);
	free(path);
	free(rotated);
	free(other);
}

/* Number of lines in file containing word. */
static int count(const char *file, const char *word)
{
	FILE *f = fopen(file, "r");
	if (f == NULL)
		return 0;
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, word))
			n++;
	fclose(f);
	return n;
}

/*
 * The file line, put together without snprintf: "Mon dd hh:mm:ss host
 * name[pid]: text" and a newline, nothing more; the longest message
 * (4 KiB, cut there) still ends in its newline.
 */
START_TEST(test_file_line_format)
{
	msg_info("hello %s", "world");
	char *big = xmalloc(6000);
	memset(big, 'x', 5999);
	big[5999] = '\0';
	msg_info("%s", big);
	free(big);

	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char line[9000], want[64];
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	snprintf(want, sizeof(want), " test[%ld]: hello world\n", (long)getpid());
	size_t len = strlen(line), wlen = strlen(want);
	ck_assert_uint_gt(len, wlen + 16);
	ck_assert_str_eq(line + len - wlen, want);
	char mon[4], host[256];
	int day, h, m, sec, used = 0;
	ck_assert_int_eq(sscanf(line, "%3s %d %d:%d:%d %255s%n", mon, &day, &h, &m, &sec, host, &used), 6);
	ck_assert_uint_eq((size_t)used, len - wlen);	/* the host, then " test[pid]" */
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	len = strlen(line);
	ck_assert_uint_gt(len, 4000);
	ck_assert_int_eq(line[len - 1], '\n');
	ck_assert_int_eq(line[len - 2], 'x');
	ck_assert_ptr_null(fgets(line, sizeof(line), f));
	fclose(f);
}
END_TEST

START_TEST(test_rotation_followed)
{
	msg_info("first");
	msg_info("second");
	ck_assert_int_eq(count(path, "first"), 1);
	ck_assert_int_eq(count(path, "second"), 1);
	ck_assert_int_eq(rename(path, rotated), 0);
	sleep(1);	/* the name is looked at once a second: the next one differs */
	msg_info("third");
	ck_assert_int_eq(count(rotated, "third"), 0);
	ck_assert_int_eq(count(path, "third"), 1);
	ck_assert_int_eq(unlink(path), 0);
	sleep(1);
	msg_info("fourth");
	ck_assert_int_eq(count(path, "fourth"), 1);
}
END_TEST

START_TEST(test_reused_descriptor_untouched)
{
	msg_info("one");
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Close every descriptor from 3 on and reuse the numbers, as a child before exec may. */
		for (int fd = 3; fd < 64; fd++)
			close(fd);
		if (open(other, O_WRONLY | O_CREAT | O_TRUNC, 0600) < 0)
			_exit(2);
		for (int i = 0; i < 8; i++)
			if (open(other, O_WRONLY) < 0)
				_exit(2);
		msg_info("two");
		_exit(0);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(count(other, "two"), 0);
	ck_assert_int_eq(count(path, "two"), 1);
	msg_info("three");	/* the parent's descriptor still works */
	ck_assert_int_eq(count(path, "three"), 1);
}
END_TEST

enum { WRITERS = 6, LINES = 3000 };

static void *writer(void *arg)
{
	long t = (long)arg;
	for (int i = 0; i < LINES; i++)
		msg_info("w%ld-%05d-%s", t, i, "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz");
	return NULL;
}

/* Lines of file that are whole writer lines; *bad counts the others. */
static int whole_lines(const char *file, int *bad)
{
	FILE *f = fopen(file, "r");
	if (f == NULL)
		return 0;
	char line[1024];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		long t;
		int i, end = 0;
		/* "Dec  5 05:38:07 host test[42]: w3-00012-abc...xyz", nothing more, nothing less */
		if (sscanf(line, "%*3s %*d %*d:%*d:%*d %*s test[%*d]: w%ld-%d-%*[a-z0-9]%n", &t, &i, &end) == 2
		    && end > 0 && strcmp(line + end, "\n") == 0
		    && strstr(line, "-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n") != NULL)
			n++;
		else
			(*bad)++;
	}
	fclose(f);
	return n;
}

/*
 * Threads write without a lock: each line is one write() on the O_APPEND
 * descriptor, so every line arrives whole, none is lost, and a rotation
 * in the middle sends each line to the old file or the new one.
 */
START_TEST(test_threads_lines_whole)
{
	pthread_t th[WRITERS];
	msg_info("start");
	for (long t = 0; t < WRITERS; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, writer, (void *)t), 0);
	ck_assert_int_eq(rename(path, rotated), 0);
	for (int t = 0; t < WRITERS; t++)
		ck_assert_int_eq(pthread_join(th[t], NULL), 0);
	int bad = 0;
	int n = whole_lines(path, &bad) + whole_lines(rotated, &bad);
	ck_assert_int_eq(bad, 1);	/* "start" */
	ck_assert_int_eq(n, WRITERS * LINES);
}
END_TEST

START_TEST(test_syslog_names)
{
	ck_assert_int_eq(log_facility_code("mail"), LOG_MAIL);
	ck_assert_int_eq(log_facility_code("LOCAL3"), LOG_LOCAL3);
	ck_assert_int_eq(log_facility_code("authpriv"), LOG_AUTHPRIV);
	ck_assert_int_eq(log_facility_code("mail2"), -1);
	ck_assert_int_eq(log_facility_code(""), -1);
	log_init("tern/smtpd", LOG_TO_STDERR);
	log_set_syslog("mx2", LOG_LOCAL3);
	ck_assert_str_eq(log_progname(), "mx2/smtpd");
	log_set_syslog("tern", -1);
	ck_assert_str_eq(log_progname(), "tern/smtpd");
	log_set_syslog("", -1);
	ck_assert_str_eq(log_progname(), "tern/smtpd");
	log_init("ternmap", LOG_TO_STDERR);	/* a name without a slash keeps it */
	log_set_syslog("mx2", -1);
	ck_assert_str_eq(log_progname(), "ternmap");
}
END_TEST

/* A log file cleared again (-o maillog_file=) means syslog, not silence. */
START_TEST(test_file_cleared_means_syslog)
{
	log_init("test", LOG_TO_SYSLOG);
	log_set_file(path);
	ck_assert_int_eq(log_get_dest(), LOG_TO_FILE);
	log_set_file("");
	ck_assert_int_eq(log_get_dest(), LOG_TO_SYSLOG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rotation_followed);
	tcase_add_test(tc, test_file_line_format);
	tcase_add_test(tc, test_reused_descriptor_untouched);
	tcase_add_test(tc, test_threads_lines_whole);
	tcase_add_test(tc, test_syslog_names);
	tcase_add_test(tc, test_file_cleared_means_syslog);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
