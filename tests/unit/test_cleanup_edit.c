/*
 * test_cleanup_edit.c - Check suite for cleanup's editable content path
 * (CLEANUP_FLAG_EDIT, lib/mail/cleanup_edit.c): every edit a milter can
 * make, checked in the committed queue file; the file without edits is
 * byte for byte the one made without the flag; large bodies go through
 * the spool file; quarantine lands in hold/ and is listed by mailq; a
 * failing disk, a rejection or an abort leave nothing behind.
 */
#include "compat.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/cleanup.h"
#include "mail/cleanup_impl.h"
#include "mail/mailq.h"
#include "mail/qfile.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

static char root[64];
static char incoming[96], hold[96];

static const struct {
	enum cleanup_table table;
	const char *key, *value;
} map_rows[] = {
	{CLEANUP_TABLE_SENDER_CANONICAL, "robot@example.org", "noreply@example.org"},
	{CLEANUP_TABLE_CANONICAL, "@old.example", "@new.example"},
	{CLEANUP_TABLE_VIRTUAL, "sales@example.org", "ann@example.org, bob@example.org"},
};

static int test_lookup(void *ctx, enum cleanup_table t, const char *key, struct buf *value)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(map_rows) / sizeof(map_rows[0]); i++)
		if (map_rows[i].table == t && strcasecmp(map_rows[i].key, key) == 0) {
			buf_reset(value);
			buf_adds(value, map_rows[i].value);
			return 1;
		}
	return 0;
}

static char *const local_domains[] = {"example.org", NULL};

static struct cleanup_settings settings(void)
{
	struct cleanup_settings s = {
		.incoming_dir = incoming,	/* hold_dir left NULL: incoming/../hold */
		.myhostname = "mx.example.org",
		.myorigin = "example.org",
		.mail_name = "Tern",
		.local_domains = local_domains,
		.append_at_myorigin = true,
		.header_size_limit = 4096,
		.virtual_expansion_limit = 1000,
		.virtual_recursion_limit = 10,
		.lookup = test_lookup,
		.fixed_time = 1700000000,
	};
	return s;
}

static void setup(void)
{
	strlcpy(root, "/tmp/tern-cledit.XXXXXX", sizeof(root));
	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(incoming, sizeof(incoming), "%s/incoming", root);
	snprintf(hold, sizeof(hold), "%s/hold", root);
	ck_assert_int_eq(mkdir(incoming, 0700), 0);
	ck_assert_int_eq(mkdir(hold, 0700), 0);
	setenv("TZ", "UTC", 1);
	tzset();
	log_init("test_cleanup_edit", 0);
	qfile_fault_reset();
}

