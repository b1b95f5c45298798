/*
 * ternqueue.c - list and manage the mail queue (postqueue and postsuper
 * in one tool).
 *
 * NAME
 *	ternqueue - Tern queue control
 * SYNOPSIS
 *	ternqueue [-c config_dir] -p | -j | -f
 *	ternqueue [-c config_dir] -f -I|-R|-S [!]substr
 *	ternqueue [-c config_dir] -c queue_id
 *	ternqueue [-c config_dir] -d|-h|-H|-r queue_id|ALL|- ...
 * DESCRIPTION
 *	-p lists the queue as mailq does (mailq_format = sendmail or
 *	postfix), -j as JSON lines with the keys of postqueue -j, -f asks the
 *	queue manager to retry all deferred mail now; with -I, -R or -S only
 *	the deferred mail whose queue id, a recipient or the sender contains
 *	substr (a leading "!": does not contain; sendmail -qI/-qR/-qS).
 *	-c ID shows a message
 *	(envelope and content). -d deletes, -h puts on hold, -H releases
 *	from hold, -r requeues (delivers again now) the named messages; ALL
 *	means every message, "-" reads queue ids from standard input.
 *	-c DIR (an existing directory, not a queue id) selects the
 *	configuration directory, as in Postfix's tools.
 * SECURITY
 *	Runs with the caller's privileges. Listing works for anyone (through
 *	the queue manager's public socket when the queue is not readable);
 *	-c, -d, -h, -H and -r need root or mail_owner.
 * CONFIGURATION PARAMETERS
 *	queue_directory, mailq_format.
 */
#include "compat.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/mailq.h"
#include "mail/qadmin.h"
#include "mail/qfile.h"
#include "mail/qwake.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

static void usage(void)
{
	fprintf(stderr, "usage: ternqueue [-c config_dir] -p | -j | -f | -c queue_id |"
	    " -d|-h|-H|-r queue_id|ALL|- ...\n"
	    "       ternqueue [-c config_dir] -f -I|-R|-S [!]substr\n");
	exit(EX_USAGE);
}

static int write_out(const struct buf *b)
{
	return b->len == 0 || fwrite(b->data, 1, b->len, stdout) == b->len ? 0 : -1;
}

static int show(const char *qdir, const char *id)
{
	struct buf err = BUF_INIT;
	struct qfile *q;
	const char *qname;
	char chunk[8192];
	ssize_t n;
	time_t t;

	switch (qadmin_open(qdir, id, &q, &qname, &err)) {
	case 0:
		fprintf(stderr, "ternqueue: %s: no such message\n", id);
		return EX_NOINPUT;
	case -1:
		fprintf(stderr, "ternqueue: %s\n", buf_str(&err));
		buf_free(&err);
		return EX_DATAERR;
	}
	t = qfile_arrival(q).tv_sec;
	printf("*** ENVELOPE RECORDS %s/%s ***\n", qname, id);
	printf("arrival_time: %s", ctime(&t));
	printf("message_size: %llu\n", qfile_content_size(q));
	printf("sender: %s\n", qfile_sender(q));
	for (size_t i = 0; i < qfile_attr_count(q); i++) {
		const char *name, *value;
		qfile_attr_get(q, i, &name, &value);
		printf("attribute: %s=%s\n", name, value);
	}
	for (size_t i = 0; i < qfile_rcpt_count(q); i++) {
		const struct qfile_rcpt *r = qfile_rcpt(q, i);
		const char *st = r->status == QF_RCPT_PENDING ? "pending"
		    : r->status == QF_RCPT_DELIVERED ? "delivered"
		    : r->status == QF_RCPT_BOUNCED ? "bounced" : "expanded";
		printf("recipient: %s (%s)%s%s\n", r->address, st, *r->orcpt ? " orcpt=" : "", r->orcpt);
	}
	printf("*** MESSAGE CONTENTS %s/%s ***\n", qname, id);
	fflush(stdout);
	qfile_rewind(q);
	while ((n = qfile_read(q, chunk, sizeof(chunk))) > 0)
		if (fwrite(chunk, 1, (size_t)n, stdout) != (size_t)n)
			break;
	printf("*** END OF MESSAGE %s/%s ***\n", qname, id);
	qfile_close(q);
	buf_free(&err);
	return 0;
}

/*
 * Ask qmgr to retry deferred mail: private datagram if we may, else public
 * socket. A filter ("I substr", "!R substr") always goes to the public
 * socket, and qmgr answers how many messages matched. 0 ok, -1 mail
 * system down, -2 request refused.
 */
