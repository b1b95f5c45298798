/*
 * sasl_auth.c - test program: authenticate one user through Tern's SASL
 * library (lib/mail/sasl.h), playing the client's part of PLAIN or
 * LOGIN, so that end-to-end tests can exercise the backends without
 * smtpd. Runs as whoever runs the test; no privileges of its own.
 *
 *   sasl_auth -d SOCKET [options] MECH USER PASS    Dovecot backend
 *   sasl_auth -t FILE   [options] MECH USER PASS    tern backend; FILE has
 *                                                   "user crypt-hash" lines
 *   sasl_auth -d SOCKET -m                          print the mechanisms
 * Options:
 *   -s       the session counts as encrypted (Dovecot's "secured")
 *   -a ADDR  client address passed to the backend (default 127.0.0.1)
 *   -n       no initial response (PLAIN sends everything after "334 ")
 *   -r N     authenticate N times in this process (default 1)
 *   -P N     N threads at once: the first with a wrong password (started
 *            100 ms ahead), the others with PASS; succeeds when the others
 *            all authenticate and finish before the failure is answered,
 *            i.e. a slow failure (Dovecot's auth_failure_delay) does not
 *            hold up other exchanges of the process
 *
 * Prints "ok USER" and exits 0 when every attempt succeeded; prints
 * "fail: REASON" and exits 1 on a refusal, 75 on a temporary failure,
 * 64 on bad usage.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "mail/sasl.h"
#include "mail/sasl_backend.h"
#include "util/buf.h"
#include "util/mem.h"

static const char *pwfile;

/* The tern backend's lookup, from a plain text file read on each call. */
static int file_lookup(void *ctx, const char *user, struct buf *value)
{
	(void)ctx;
	FILE *f = fopen(pwfile, "r");
	if (f == NULL) {
		buf_printf(value, "open %s: %m", pwfile);
		return -1;
	}
	char line[1024];
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		char *sp = line + strcspn(line, " \t");
		if (*sp == '\0')
			continue;
		*sp++ = '\0';
		if (strcmp(line, user) == 0) {
			buf_adds(value, sp + strspn(sp, " \t"));
			found = 1;
		}
	}
	fclose(f);
	return found;
}

struct worker {
	pthread_t tid;
	const char *mech, *user, *pass, *addr;
	bool secured;
	enum sasl_status st;
	long long end_ms;
	struct buf why, who;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum sasl_status authenticate(const char *mech, const char *user, const char *pass,
				     const char *addr, bool secured, bool initial,
				     struct buf *why, struct buf *who);

static void *work(void *arg)
{
	struct worker *w = arg;
	w->st = authenticate(w->mech, w->user, w->pass, w->addr, w->secured, true, &w->why, &w->who);
	w->end_ms = now_ms();
	return NULL;
}

/* The -P test; returns the exit status. */
static int parallel(int n, const char *mech, const char *user, const char *pass,
		    const char *addr, bool secured)
{
	struct worker *w = xcalloc((size_t)n, sizeof *w);
	char *wrong = xasprintf("%s-wrong", pass);
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){.mech = mech, .user = user, .pass = i ? pass : wrong,
				       .addr = addr, .secured = secured};
		buf_init(&w[i].why);
		buf_init(&w[i].who);
		if (pthread_create(&w[i].tid, NULL, work, &w[i]) != 0) {
			printf("fail: pthread_create\n");
			return EX_OSERR;
		}
		if (i == 0)
			usleep(100000);
	}
	for (int i = 0; i < n; i++)
		pthread_join(w[i].tid, NULL);
	int rc = 0;
	if (w[0].st != SASL_FAIL) {
		printf("fail: the wrong password gave status %d\n", w[0].st);
		rc = 1;
	}
	for (int i = 1; i < n && rc == 0; i++) {
		if (w[i].st != SASL_DONE) {
			printf("fail: thread %d: %s\n", i, buf_str(&w[i].why));
			rc = w[i].st == SASL_TEMPFAIL ? EX_TEMPFAIL : 1;
		} else if (w[i].end_ms >= w[0].end_ms) {
			printf("fail: thread %d waited for the slow failure\n", i);
			rc = 1;
		}
	}
	if (rc == 0)
		printf("ok %s\n", buf_str(&w[1].who));
	for (int i = 0; i < n; i++) {
		buf_free(&w[i].why);
		buf_free(&w[i].who);
	}
	free(wrong);
	free(w);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: sasl_auth (-d SOCKET | -t FILE) [-s] [-a ADDR] [-n] [-r N] [-P N] "
		"MECH USER PASS\n       sasl_auth -d SOCKET -m\n");
	exit(EX_USAGE);
}