static void empty_dir(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *e;
	while (dp && (e = readdir(dp)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char *p = xasprintf("%s/%s", d, e->d_name);
		unlink(p);
		free(p);
	}
	if (dp)
		closedir(dp);
	rmdir(d);
}

static void teardown(void)
{
	empty_dir(incoming);
	empty_dir(hold);
	rmdir(root);
	qfile_fault_reset();
}

/* Entries of d, dot files (temporary and spool names) included. */
static int count_files(const char *d)
{
	int n = 0;
	DIR *dp = opendir(d);
	struct dirent *e;
	while ((e = readdir(dp)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(dp);
	return n;
}

/* Open descriptors of unlinked files: the body spools. */
static int count_spools(void)
{
	int n = 0;
	DIR *dp = opendir("/proc/self/fd");
	struct dirent *e;
	while ((e = readdir(dp)) != NULL) {
		char link[PATH_MAX + 1];
		char *p = xasprintf("/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(p, link, sizeof(link) - 1);
		free(p);
		if (len > 0) {
			link[len] = '\0';
			n += strstr(link, " (deleted)") != NULL;
		}
	}
	closedir(dp);
	return n;
}

/* A message through cleanup up to end of data, with the flag or not. */
static struct cleanup *start(const struct cleanup_settings *s, int flags, const char *sender,
			     const char *const *rcpts, const char *msg, size_t len, size_t chunk)
{
	struct cleanup *c = cleanup_open_with(s, CLEANUP_SMTP, flags);
	ck_assert_ptr_nonnull(c);
	cleanup_sender(c, sender);
	for (; rcpts && *rcpts; rcpts++)
		cleanup_recipient(c, *rcpts, 0, NULL);
	cleanup_attr(c, "protocol", "ESMTP");
	for (size_t i = 0; i < len; i += chunk)
		ck_assert_int_eq(cleanup_write(c, msg + i, len - i < chunk ? len - i : chunk), 0);
	return c;
}

struct result {
	int status;
	char id[QF_ID_MAX];
	struct buf reason, sender, rcpts, content, file;
};

static void result_free(struct result *r)
{
	buf_free(&r->reason);
	buf_free(&r->sender);
	buf_free(&r->rcpts);
	buf_free(&r->content);
	buf_free(&r->file);
}

static void slurp(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "r");
	char tmp[65536];
	size_t n;
	ck_assert_ptr_nonnull(f);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_add(out, tmp, n);
	fclose(f);
}

/* Commit and read the queue file back from qdir (incoming or hold). */
static void finish(struct cleanup *c, const char *qdir, struct result *r)
{
	memset(r, 0, sizeof(*r));
	r->status = cleanup_finish(c, r->id, sizeof(r->id), &r->reason);
	if (r->status != CLEANUP_OK)
		return;
	char *path = xasprintf("%s/%s", qdir, r->id);
	struct qfile *q;
	struct buf err = BUF_INIT;
	ck_assert_msg(qfile_open(path, false, &q, &err) == QF_OK, "%s: %s", path, buf_str(&err));
	buf_adds(&r->sender, qfile_sender(q));
	for (size_t i = 0; i < qfile_rcpt_count(q); i++) {
		const struct qfile_rcpt *rc = qfile_rcpt(q, i);
		buf_printf(&r->rcpts, "%s%s", i ? " " : "", rc->address);
		if (*rc->orcpt)
			buf_printf(&r->rcpts, "[%s]", rc->orcpt);
	}
	char tmp[65536];
	ssize_t n;
	while ((n = qfile_read(q, tmp, sizeof(tmp))) > 0)
		buf_add(&r->content, tmp, (size_t)n);
	qfile_close(q);
	slurp(path, &r->file);
	free(path);
	buf_free(&err);
}

/* The file with its id, arrival time and checksum masked, for comparing two runs. */
static void mask(struct buf *file, const char *id)
{
	struct buf out = BUF_INIT;
	const char *p = buf_str(file), *hit;
	const char *t = strstr(p, "\nT ");
	ck_assert_ptr_nonnull(t);
	buf_add(&out, p, (size_t)(t - p));
	buf_adds(&out, "\nT TIME");
	p = strchr(t + 1, '\n');
	while ((hit = strstr(p, id)) != NULL) {
		buf_add(&out, p, (size_t)(hit - p));
		buf_adds(&out, "QUEUEID");
		p = hit + strlen(id);
	}
	buf_adds(&out, p);	/* up to the end record's padding */
	/* The end record's checksum covers the id and the time too. */
	const char *e = NULL;
	for (const char *at = buf_str(&out); (at = strstr(at, "\nE ")) != NULL; at++)
		e = at;
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(strlen(e), 1 + QF_END_LEN);
	memcpy(out.data + (e - out.data) + 36, "MASKED__CHECKSUM", 16);
	buf_reset(file);
	buf_add(file, out.data, out.len);
	buf_free(&out);
}

/* The content after the header block. */
static const char *body_of(const struct result *r)
{
	const char *b = strstr(buf_str(&r->content), "\n\n");
	return b ? b + 2 : "";
}

static const char *const one_rcpt[] = {"a@x.test", NULL};
#define RECV "Received: from unknown (unknown [unknown])\n\tby mx.example.org (Tern) with ESMTP id "

static char *big_body(size_t len, char fill)
{
	char *b = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		b[i] = (i % 100 == 99) ? '\n' : (char)(fill + (char)(i / 100 % 20));
	b[len] = '\0';
	return b;
}

START_TEST(test_no_edit_identical)
{
	/* Without edits the file is the one made without the flag, whatever the piece size. */
	char *big = big_body(700 * 1024, 'a');
	char *bigmsg = xasprintf("Subject: big\n\n%s", big);
	const char *const msgs[] = {
		"Subject: s\nFrom: a@x.test\n\nbody\n",
		"Subject: s\n\n",
		"Subject: s\nnot a header\nmore",
		"Subject: s\n\tfolded\n\nno final newline",
		"plain body\n",
		"",
		bigmsg,
	};
	static const size_t chunks[] = {1, 7, 100000};
	struct cleanup_settings s = settings();
	for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++)
		for (size_t k = 0; k < 3; k++) {
			size_t len = strlen(msgs[m]);
			if (len > 100000 && chunks[k] < 100)
				continue;	/* the large one once per big piece is enough */
			struct result a, b;
			finish(start(&s, 0, "s@x.test", one_rcpt, msgs[m], len, chunks[k]), incoming, &a);
			finish(start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msgs[m], len, chunks[k]),
			       incoming, &b);
			ck_assert_int_eq(a.status, CLEANUP_OK);
			ck_assert_int_eq(b.status, CLEANUP_OK);
			mask(&a.file, a.id);
			mask(&b.file, b.id);
			ck_assert_msg(a.file.len == b.file.len && memcmp(a.file.data, b.file.data, a.file.len) == 0,
				      "message %zu chunk %zu differs", m, chunks[k]);
			result_free(&a);
			result_free(&b);
		}
	free(big);
	free(bigmsg);
}
END_TEST

START_TEST(test_headers)
{
	struct cleanup_settings s = settings();
	const char *msg = "Subject: hello\n\tworld\nX-Dup: one\nX-Dup: two\nFrom: a@x.test\n\nbody\n";
	struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, strlen(msg), 5);
	const char *name, *value;

	ck_assert_str_ne(cleanup_queue_id(c), "");
	/* Received, Subject, X-Dup, X-Dup, From, Date, Message-ID */
	ck_assert_uint_eq(cleanup_header_count(c), 7);
	cleanup_header_get(c, 0, &name, &value);
	ck_assert_str_eq(name, "Received");
	ck_assert_ptr_nonnull(strstr(value, cleanup_queue_id(c)));
	cleanup_header_get(c, 1, &name, &value);
	ck_assert_str_eq(name, "Subject");
	ck_assert_str_eq(value, " hello\n\tworld");
	cleanup_header_get(c, 99, &name, &value);
	ck_assert_ptr_null(name);

	ck_assert_int_eq(cleanup_header_add(c, "X-Last", " last"), 0);
	ck_assert_int_eq(cleanup_header_insert(c, 0, "X-First", " first"), 0);
	ck_assert_int_eq(cleanup_header_insert(c, 3, "X-Middle", " mid\n\tfolded"), 0);
	ck_assert_int_eq(cleanup_header_insert(c, 1000, "X-End", "end"), 0);
	ck_assert_int_eq(cleanup_header_change(c, "x-dup", 2, " TWO"), 0);
	ck_assert_int_eq(cleanup_header_change(c, "From", 1, NULL), 0);
	ck_assert_int_eq(cleanup_header_change(c, "X-Last", 1, ""), 0);
	ck_assert_int_eq(cleanup_header_change(c, "X-None", 1, " x"), 0);	/* nothing to change */
	ck_assert_int_eq(cleanup_header_change(c, "X-Dup", 3, " x"), 0);
	/* Refused: they would break the header block. */
	ck_assert_int_eq(cleanup_header_add(c, "Bad Name", " x"), -1);
	ck_assert_int_eq(cleanup_header_add(c, "Bad:Name", " x"), -1);
	ck_assert_int_eq(cleanup_header_add(c, "", " x"), -1);
	ck_assert_int_eq(cleanup_header_add(c, "X-CR", " a\r\n b"), -1);
	ck_assert_int_eq(cleanup_header_add(c, "X-Inject", " a\nBcc: b"), -1);
	ck_assert_int_eq(cleanup_header_add(c, "X-End", " a\n"), -1);
	ck_assert_int_eq(cleanup_header_change(c, "Subject", 1, " a\n\nbody"), -1);
	cleanup_header_get(c, 3, &name, &value);
	ck_assert_str_eq(name, "X-Middle");
	ck_assert_str_eq(value, " mid\n\tfolded");

	char id[QF_ID_MAX];
	strlcpy(id, cleanup_queue_id(c), sizeof(id));
	struct result r;
	finish(c, incoming, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_str_eq(r.id, id);
	struct buf want = BUF_INIT;
	buf_printf(&want, "X-First: first\n" RECV "%s\n\tfor <a@x.test>; Tue, 14 Nov 2023 22:13:20 +0000\n"
		   "Subject: hello\n\tworld\nX-Middle: mid\n\tfolded\nX-Dup: one\nX-Dup: TWO\n"
		   "Date: Tue, 14 Nov 2023 22:13:20 +0000\nMessage-ID: <20231114221320.%s@mx.example.org>\n"
		   "X-End:end\n\nbody\n", id, id);
	ck_assert_str_eq(buf_str(&r.content), buf_str(&want));
	buf_free(&want);
	result_free(&r);
}
END_TEST

START_TEST(test_not_editable)
{
	struct cleanup_settings s = settings();
	/* Without the flag, and before the header block ended, nothing is editable. */
	struct cleanup *c = start(&s, 0, "s@x.test", one_rcpt, "Subject: s\n\nb\n", 14, 100);
	ck_assert_uint_eq(cleanup_header_count(c), 0);
	ck_assert_int_eq(cleanup_header_add(c, "X-A", " a"), -1);
	ck_assert_int_eq(cleanup_body_replace(c), -1);
	ck_assert_int_eq(cleanup_add_rcpt(c, "b@x.test", 0, NULL), -1);
	cleanup_abort(c);
	c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, "Subject: s\n", 11, 100);
	ck_assert(cleanup_in_headers(c));
	ck_assert_int_eq(cleanup_header_add(c, "X-A", " a"), -1);
	ck_assert_int_eq(cleanup_set_sender(c, "x@y.test"), -1);
	cleanup_write(c, "\n", 1);
	ck_assert_int_eq(cleanup_header_add(c, "X-A", " a"), 0);
	cleanup_abort(c);
	ck_assert_int_eq(count_files(incoming), 0);
}
END_TEST