static int flush(const char *qdir, const char *filter)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 30};
	struct buf req = BUF_INIT;
	char reply[64];
	int fd, n;

	if (filter == NULL && qwake_send(qdir, QWAKE_FLUSH) == 0)
		return 0;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/public/qmgr", qdir);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (filter != NULL)
		buf_printf(&req, "flush %s\n", filter);
	else
		buf_adds(&req, "flush\n");
	bool sent = write(fd, req.data, req.len) == (ssize_t)req.len;
	buf_free(&req);
	if (!sent || filter == NULL) {
		close(fd);
		return sent ? 0 : -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = (int)read(fd, reply, sizeof(reply) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	reply[n] = '\0';
	if (strncmp(reply, "ok ", 3) != 0)
		return -2;
	msg_debug("flush requested for %ld message(s)", strtol(reply + 3, NULL, 10));
	return 0;
}

/* "X substr" for -I/-R/-S: bounded, printable, not empty. */
static char *make_filter(int what, const char *arg)
{
	struct buf f = BUF_INIT;
	bool neg = arg[0] == '!';

	if (neg)
		arg++;
	if (*arg == '\0' || strlen(arg) > 255) {
		fprintf(stderr, "ternqueue: -%c needs a substring of 1 to 255 characters\n", what);
		exit(EX_USAGE);
	}
	for (const char *c = arg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			fprintf(stderr, "ternqueue: -%c: control character in the substring\n", what);
			exit(EX_USAGE);
		}
	buf_printf(&f, "%s%c %s", neg ? "!" : "", what, arg);
	return buf_steal(&f);
}

int main(int argc, char **argv)
{
	const char *confdir = NULL, *show_id = NULL;
	char *filter = NULL;
	int mode = 0, opt;
	enum qadmin_op op = 0;
	char **ids = NULL;
	size_t nids = 0;
	struct buf err = BUF_INIT, out = BUF_INIT;
	const char *qdir;
	int ret = 0;

	log_init("tern/ternqueue", LOG_TO_STDERR);
	while ((opt = getopt(argc, argv, "c:d:h:H:r:pjfvI:R:S:")) != -1) {
		switch (opt) {
		case 'c':
			/* -c ID shows a message; -c DIR names the configuration directory. */
			if (qfile_id_valid(optarg) && access(optarg, F_OK) != 0)
				show_id = optarg;
			else
				confdir = optarg;
			break;
		case 'd':
		case 'h':
		case 'H':
		case 'r':
			if (op != 0 && op != (enum qadmin_op)opt)
				usage();
			op = (enum qadmin_op)opt;
			ids = xreallocarray(ids, nids + 1, sizeof(char *));
			ids[nids++] = optarg;
			break;
		case 'p':
		case 'j':
		case 'f':
			if (mode != 0 && mode != opt)
				usage();
			mode = opt;
			break;
		case 'I':
		case 'R':
		case 'S':
			if (filter != NULL)
				usage();
			filter = make_filter(opt, optarg);
			break;
		case 'v':
			log_set_verbose(1);
			break;
		default:
			usage();
		}
	}
	/* More ids may follow the first one, as with postsuper. */
	for (; optind < argc && op != 0; optind++) {
		ids = xreallocarray(ids, nids + 1, sizeof(char *));
		ids[nids++] = argv[optind];
	}
	if (optind < argc || (mode == 0 && op == 0 && show_id == NULL))
		usage();
	if ((mode != 0) + (op != 0) + (show_id != NULL) > 1 || (filter != NULL && mode != 'f'))
		usage();
	if (config_load(confdir, false, &err) < 0) {
		fprintf(stderr, "ternqueue: %s\n", buf_str(&err));
		ret = EX_CONFIG;
		goto done;
	}
	log_set_dest(LOG_TO_STDERR | (*cfg_str(P_maillog_file) ? LOG_TO_FILE : LOG_TO_SYSLOG));
	config_apply_logging();
	qdir = cfg_str(P_queue_directory);

	if (show_id != NULL || op != 0) {
		struct stat st;
		struct buf d = BUF_INIT;

		buf_printf(&d, "%s/deferred", qdir);
		bool allowed = stat(buf_str(&d), &st) == 0 && (geteuid() == 0 || geteuid() == st.st_uid);
		buf_free(&d);
		if (!allowed) {
			fprintf(stderr, "ternqueue: %s: permission denied (root or mail_owner only)\n", qdir);
			ret = EX_NOPERM;
			goto done;
		}
	}
	if (show_id != NULL) {
		ret = show(qdir, show_id);
	} else if (mode == 'p' || mode == 'j') {
		int style = mode == 'j' ? MAILQ_JSON : mailq_style_parse(cfg_str(P_mailq_format));
		if (mailq_listing(qdir, style < 0 ? MAILQ_SENDMAIL : (enum mailq_style)style, &out, &err) < 0) {
			fprintf(stderr, "ternqueue: %s\n", buf_str(&err));
			ret = EX_UNAVAILABLE;
		} else if (write_out(&out) < 0 || fflush(stdout) != 0) {
			ret = EX_IOERR;
		}
	} else if (mode == 'f') {
		int r = flush(qdir, filter);
		if (r == -2) {
			fprintf(stderr, "ternqueue: the queue manager refused the flush request\n");
			ret = EX_SOFTWARE;
		} else if (r < 0) {
			fprintf(stderr, "ternqueue: cannot flush the mail queue: the mail system is down\n");
			ret = EX_UNAVAILABLE;
		}
	} else {
		size_t done = 0;
		static const char *const what[] = {['d'] = "Deleted", ['h'] = "Placed on hold",
						   ['H'] = "Released from hold", ['r'] = "Requeued"};
		for (size_t i = 0; i < nids; i++) {
			if (strcmp(ids[i], "ALL") == 0) {
				done += qadmin_apply_all(qdir, op);
			} else if (strcmp(ids[i], "-") == 0) {
				char line[256];
				while (fgets(line, sizeof(line), stdin) != NULL) {
					line[strcspn(line, " \t\r\n")] = '\0';
					done += (size_t)qadmin_apply(qdir, op, line);
				}
			} else {
				done += (size_t)qadmin_apply(qdir, op, ids[i]);
			}
		}
		fprintf(stderr, "ternqueue: %s: %zu message%s\n", what[op], done, done == 1 ? "" : "s");
		if (done > 0 && op != QADMIN_DELETE && op != QADMIN_HOLD)
			qwake_send(qdir, QWAKE_NEW);
	}
done:
	free(ids);
	free(filter);
	buf_free(&err);
	buf_free(&out);
	return ret;
}
