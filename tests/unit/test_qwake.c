/*
 * test_qwake.c - Check suite for waking the queue manager
 * (lib/mail/qwake.c): every request arrives as one datagram, the kept
 * socket serves many sends and several threads, a descriptor closed or
 * reused behind its back is replaced, and a missing listener is an
 * error the caller may ignore.
 */
#include "compat.h"

#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mail/qwake.h"

static char dir[64], path[128];
static int listener = -1;

static void setup(void)
{
	strlcpy(dir, "/tmp/tern-qwake.XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/qmgr", dir);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	listener = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(listener, 0);
	ck_assert_int_eq(bind(listener, (struct sockaddr *)&sun, sizeof(sun)), 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static void teardown(void)
{
	close(listener);
	unlink(path);
	rmdir(dir);
}

static void expect(const char *word)
{
	char got[16];
	ssize_t n = recv(listener, got, sizeof(got) - 1, 0);
	ck_assert_int_eq(n, (ssize_t)strlen(word));
	got[n] = '\0';
	ck_assert_str_eq(got, word);
}

START_TEST(test_requests_arrive)
{
	static const char *const words[] = {QWAKE_NEW, QWAKE_FLUSH, QWAKE_DUE, QWAKE_NEW};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		ck_assert_int_eq(qwake_send_path(path, words[i]), 0);
		expect(words[i]);
	}
}
END_TEST

/* Few enough to fit the receiving queue (net.unix.max_dgram_qlen, 10 at least). */
enum { THREADS = 4, EACH = 2 };

static void *sender(void *arg)
{
	(void)arg;
	for (int i = 0; i < EACH; i++)
		if (qwake_send_path(path, QWAKE_NEW) != 0)
			return (void *)1;
	return NULL;
}

START_TEST(test_threads_share_the_socket)
{
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, sender, NULL), 0);
	for (int i = 0; i < THREADS; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		ck_assert_ptr_null(rc);
	}
	for (int i = 0; i < THREADS * EACH; i++)
		expect(QWAKE_NEW);
}
END_TEST

START_TEST(test_descriptor_reused_behind_its_back)
{
	ck_assert_int_eq(qwake_send_path(path, QWAKE_NEW), 0);
	expect(QWAKE_NEW);
	/*
	 * A program closes every descriptor it does not know (as daemons do
	 * before they start) and the number comes back as a plain file: the
	 * next send must use a new socket, and leave that file alone.
	 */
	int keep[64], nkeep = 0;
	for (int fd = 3; fd < 64; fd++) {
		int type;
		socklen_t len = sizeof(type);
		if (fd != listener && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM) {
			close(fd);
			int file = open("/dev/null", O_RDONLY | O_CLOEXEC);
			ck_assert_int_eq(file, fd);
			keep[nkeep++] = file;
		}
	}
	ck_assert_int_ge(nkeep, 1);
	ck_assert_int_eq(qwake_send_path(path, QWAKE_FLUSH), 0);
	expect(QWAKE_FLUSH);
	for (int i = 0; i < nkeep; i++) {
		ck_assert_int_ne(fcntl(keep[i], F_GETFD), -1);	/* still open: not closed by qwake */
		close(keep[i]);
	}
}
END_TEST

START_TEST(test_no_listener)
{
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/none", dir);
	ck_assert_int_eq(qwake_send_path(missing, QWAKE_NEW), -1);
	ck_assert_int_eq(qwake_send_path(NULL, QWAKE_NEW), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("qwake");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_requests_arrive);
	tcase_add_test(tc, test_threads_share_the_socket);
	tcase_add_test(tc, test_descriptor_reused_behind_its_back);
	tcase_add_test(tc, test_no_listener);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