START_TEST(test_body_replace_small)
{
	struct cleanup_settings s = settings();
	const char *msg = "Subject: s\n\noriginal body\n";
	struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, strlen(msg), 100);
	char tmp[64];
	ck_assert_int_eq(cleanup_body_rewind(c), 0);
	ssize_t n = cleanup_body_read(c, tmp, sizeof(tmp));
	ck_assert_int_eq(n, 14);
	ck_assert_int_eq(memcmp(tmp, "original body\n", 14), 0);
	ck_assert_int_eq(cleanup_body_read(c, tmp, sizeof(tmp)), 0);
	ck_assert_int_eq(cleanup_body_replace_write(c, "x", 1), -1);	/* not begun */
	ck_assert_int_eq(cleanup_body_replace(c), 0);
	ck_assert_int_eq(cleanup_body_replace_write(c, "new ", 4), 0);
	ck_assert_int_eq(cleanup_body_replace_write(c, "body, no newline", 16), 0);
	/* Reading now gives the body as replaced (for the next milter). */
	ck_assert_int_eq(cleanup_body_rewind(c), 0);
	ck_assert_int_eq(cleanup_body_read(c, tmp, sizeof(tmp)), 20);
	struct result r;
	finish(c, incoming, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_str_eq(body_of(&r), "new body, no newline\n");
	result_free(&r);

	/* An empty replacement keeps the empty line after the headers. */
	c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, strlen(msg), 100);
	ck_assert_int_eq(cleanup_body_replace(c), 0);
	finish(c, incoming, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_ptr_nonnull(strstr(buf_str(&r.content), "\n\n"));
	ck_assert_str_eq(body_of(&r), "");
	result_free(&r);
}
END_TEST