/* One exchange; returns the sasl_status of its end. */
static enum sasl_status authenticate(const char *mech, const char *user, const char *pass,
				     const char *addr, bool secured, bool initial,
				     struct buf *why, struct buf *who)
{
	struct sasl_server *s = sasl_server_new(mech, addr, secured);
	if (s == NULL) {
		buf_printf(why, "mechanism %s not offered", mech);
		return SASL_FAIL;
	}
	struct buf resp = BUF_INIT, ch = BUF_INIT;
	bool plain = strcasecmp(mech, "PLAIN") == 0;
	const char *data = NULL;
	size_t len = 0;
	if (plain && initial) {
		buf_addc(&resp, '\0');
		buf_adds(&resp, user);
		buf_addc(&resp, '\0');
		buf_adds(&resp, pass);
		data = resp.data;
		len = resp.len;
	}
	enum sasl_status st;
	int round = 0;
	while ((st = sasl_server_step(s, data, len, &ch)) == SASL_CONTINUE) {
		buf_reset(&resp);
		if (plain) {
			buf_addc(&resp, '\0');
			buf_adds(&resp, user);
			buf_addc(&resp, '\0');
			buf_adds(&resp, pass);
		} else if (round == 0) {
			buf_adds(&resp, user);		/* "Username:" */
		} else {
			buf_adds(&resp, pass);		/* "Password:" */
		}
		data = resp.data ? resp.data : "";
		len = resp.len;
		round++;
	}
	if (st == SASL_DONE)
		buf_adds(who, sasl_username(s));
	else
		buf_add(why, ch.data ? ch.data : "", ch.len);
	sasl_server_free(s);
	buf_free(&resp);
	buf_free(&ch);
	return st;
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *addr = "127.0.0.1";
	bool secured = false, initial = true, list = false;
	int repeat = 1, threads = 0, c;
	while ((c = getopt(argc, argv, "d:t:sa:nr:mP:")) != -1) {
		switch (c) {
		case 'd': sock = optarg; break;
		case 't': pwfile = optarg; break;
		case 's': secured = true; break;
		case 'a': addr = optarg; break;
		case 'n': initial = false; break;
		case 'r': repeat = atoi(optarg); break;
		case 'm': list = true; break;
		case 'P': threads = atoi(optarg); break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if ((sock == NULL) == (pwfile == NULL) || (!list && argc != 3) || repeat < 1)
		usage();

	struct buf err = BUF_INIT;
	struct sasl_setup su = {
		.type = sock ? "dovecot" : "tern",
		.dovecot_path = sock,
		.lookup = file_lookup,
		.timeout = 10,
	};
	if (sasl_server_setup(&su, &err) < 0) {
		printf("fail: %s\n", buf_str(&err));
		buf_free(&err);
		return EX_TEMPFAIL;
	}
	if (list) {
		printf("%s\n", sasl_server_mechanisms(secured));
		sasl_server_shutdown();
		buf_free(&err);
		return 0;
	}
	if (threads >= 2) {
		int rc = parallel(threads, argv[0], argv[1], argv[2], addr, secured);
		sasl_server_shutdown();
		buf_free(&err);
		return rc;
	}
	struct buf why = BUF_INIT, who = BUF_INIT;
	enum sasl_status st = SASL_DONE;
	for (int i = 0; i < repeat && st == SASL_DONE; i++) {
		buf_reset(&who);
		st = authenticate(argv[0], argv[1], argv[2], addr, secured, initial, &why, &who);
	}
	int rc;
	if (st == SASL_DONE) {
		printf("ok %s\n", buf_str(&who));
		rc = 0;
	} else {
		printf("fail: %s\n", buf_str(&why));
		rc = st == SASL_TEMPFAIL ? EX_TEMPFAIL : 1;
	}
	buf_free(&why);
	buf_free(&who);
	buf_free(&err);
	sasl_server_shutdown();
	return rc;
}