START_TEST(test_body_replace_large)
{
	int base = count_spools();	/* check's own unlinked files */
	struct cleanup_settings s = settings();
	const char *msg = "Subject: s\n\noriginal body\n";
	size_t len = 300 * 1024 + 17;
	char *big = big_body(len, 'A');
	struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, strlen(msg), 100);
	ck_assert_int_eq(cleanup_body_replace(c), 0);
	for (size_t i = 0; i < len; i += 4000)
		ck_assert_int_eq(cleanup_body_replace_write(c, big + i, len - i < 4000 ? len - i : 4000), 0);
	ck_assert_int_eq(count_spools(), base + 1);	/* beyond 256 KiB: a file */
	ck_assert_int_eq(count_files(incoming), 1);	/* the spool has no name */
	struct result r;
	finish(c, incoming, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_int_eq(count_spools(), base);
	struct buf want = BUF_INIT;
	buf_adds(&want, big);
	buf_addc(&want, '\n');	/* big_body does not end in a newline */
	ck_assert_str_eq(body_of(&r), buf_str(&want));
	ck_assert_uint_eq(qfile_id_valid(r.id), 1);
	result_free(&r);
	buf_free(&want);

	/* message_size_limit applies to the replacement: rejected, nothing queued. */
	s.message_size_limit = 100 * 1024;
	c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, strlen(msg), 100);
	ck_assert_int_eq(cleanup_body_replace(c), 0);
	for (size_t i = 0; i < len; i += 4000)
		cleanup_body_replace_write(c, big + i, len - i < 4000 ? len - i : 4000);
	finish(c, incoming, &r);
	ck_assert_int_eq(r.status, CLEANUP_REJECT);
	ck_assert_ptr_nonnull(strstr(buf_str(&r.reason), "too big"));
	ck_assert_int_eq(count_files(incoming), 1);	/* the first message only */
	ck_assert_int_eq(count_spools(), base);
	result_free(&r);
	free(big);
}
END_TEST

START_TEST(test_spool_large_kept)
{
	struct cleanup_settings s = settings();
	size_t blen = 600 * 1024;
	char *big = big_body(blen, 'a');
	char *msg = xasprintf("Subject: s\n\n%s\n", big);
	size_t len = strlen(msg);
	struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, len, 8192);
	/* The body as held, read back in odd pieces. */
	struct buf got = BUF_INIT;
	char tmp[1000];
	ssize_t n;
	ck_assert_int_eq(cleanup_body_rewind(c), 0);
	while ((n = cleanup_body_read(c, tmp, sizeof(tmp) - 3)) > 0)
		buf_add(&got, tmp, (size_t)n);
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(got.len, blen + 1);
	ck_assert_int_eq(memcmp(got.data, msg + 12, blen + 1), 0);
	ck_assert_int_eq(cleanup_header_add(c, "X-Scanned", " yes"), 0);
	struct result r;
	finish(c, incoming, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_str_eq(body_of(&r), msg + 12);
	ck_assert_ptr_nonnull(strstr(buf_str(&r.content), "\nX-Scanned: yes\n\n"));
	result_free(&r);

	/* An added header that pushes the message over the limit rejects it. */
	s.message_size_limit = len + 400;	/* the input fits, with cleanup's own headers too */
	c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, len, 65536);
	char *fat = xmalloc(1001);
	memset(fat, 'x', 1000);
	fat[0] = ' ';
	fat[1000] = '\0';
	ck_assert_int_eq(cleanup_header_add(c, "X-Fat", fat), 0);
	finish(c, incoming, &r);
	ck_assert_int_eq(r.status, CLEANUP_REJECT);
	ck_assert_int_eq(count_files(incoming), 1);
	result_free(&r);
	free(fat);
	buf_free(&got);
	free(msg);
	free(big);
}
END_TEST

START_TEST(test_envelope)
{
	struct cleanup_settings s = settings();
	const char *const rcpts[] = {"a@x.test", "ann", "u@old.example", NULL};
	const char *msg = "Subject: s\n\nb\n";
	struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", rcpts, msg, strlen(msg), 100);

	ck_assert_uint_eq(cleanup_rcpt_count(c), 3);
	ck_assert_str_eq(cleanup_rcpt_addr(c, 1), "ann@example.org");
	ck_assert_ptr_null(cleanup_rcpt_addr(c, 3));
	/* The sender goes through the sender's tables, as the original did. */
	ck_assert_int_eq(cleanup_set_sender(c, "robot"), 0);
	ck_assert_int_eq(cleanup_set_sender(c, "bad\r\n"), -1);
	/* Added recipients: qualified, canonical, virtual alias expansion, duplicates dropped. */
	ck_assert_int_eq(cleanup_add_rcpt(c, "sales", DSN_NOTIFY_SUCCESS, NULL), 0);
	ck_assert_int_eq(cleanup_add_rcpt(c, "x@old.example", 0, "rfc822;x@old.example"), 0);
	ck_assert_int_eq(cleanup_add_rcpt(c, "A@X.TEST", 0, NULL), 0);	/* already there */
	ck_assert_int_eq(cleanup_add_rcpt(c, "bad\nrcpt", 0, NULL), -1);
	ck_assert_int_eq(cleanup_add_rcpt(c, "", 0, NULL), -1);
	ck_assert_uint_eq(cleanup_rcpt_count(c), 5);
	/* Delete: as given, as rewritten, case-insensitive; unknown: 0. */
	ck_assert_int_eq(cleanup_del_rcpt(c, "a@x.test"), 1);
	ck_assert_int_eq(cleanup_del_rcpt(c, "u@old.example"), 1);	/* given; stored as u@new.example */
	ck_assert_int_eq(cleanup_del_rcpt(c, "BOB"), 1);	/* rewritten: bob@example.org */
	ck_assert_int_eq(cleanup_del_rcpt(c, "nobody@x.test"), 0);
	ck_assert_uint_eq(cleanup_rcpt_count(c), 2);
	struct result r;
	finish(c, incoming, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_str_eq(buf_str(&r.sender), "noreply@example.org");
	ck_assert_str_eq(buf_str(&r.rcpts), "ann@example.org x@new.example[rfc822;x@old.example]");
	result_free(&r);
}
END_TEST

/* What the milters are shown as MAIL: the sender as it will be queued, not as given. */
START_TEST(test_sender_addr)
{
	struct cleanup_settings s = settings();
	const char *msg = "Subject: s\n\nb\n";
	struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "robot", one_rcpt, msg, strlen(msg), 100);
	ck_assert_str_eq(cleanup_sender_addr(c), "noreply@example.org");
	ck_assert_int_eq(cleanup_set_sender(c, "ann"), 0);
	ck_assert_str_eq(cleanup_sender_addr(c), "ann@example.org");
	ck_assert_int_eq(cleanup_set_sender(c, ""), 0);
	ck_assert_str_eq(cleanup_sender_addr(c), "");
	cleanup_abort(c);
}
END_TEST

START_TEST(test_envelope_dedup_and_empty)
{
	struct cleanup_settings s = settings();
	const char *const rcpts[] = {"a@x.test", NULL};
	const char *msg = "Subject: s\n\nb\n";
	struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", rcpts, msg, strlen(msg), 100);
	ck_assert_int_eq(cleanup_add_rcpt(c, "sales@example.org", 0, NULL), 0);
	struct result r;
	ck_assert_uint_eq(cleanup_rcpt_count(c), 3);
	ck_assert_str_eq(cleanup_rcpt_addr(c, 1), "ann@example.org");
	ck_assert_str_eq(cleanup_rcpt_addr(c, 2), "bob@example.org");
	/* Deleting the alias as given deletes what it became. */
	ck_assert_int_eq(cleanup_del_rcpt(c, "Sales@Example.org"), 1);
	ck_assert_uint_eq(cleanup_rcpt_count(c), 1);
	ck_assert_int_eq(cleanup_del_rcpt(c, "a@x.test"), 1);
	/* No recipient left: rejected, nothing queued. */
	finish(c, incoming, &r);
	ck_assert_int_eq(r.status, CLEANUP_REJECT);
	ck_assert_int_eq(count_files(incoming), 0);
	result_free(&r);
}
END_TEST

START_TEST(test_hold)
{
	struct cleanup_settings s = settings();
	const char *msg = "Subject: s\n\nspam\n";
	struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, strlen(msg), 100);
	cleanup_hold(c, "spam score\n12");
	struct result r;
	finish(c, hold, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_int_eq(count_files(incoming), 0);
	ck_assert_int_eq(count_files(hold), 1);
	ck_assert_str_eq(body_of(&r), "spam\n");

	/* mailq lists it as held ('!'). */
	struct mailq_list l;
	struct buf err = BUF_INIT, out = BUF_INIT;
	mailq_list_init(&l);
	ck_assert_int_eq(mailq_scan(root, &l, &err), 0);
	ck_assert_uint_eq(l.count, 1);
	ck_assert_str_eq(l.e[0].queue_name, "hold");
	ck_assert_str_eq(l.e[0].queue_id, r.id);
	mailq_format(MAILQ_SENDMAIL, root, &l, &out);
	ck_assert_ptr_nonnull(strstr(buf_str(&out), "!"));
	mailq_list_free(&l);

	/* Release as ternqueue -H does: back into incoming/, a valid queue file there. */
	char *path = xasprintf("%s/%s", hold, r.id);
	ck_assert_int_eq(qfile_move(path, incoming, &err), 0);
	free(path);
	path = xasprintf("%s/%s", incoming, r.id);
	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	qfile_close(q);
	free(path);
	buf_free(&err);
	buf_free(&out);
	result_free(&r);

	/* Also without the edit flag, and with an explicit hold_dir. */
	s.hold_dir = hold;
	c = start(&s, 0, "s@x.test", one_rcpt, msg, strlen(msg), 3);
	cleanup_hold(c, NULL);
	finish(c, hold, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_int_eq(count_files(hold), 1);
	result_free(&r);
}
END_TEST

/* A disk that fails at cleanup_finish leaves nothing, whichever call fails. */
START_TEST(test_fault)
{
	int base = count_spools();	/* check's own unlinked files */
	static const enum qfile_call calls[] = {QF_CALL_WRITE, QF_CALL_FSYNC, QF_CALL_RENAME};
	struct cleanup_settings s = settings();
	char *big = big_body(400 * 1024, 'a');
	char *msg = xasprintf("Subject: s\n\n%s", big);
	for (size_t k = 0; k < 3; k++)
		for (int held = 0; held < 2; held++) {
			struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, strlen(msg),
						  65536);
			ck_assert_int_eq(cleanup_header_add(c, "X-A", " a"), 0);
			if (held)
				cleanup_hold(c, "q");
			qfile_fault_inject(calls[k], 1, ENOSPC, true);
			struct result r;
			finish(c, incoming, &r);
			qfile_fault_reset();
			ck_assert_int_eq(r.status, CLEANUP_TEMPFAIL);
			ck_assert_int_eq(count_files(incoming), 0);
			ck_assert_int_eq(count_files(hold), 0);
			ck_assert_int_eq(count_spools(), base);
			result_free(&r);
		}
	free(msg);
	free(big);
}
END_TEST

START_TEST(test_abort)
{
	int base = count_spools();	/* check's own unlinked files */
	struct cleanup_settings s = settings();
	char *big = big_body(400 * 1024, 'a');
	char *msg = xasprintf("Subject: s\n\n%s", big);
	struct cleanup *c = start(&s, CLEANUP_FLAG_EDIT, "s@x.test", one_rcpt, msg, strlen(msg), 65536);
	ck_assert_int_eq(cleanup_header_add(c, "X-A", " a"), 0);
	ck_assert_int_eq(cleanup_body_replace(c), 0);
	ck_assert_int_eq(cleanup_body_replace_write(c, big, strlen(big)), 0);
	ck_assert_int_eq(cleanup_add_rcpt(c, "b@x.test", 0, NULL), 0);
	cleanup_hold(c, "q");
	cleanup_abort(c);
	ck_assert_int_eq(count_files(incoming), 0);
	ck_assert_int_eq(count_files(hold), 0);
	ck_assert_int_eq(count_spools(), base);
	free(msg);
	free(big);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cleanup_edit");
	TCase *tc = tcase_create("edit");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_no_edit_identical);
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_not_editable);
	tcase_add_test(tc, test_body_replace_small);
	tcase_add_test(tc, test_body_replace_large);
	tcase_add_test(tc, test_spool_large_kept);
	tcase_add_test(tc, test_envelope);
	tcase_add_test(tc, test_sender_addr);
	tcase_add_test(tc, test_envelope_dedup_and_empty);
	tcase_add_test(tc, test_hold);
	tcase_add_test(tc, test_fault);
	tcase_add_test(tc, test_abort);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
