/*
 * test_cleanup.c - Check suite for cleanup (lib/mail/cleanup_core.c):
 * header fixes against expected output (golden text with the queue id
 * written as QUEUEID), -t extraction and Bcc removal, qualification,
 * canonical and virtual alias rewriting, size limits, and a disk that
 * fails in the middle (temporary failure, nothing queued); the goldens
 * again through the editable path (CLEANUP_FLAG_EDIT, no edits), which
 * must give the same files (its edits: test_cleanup_edit.c).
 */
#include "compat.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mail/cleanup.h"
#include "mail/cleanup_impl.h"
#include "mail/qfile.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/mem.h"

static char dir[64];

/* Tables for the tests: "table|key" -> value. */
static const struct {
	enum cleanup_table table;
	const char *key, *value;
} map_rows[] = {
	{CLEANUP_TABLE_CANONICAL, "jq@example.org", "jq.public@example.org"},
	{CLEANUP_TABLE_CANONICAL, "@old.example", "@new.example"},
	{CLEANUP_TABLE_SENDER_CANONICAL, "robot", "noreply@example.org"},
	{CLEANUP_TABLE_VIRTUAL, "sales@example.org", "ann@example.org, bob"},
	{CLEANUP_TABLE_VIRTUAL, "bob@example.org", "bob@example.org robert@elsewhere.test"},
	{CLEANUP_TABLE_VIRTUAL, "@virtual.test", "catchall@example.org"},
	{CLEANUP_TABLE_VIRTUAL, "loop1@example.org", "loop2@example.org"},
	{CLEANUP_TABLE_VIRTUAL, "loop2@example.org", "loop1@example.org"},
	{CLEANUP_TABLE_VIRTUAL, "fail@example.org", "!error"},
};

static int test_lookup(void *ctx, enum cleanup_table t, const char *key, struct buf *value)
{
	(void)ctx;
	for (size_t i = 0; i < sizeof(map_rows) / sizeof(map_rows[0]); i++)
		if (map_rows[i].table == t && strcasecmp(map_rows[i].key, key) == 0) {
			if (strcmp(map_rows[i].value, "!error") == 0)
				return -1;
			buf_reset(value);
			buf_adds(value, map_rows[i].value);
			return 1;
		}
	return 0;
}

static char *const local_domains[] = {"example.org", "localhost", NULL};

static struct cleanup_settings settings(void)
{
	struct cleanup_settings s = {
		.incoming_dir = dir,
		.myhostname = "mx.example.org",
		.myorigin = "example.org",
		.mail_name = "Tern",
		.local_domains = local_domains,
		.append_at_myorigin = true,
		.message_size_limit = 10240,
		.header_size_limit = 4096,
		.virtual_expansion_limit = 1000,
		.virtual_recursion_limit = 10,
		.hopcount_limit = 5,
		.lookup = test_lookup,
		.fixed_time = 1700000000,	/* Tue, 14 Nov 2023 22:13:20 +0000 */
	};
	return s;
}

static void setup(void)
{
	strlcpy(dir, "/tmp/tern-cleanup.XXXXXX", sizeof(dir));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("TZ", "UTC", 1);
	tzset();
	log_init("test_cleanup", 0);	/* quiet */
	qfile_fault_reset();
}

static void teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
			continue;
		char *p = xasprintf("%s/%s", dir, e->d_name);
		unlink(p);
		free(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	qfile_fault_reset();
}

static int count_files(void)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Replace every occurrence of id in text with QUEUEID. */
static void mask_id(struct buf *text, const char *id)
{
	struct buf out = BUF_INIT;
	const char *p = buf_str(text), *hit;
	size_t idlen = strlen(id);
	while (idlen && (hit = strstr(p, id)) != NULL) {
		buf_add(&out, p, (size_t)(hit - p));
		buf_adds(&out, "QUEUEID");
		p = hit + idlen;
	}
	buf_adds(&out, p);
	buf_reset(text);
	buf_add(text, out.data, out.len);
	buf_free(&out);
}

struct result {
	int status;
	char id[QF_ID_MAX];
	struct buf reason;
	struct buf sender;
	struct buf rcpts;	/* "addr[notify,orcpt]" joined by ' ' */
	struct buf content;
};

static void result_free(struct result *r)
{
	buf_free(&r->reason);
	buf_free(&r->sender);
	buf_free(&r->rcpts);
	buf_free(&r->content);
}

/* When set, run() gives it to cleanup_first_header as X-Authentication-Warning. */
static const char *run_warning;

/* Run one message through cleanup in pieces of chunk bytes and read the result back. */
static void run(const struct cleanup_settings *s, enum cleanup_source src, int flags, const char *sender,
		const char *const *rcpts, const char *const *attrs, const char *msg, size_t chunk,
		struct result *r)
{
	memset(r, 0, sizeof(*r));
	struct cleanup *c = cleanup_open_with(s, src, flags);
	cleanup_sender(c, sender);
	for (; rcpts && *rcpts; rcpts++)
		cleanup_recipient(c, *rcpts, 0, NULL);
	for (; attrs && attrs[0]; attrs += 2)
		cleanup_attr(c, attrs[0], attrs[1]);
	if (run_warning)
		cleanup_first_header(c, "X-Authentication-Warning", run_warning);
	size_t len = strlen(msg);
	for (size_t i = 0; i < len; i += chunk)
		cleanup_write(c, msg + i, len - i < chunk ? len - i : chunk);
	r->status = cleanup_finish(c, r->id, sizeof(r->id), &r->reason);
	if (r->status != CLEANUP_OK)
		return;
	char *path = xasprintf("%s/%s", dir, r->id);
	struct qfile *q;
	struct buf err = BUF_INIT;
	ck_assert_int_eq(qfile_open(path, false, &q, &err), QF_OK);
	buf_adds(&r->sender, qfile_sender(q));
	for (size_t i = 0; i < qfile_rcpt_count(q); i++) {
		const struct qfile_rcpt *rc = qfile_rcpt(q, i);
		if (i)
			buf_addc(&r->rcpts, ' ');
		buf_adds(&r->rcpts, rc->address);
		if (*rc->orcpt)
			buf_printf(&r->rcpts, "[%s]", rc->orcpt);
	}
	char tmp[4096];
	ssize_t n;
	while ((n = qfile_read(q, tmp, sizeof(tmp))) > 0)
		buf_add(&r->content, tmp, (size_t)n);
	mask_id(&r->content, r->id);
	qfile_close(q);
	free(path);
	buf_free(&err);
}

#define DATE "Tue, 14 Nov 2023 22:13:20 +0000"
#define MSGID "<20231114221320.QUEUEID@mx.example.org>"
#define RECV_LOCAL "Received: by mx.example.org (Tern, from userid 1000)\n\tid QUEUEID; " DATE "\n"

static const char *const local_attrs[] = {"uid", "1000", "login", "joe", "full_name", "Joe Q. Public", NULL};

static const struct golden {
	const char *name;
	enum cleanup_source src;
	int flags;
	const char *sender;
	const char *rcpts[4];
	const char *msg;
	const char *want_sender;
	const char *want_rcpts;
	const char *want;	/* content with QUEUEID */
} goldens[] = {
	{.name = "bare body gets every header", .src = CLEANUP_LOCAL, .sender = "joe",
	 .rcpts = {"ann"}, .msg = "hello\n",
	 .want_sender = "joe@example.org", .want_rcpts = "ann@example.org",
	 .want = RECV_LOCAL "From: \"Joe Q. Public\" <joe@example.org>\nDate: " DATE "\nMessage-ID: " MSGID
		 "\n\nhello\n"},
	{.name = "headers kept, bare addresses qualified", .src = CLEANUP_LOCAL, .sender = "joe",
	 .rcpts = {"ann@example.org"},
	 .msg = "From: Joe <jq>\nTo: ann, \"B\" <bob@x.test> (c)\nSubject: hi\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
		"Message-ID: <m@x>\n\nbody\n",
	 .want_sender = "joe@example.org", .want_rcpts = "ann@example.org",
	 .want = RECV_LOCAL "From: Joe <jq.public@example.org>\nTo: ann@example.org, \"B\" <bob@x.test> (c)\n"
		 "Subject: hi\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <m@x>\n\nbody\n"},
	{.name = "-t extracts To Cc Bcc, removes Bcc, keeps argv recipients", .src = CLEANUP_LOCAL,
	 .flags = CLEANUP_FLAG_EXTRACT, .sender = "joe", .rcpts = {"argv@x.test"},
	 .msg = "To: a@x.test\nCc: b@x.test, a@x.test\nBcc: secret@x.test,\n  other@y.test\nSubject: s\n\nb\n",
	 .want_sender = "joe@example.org",
	 .want_rcpts = "argv@x.test a@x.test b@x.test secret@x.test other@y.test",
	 .want = RECV_LOCAL "To: a@x.test\nCc: b@x.test, a@x.test\nSubject: s\nFrom: \"Joe Q. Public\" <joe@example.org>\n"
		 "Date: " DATE "\nMessage-ID: " MSGID "\n\nb\n"},
	{.name = "Bcc kept without -t", .src = CLEANUP_LOCAL, .sender = "joe", .rcpts = {"a@x.test"},
	 .msg = "Bcc: secret@x.test\nFrom: joe@example.org\nDate: x\nMessage-ID: <y>\n\nb\n",
	 .want_sender = "joe@example.org", .want_rcpts = "a@x.test",
	 .want = RECV_LOCAL "Bcc: secret@x.test\nFrom: joe@example.org\nDate: x\nMessage-ID: <y>\n\nb\n"},
	{.name = "-t with Resent- headers uses them", .src = CLEANUP_LOCAL, .flags = CLEANUP_FLAG_EXTRACT,
	 .sender = "joe", .msg = "To: old@x.test\nResent-To: new@x.test\nResent-Bcc: hid@x.test\nFrom: a@b\nDate: d\nMessage-ID: <i>\n\n",
	 .want_sender = "joe@example.org", .want_rcpts = "new@x.test hid@x.test",
	 .want = RECV_LOCAL "To: old@x.test\nResent-To: new@x.test\nFrom: a@b\nDate: d\nMessage-ID: <i>\n\n"},
	{.name = "unix From line dropped, non-header line starts the body", .src = CLEANUP_LOCAL,
	 .sender = "joe", .rcpts = {"a@x.test"},
	 .msg = "From joe Mon Jan  1 00:00:00 2024\nSubject: s\nnot a header\nmore\n",
	 .want_sender = "joe@example.org", .want_rcpts = "a@x.test",
	 .want = RECV_LOCAL "Subject: s\nFrom: \"Joe Q. Public\" <joe@example.org>\nDate: " DATE "\nMessage-ID: " MSGID
		 "\n\nnot a header\nmore\n"},
	{.name = "headers only, no final newline", .src = CLEANUP_LOCAL, .sender = "joe", .rcpts = {"a@x.test"},
	 .msg = "Subject: s\nFrom: a@x.test\nDate: d\nMessage-ID: <i>",
	 .want_sender = "joe@example.org", .want_rcpts = "a@x.test",
	 .want = RECV_LOCAL "Subject: s\nFrom: a@x.test\nDate: d\nMessage-ID: <i>\n"},
	{.name = "body without final newline gets one", .src = CLEANUP_LOCAL, .sender = "joe", .rcpts = {"a@x.test"},
	 .msg = "From: a@x.test\nDate: d\nMessage-ID: <i>\n\nno newline",
	 .want_sender = "joe@example.org", .want_rcpts = "a@x.test",
	 .want = RECV_LOCAL "From: a@x.test\nDate: d\nMessage-ID: <i>\n\nno newline\n"},
	{.name = "null sender", .src = CLEANUP_LOCAL, .sender = "", .rcpts = {"a@x.test"}, .msg = "x\n",
	 .want_sender = "", .want_rcpts = "a@x.test",
	 .want = RECV_LOCAL "From: MAILER-DAEMON\nDate: " DATE "\nMessage-ID: " MSGID "\n\nx\n"},
	{.name = "sender canonical then canonical; domain rewrite", .src = CLEANUP_LOCAL, .sender = "robot",
	 .rcpts = {"u@old.example"}, .msg = "From: x@old.example\nDate: d\nMessage-ID: <i>\n\n",
	 .want_sender = "noreply@example.org", .want_rcpts = "u@new.example[rfc822;u@old.example]",
	 .want = RECV_LOCAL "From: x@new.example\nDate: d\nMessage-ID: <i>\n\n"},
	{.name = "virtual aliases expand recursively, self-reference kept", .src = CLEANUP_LOCAL, .sender = "joe",
	 .rcpts = {"sales@example.org", "ann@example.org"}, .msg = "From: a@x.test\nDate: d\nMessage-ID: <i>\n\n",
	 .want_sender = "joe@example.org",
	 .want_rcpts = "ann@example.org[rfc822;sales@example.org] bob@example.org[rfc822;sales@example.org] "
		       "robert@elsewhere.test[rfc822;sales@example.org]",
	 .want = RECV_LOCAL "From: a@x.test\nDate: d\nMessage-ID: <i>\n\n"},
	{.name = "virtual catch-all by domain; bare user of local domain", .src = CLEANUP_LOCAL, .sender = "joe",
	 .rcpts = {"anyone@virtual.test", "sales"}, .msg = "From: a@x.test\nDate: d\nMessage-ID: <i>\n\n",
	 .want_sender = "joe@example.org",
	 .want_rcpts = "catchall@example.org[rfc822;anyone@virtual.test] ann@example.org[rfc822;sales@example.org] "
		       "bob@example.org[rfc822;sales@example.org] robert@elsewhere.test[rfc822;sales@example.org]",
	 .want = RECV_LOCAL "From: a@x.test\nDate: d\nMessage-ID: <i>\n\n"},
	{.name = "SMTP: Received with client, headers not rewritten", .src = CLEANUP_SMTP, .sender = "s@x.test",
	 .rcpts = {"a@example.org"}, .msg = "From: bare\nDate: d\nMessage-ID: <i>\n\nb\n",
	 .want_sender = "s@x.test", .want_rcpts = "a@example.org",
	 .want = "Received: from helo.test (client.test [192.0.2.1])\n\tby mx.example.org (Tern) with ESMTP id QUEUEID\n"
		 "\tfor <a@example.org>; " DATE "\nFrom: bare\nDate: d\nMessage-ID: <i>\n\nb\n"},
	{.name = "bounce source", .src = CLEANUP_BOUNCE, .sender = "", .rcpts = {"a@x.test"},
	 .msg = "From: MAILER-DAEMON@mx.example.org\nDate: d\nMessage-ID: <i>\n\nsorry\n",
	 .want_sender = "", .want_rcpts = "a@x.test",
	 .want = "Received: by mx.example.org (Tern)\n\tid QUEUEID; " DATE
		 "\nFrom: MAILER-DAEMON@mx.example.org\nDate: d\nMessage-ID: <i>\n\nsorry\n"},
};

static const char *const smtp_attrs[] = {"helo_name", "helo.test", "client_name", "client.test",
					 "client_addr", "192.0.2.1", "protocol", "ESMTP", NULL};

START_TEST(test_golden)
{
	const struct golden *g = &goldens[_i];
	struct cleanup_settings s = settings();
	/* Every piece size must give the same result. */
	static const size_t chunks[] = {1, 3, 7, 64, 100000};
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct result r;
		run(&s, g->src, g->flags, g->sender, g->rcpts, g->src == CLEANUP_SMTP ? smtp_attrs : local_attrs,
		    g->msg, chunks[k], &r);
		ck_assert_msg(r.status == CLEANUP_OK, "%s: status %d: %s", g->name, r.status, buf_str(&r.reason));
		ck_assert_msg(strcmp(buf_str(&r.sender), g->want_sender) == 0, "%s: sender %s", g->name,
			      buf_str(&r.sender));
		ck_assert_msg(strcmp(buf_str(&r.rcpts), g->want_rcpts) == 0, "%s: rcpts '%s'", g->name,
			      buf_str(&r.rcpts));
		ck_assert_msg(strcmp(buf_str(&r.content), g->want) == 0, "%s (chunk %zu): got\n%s\nwant\n%s", g->name,
			      chunks[k], buf_str(&r.content), g->want);
		result_free(&r);
	}
}
END_TEST

/* The same messages with CLEANUP_FLAG_EDIT and no edits: the same files. */
START_TEST(test_golden_edit)
{
	const struct golden *g = &goldens[_i];
	struct cleanup_settings s = settings();
	static const size_t chunks[] = {1, 7, 100000};
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct result r;
		run(&s, g->src, g->flags | CLEANUP_FLAG_EDIT, g->sender, g->rcpts,
		    g->src == CLEANUP_SMTP ? smtp_attrs : local_attrs, g->msg, chunks[k], &r);
		ck_assert_msg(r.status == CLEANUP_OK, "%s: status %d: %s", g->name, r.status, buf_str(&r.reason));
		ck_assert_str_eq(buf_str(&r.sender), g->want_sender);
		ck_assert_str_eq(buf_str(&r.rcpts), g->want_rcpts);
		ck_assert_str_eq(buf_str(&r.content), g->want);
		result_free(&r);
	}
}
END_TEST

/*
 * recipient_delimiter: user+ext@domain matches a table's user@domain;
 * propagate_unmatched_extensions puts +ext back into the result
 * (canonical and virtual each), never after an @domain match.
 */
START_TEST(test_extensions)
{
	static const struct {
		bool canon, virt;
		const char *sender, *rcpt, *want_sender, *want_rcpts;
	} rows[] = {
		/* No delimiter configured: the extension is part of the key. */
		{false, false, "s@x.test", "sales+q@example.org", "s@x.test", "sales+q@example.org"},
		{true, true, "jq+news@example.org", "sales+q@example.org", "jq.public+news@example.org",
		 "ann+q@example.org bob+q@example.org robert+q@elsewhere.test"},
		{false, false, "jq+news@example.org", "sales+q@example.org", "jq.public@example.org",
		 "ann@example.org bob@example.org robert@elsewhere.test"},
		{true, false, "s@x.test", "jq+a@example.org", "s@x.test", "jq.public+a@example.org"},
		/* bob@ maps to itself and more: bob+q@ keeps its extension. */
		{false, true, "s@x.test", "bob+q@example.org", "s@x.test",
		 "bob+q@example.org robert+q@elsewhere.test"},
		/* An @domain match takes no extension; a full match none either. */
		{true, true, "s@x.test", "x+y@virtual.test", "s@x.test", "catchall@example.org"},
	};
	static const char *const attrs[] = {"protocol", "ESMTP", NULL};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct cleanup_settings s = settings();
		const char *rcpts[] = {rows[i].rcpt, NULL};
		struct result r;

		s.recipient_delimiter = i == 0 ? "" : "+";
		s.propagate_canonical = rows[i].canon;
		s.propagate_virtual = rows[i].virt;
		run(&s, CLEANUP_SMTP, 0, rows[i].sender, rcpts, attrs, "Subject: x\n\nb\n", 64, &r);
		ck_assert_int_eq(r.status, CLEANUP_OK);
		ck_assert_msg(strcmp(buf_str(&r.sender), rows[i].want_sender) == 0, "row %zu: sender %s",
			      i, buf_str(&r.sender));
		/* Without the ORCPT annotations ("[rfc822;...]") of expanded recipients. */
		struct buf plain = BUF_INIT;
		for (const char *p = buf_str(&r.rcpts); *p; p++) {
			if (*p == '[') {
				p += strcspn(p, "]");
				if (*p == '\0')
					break;
			} else
				buf_addc(&plain, *p);
		}
		ck_assert_msg(strcmp(buf_str(&plain), rows[i].want_rcpts) == 0, "row %zu: rcpts %s",
			      i, buf_str(&r.rcpts));
		buf_free(&plain);
		result_free(&r);
	}
}
END_TEST

/* smtpd_sasl_authenticated_header: Postfix's "(Authenticated sender: user)" after the TLS line. */
START_TEST(test_authenticated_header)
{
	static const char *const attrs[] = {"helo_name", "helo.test", "client_name", "client.test",
		"client_addr", "192.0.2.1", "protocol", "ESMTPSA", "tls_version", "TLSv1.3",
		"tls_cipher", "TLS_AES_256_GCM_SHA384", "sasl_username", "ann(x)", NULL};
	static const char *const rcpts[] = {"a@example.org", NULL};
	const char *head = "Received: from helo.test (client.test [192.0.2.1])\n"
		"\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\n";
	const char *by = "\tby mx.example.org (Tern) with ESMTPSA id QUEUEID\n";
	struct cleanup_settings s = settings();
	for (int on = 0; on <= 1; on++) {
		struct result r;
		s.sasl_authenticated_header = on;
		run(&s, CLEANUP_SMTP, 0, "s@x.test", rcpts, attrs, "From: a@x.test\nDate: d\nMessage-ID: <i>\n\nb\n",
		    7, &r);
		ck_assert_int_eq(r.status, CLEANUP_OK);
		struct buf want = BUF_INIT;
		buf_printf(&want, "%s%s%s", head, on ? "\t(Authenticated sender: ann?x?)\n" : "", by);
		ck_assert_msg(strncmp(buf_str(&r.content), buf_str(&want), want.len) == 0, "got\n%s\nwant\n%s",
			      buf_str(&r.content), buf_str(&want));
		buf_free(&want);
		result_free(&r);
	}
}
END_TEST

static const struct reject_case {
	const char *name;
	int flags;
	const char *rcpts[3];
	const char *msg;
	int want;
	const char *reason;
} rejects[] = {
	{.name = "no recipients", .msg = "x\n", .want = CLEANUP_REJECT, .reason = "no recipients"},
	{.name = "-t finds none", .flags = CLEANUP_FLAG_EXTRACT, .msg = "Subject: x\n\nb\n", .want = CLEANUP_REJECT,
	 .reason = "no recipients"},
	{.name = "virtual loop is bounded", .rcpts = {"loop1@example.org"}, .msg = "x\n", .want = CLEANUP_OK},
	{.name = "table error is temporary", .rcpts = {"fail@example.org"}, .msg = "x\n",
	 .want = CLEANUP_TEMPFAIL, .reason = "virtual_alias_maps"},
	{.name = "mail loop", .rcpts = {"a@x.test"},
	 .msg = "Received: 1\nReceived: 2\nReceived: 3\nReceived: 4\nReceived: 5\n\nx\n",
	 .want = CLEANUP_REJECT, .reason = "too many hops"},
	{.name = "under the hop limit", .rcpts = {"a@x.test"},
	 .msg = "Received: 1\nReceived: 2\nReceived: 3\nReceived: 4\n\nx\n", .want = CLEANUP_OK},
	{.name = "control character in recipient", .rcpts = {"a\nb@x"}, .msg = "x\n", .want = CLEANUP_REJECT,
	 .reason = "malformed envelope"},
};

START_TEST(test_rejects)
{
	const struct reject_case *c = &rejects[_i];
	struct cleanup_settings s = settings();
	struct result r;
	run(&s, CLEANUP_LOCAL, c->flags, "joe", c->rcpts, local_attrs, c->msg, 5, &r);
	ck_assert_msg(r.status == c->want, "%s: status %d (%s)", c->name, r.status, buf_str(&r.reason));
	if (c->reason)
		ck_assert_msg(strstr(buf_str(&r.reason), c->reason) != NULL, "%s: %s", c->name, buf_str(&r.reason));
	if (c->want != CLEANUP_OK) {
		ck_assert_int_eq(count_files(), 0);
		ck_assert_str_eq(r.id, "");
	}
	result_free(&r);
}
END_TEST

START_TEST(test_size_limit)
{
	struct cleanup_settings s = settings();
	s.message_size_limit = 1000;
	struct cleanup *c = cleanup_open_with(&s, CLEANUP_LOCAL, 0);
	cleanup_sender(c, "joe");
	cleanup_recipient(c, "a@x.test", 0, NULL);
	char line[100];
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	cleanup_write(c, "Subject: big\n\n", 14);
	for (int i = 0; i < 50; i++)
		ck_assert_int_eq(cleanup_write(c, line, sizeof(line)), 0);
	struct buf reason = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(cleanup_finish(c, id, sizeof(id), &reason), CLEANUP_REJECT);
	ck_assert_ptr_nonnull(strstr(buf_str(&reason), "too big"));
	ck_assert_int_eq(count_files(), 0);

	/* Exactly at the limit is fine. */
	c = cleanup_open_with(&s, CLEANUP_LOCAL, 0);
	cleanup_sender(c, "joe");
	cleanup_recipient(c, "a@x.test", 0, NULL);
	for (int i = 0; i < 10; i++)
		cleanup_write(c, line, sizeof(line));
	ck_assert_int_eq(cleanup_finish(c, id, sizeof(id), &reason), CLEANUP_OK);
	buf_free(&reason);
}
END_TEST

/* The header block of r's content (up to and with the empty line), as a C string. */
static char *header_block(struct result *r)
{
	const char *text = buf_str(&r->content), *blank = strstr(text, "\n\n");
	ck_assert_ptr_nonnull(blank);
	return strndup(text, (size_t)(blank - text) + 1);
}

START_TEST(test_header_limit)
{
	/*
	 * A folded header over header_size_limit: the message is refused,
	 * naming the header, at any chunk size; at a limit it fits, it is
	 * kept whole and the headers after it stay headers.
	 */
	static const size_t chunks[] = { 1, 7, 64, 4096 };
	const char *msg = "X-1: a\nX-2: bbbbbbbbbbbbbbbbbbbbbb\n cccccccccccccccccccccccccc\n dddddddddddddddddddd\n"
			  "\teeeeeeeeeeeeeeee\nX-3: f\n\nbody\n X-4: g\n";
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct cleanup_settings s = settings();
		s.header_size_limit = 60;
		struct result r;
		const char *rc[] = {"a@x.test", NULL};
		int files = count_files();
		run(&s, CLEANUP_LOCAL, 0, "joe", rc, local_attrs, msg, chunks[k], &r);
		ck_assert_int_eq(r.status, CLEANUP_REJECT);
		ck_assert_str_eq(buf_str(&r.reason), "message header X-2 too long (more than 60 bytes)");
		result_free(&r);
		ck_assert_int_eq(count_files(), files);
		s.header_size_limit = 110;
		run(&s, CLEANUP_LOCAL, 0, "joe", rc, local_attrs, msg, chunks[k], &r);
		ck_assert_int_eq(r.status, CLEANUP_OK);
		char *h = header_block(&r);
		ck_assert_ptr_nonnull(strstr(h, "\nX-2: bbbbbbbbbbbbbbbbbbbbbb\n cccccccccccccccccccccccccc\n"
					     " dddddddddddddddddddd\n\teeeeeeeeeeeeeeee\nX-3: f\n"));
		ck_assert_ptr_nonnull(strstr(buf_str(&r.content), "\n\nbody\n X-4: g\n"));
		free(h);
		result_free(&r);
	}
}
END_TEST

START_TEST(test_header_limit_one_line)
{
	/*
	 * One endless header line: refused before it is held whole, also
	 * when its name is not known to end yet (more name than the limit).
	 */
	static const size_t chunks[] = { 1, 64, 5000 };
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct cleanup_settings s = settings();
		s.header_size_limit = 100;
		struct result r;
		const char *rc[] = {"a@x.test", NULL};
		char msg[3100];
		memcpy(msg, "X-Long: ", 8);
		memset(msg + 8, 'a', 2990);
		strcpy(msg + 2998, "\r\n more\r\nX-After: yes\r\n\r\nbody\r\n");
		run(&s, CLEANUP_LOCAL, 0, "joe", rc, local_attrs, msg, chunks[k], &r);
		ck_assert_int_eq(r.status, CLEANUP_REJECT);
		ck_assert_str_eq(buf_str(&r.reason), "message header X-Long too long (more than 100 bytes)");
		result_free(&r);
		s.header_size_limit = 14;
		run(&s, CLEANUP_SMTP, 0, "joe", rc, NULL, "X-1: a\nX-A-Long-Name-Here: b\n\nbody\n", chunks[k], &r);
		ck_assert_int_eq(r.status, CLEANUP_REJECT);
		/* (named when the chunk holds its colon) */
		ck_assert_ptr_nonnull(strstr(buf_str(&r.reason), "too long (more than 14 bytes)"));
		result_free(&r);
	}
}
END_TEST

START_TEST(test_header_limit_body_line)
{
	/*
	 * A message without an empty line after its headers (or without
	 * headers) whose first body line passes a header limit before it
	 * ends: that line is no header, so the body starts there, whole.
	 */
	static const size_t chunks[] = { 1, 64, 5000 };
	static const char *const heads[] = { "", "X-1: a\n", "From joe Mon Jan  1 00:00:00 2024\n" };
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++)
		for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++)
			for (int block = 0; block <= 1; block++) {
				struct cleanup_settings s = settings();
				if (block)
					s.header_block_size_limit = 100;
				else
					s.header_size_limit = 100;
				struct result r;
				const char *rc[] = {"a@x.test", NULL};
				char msg[3100], *line = msg + strlen(heads[h]);
				strcpy(msg, heads[h]);
				memcpy(line, "just text", 9);
				memset(line + 9, 'a', 2000);
				strcpy(line + 2009, "\nX-After: body\n");
				run(&s, CLEANUP_LOCAL, 0, "joe", rc, local_attrs, msg, chunks[k], &r);
				ck_assert_int_eq(r.status, CLEANUP_OK);
				ck_assert_ptr_nonnull(strstr(buf_str(&r.content), "\n\njust text"));
				ck_assert_ptr_nonnull(strstr(buf_str(&r.content), "aaa\nX-After: body\n"));
				ck_assert_ptr_null(strstr(buf_str(&r.content), "From joe"));
				result_free(&r);
			}
}
END_TEST

START_TEST(test_header_limit_any_cut)
{
	/*
	 * Near a header limit, how the input is cut into pieces changes
	 * nothing: a line that may still turn out a body line is waited for,
	 * a CR may be the start of the empty line, a long first "From " line
	 * of a local message is dropped as a short one is, and the limit
	 * named is the one passed first.
	 */
	static const struct {
		unsigned long long one, block;
		const char *msg;
		unsigned long long size;	/* message_size_limit; 0: the default */
	} cases[] = {
		{0, 14, "X-1: aaaaaaaa\nHello world\n", 0},
		{14, 0, "X-1: a\nThisIsALongWord and text\n", 0},
		{0, 14, "X-1: aaaaaaa\r\n\r\nbody\r\n", 0},
		{20, 0, "From joe@example.org Mon Jan  1 00:00:00 2024 and more\nSubject: s\n\nbody\n", 0},
		{12, 16, "To: bob@example.org\n\nbody\n", 0},
		{14, 0, "X-Name      \t      : long value\n\nbody\n", 0},
		{10, 0, "Subject: 0123456789abc\n\n0123456789012345678901234567890123456789\n", 40},
	};
	static const size_t chunks[] = { 1, 3, 7, 64, 5000 };
	const char *rc[] = {"a@x.test", NULL};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cleanup_settings s = settings();
		struct result first, r;
		s.header_size_limit = cases[i].one;
		s.header_block_size_limit = cases[i].block;
		if (cases[i].size)
			s.message_size_limit = cases[i].size;
		run(&s, CLEANUP_LOCAL, 0, "joe", rc, local_attrs, cases[i].msg, chunks[0], &first);
		for (size_t k = 1; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			run(&s, CLEANUP_LOCAL, 0, "joe", rc, local_attrs, cases[i].msg, chunks[k], &r);
			ck_assert_msg(r.status == first.status && strcmp(buf_str(&r.reason), buf_str(&first.reason)) == 0
				      && strcmp(buf_str(&r.content), buf_str(&first.content)) == 0,
				      "case %zu, pieces of %zu: %d %s\n%s\nagainst pieces of 1: %d %s\n%s", i, chunks[k],
				      r.status, buf_str(&r.reason), buf_str(&r.content), first.status,
				      buf_str(&first.reason), buf_str(&first.content));
			result_free(&r);
		}
		if (i == 3)	/* the "From " line went, the message did not */
			ck_assert_int_eq(first.status, CLEANUP_OK);
		result_free(&first);
	}
}
END_TEST

START_TEST(test_first_header)
{
	/*
	 * pickup's warning stays at the top, under Received:, whatever the
	 * message starts with: a long "From " line (dropped), no headers, or
	 * nothing at all; at any chunk size.
	 */
	static const size_t chunks[] = { 1, 64, 100000 };
	char *from_line = xmalloc(70100);
	memcpy(from_line, "From ", 5);
	memset(from_line + 5, 'a', 70000);
	strcpy(from_line + 70005, "\nSubject: hi\n\nbody\n");
	const char *msgs[] = { from_line, "no headers\n", "" };
	const char *rc[] = {"a@x.test", NULL};
	struct cleanup_settings s = settings();
	s.message_size_limit = 0;
	s.header_size_limit = 1000;
	run_warning = "mx.example.org: joe set sender to boss@example.org using -f";
	for (size_t m = 0; m < 3; m++)
		for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
			struct result r;
			run(&s, CLEANUP_LOCAL, 0, "boss@example.org", rc, local_attrs, msgs[m], chunks[k], &r);
			ck_assert_int_eq(r.status, CLEANUP_OK);
			const char *t = buf_str(&r.content), *w = strstr(t, "\nX-Authentication-Warning: ");
			ck_assert_ptr_nonnull(w);
			ck_assert(strncmp(t, "Received: ", 10) == 0);
			ck_assert_msg(m == 2 || strstr(w, "\n\n") != NULL, "message %zu: %s", m, t);
			ck_assert_ptr_null(strstr(t, "aaaa"));
			if (m == 0)
				ck_assert_ptr_nonnull(strstr(t, "\nSubject: hi\n"));
			result_free(&r);
		}
	run_warning = NULL;
	free(from_line);
}
END_TEST

START_TEST(test_header_block_limit)
{
	/* More headers than header_block_size_limit: refused, never turned into body. */
	struct cleanup_settings s = settings();
	s.header_block_size_limit = 100;
	struct result r;
	const char *rc[] = {"a@x.test", NULL};
	run(&s, CLEANUP_LOCAL, 0, "joe", rc, local_attrs,
	    "X-1: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nX-2: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
	    "X-3: cccccccccccccccccccccccccccccccccccccc\nX-4: d\n\nbody\n", 10, &r);
	ck_assert_int_eq(r.status, CLEANUP_REJECT);
	ck_assert_str_eq(buf_str(&r.reason), "message header block too large (more than 100 bytes)");
	result_free(&r);
	s.header_block_size_limit = 200;
	run(&s, CLEANUP_LOCAL, 0, "joe", rc, local_attrs,
	    "X-1: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nX-2: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
	    "X-3: cccccccccccccccccccccccccccccccccccccc\nX-4: d\n\nbody\n", 10, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	result_free(&r);
}
END_TEST

START_TEST(test_disk_full)
{
	/* The disk fills while the body streams: temporary failure, nothing left. */
	struct cleanup_settings s = settings();
	s.message_size_limit = 0;
	qfile_fault_inject(QF_CALL_WRITE, 1, ENOSPC, true);
	struct cleanup *c = cleanup_open_with(&s, CLEANUP_LOCAL, 0);
	cleanup_sender(c, "joe");
	cleanup_recipient(c, "a@x.test", 0, NULL);
	char block[8192];
	memset(block, 'y', sizeof(block));
	block[sizeof(block) - 1] = '\n';
	cleanup_write(c, "Subject: s\n\n", 12);
	int rc = 0;
	for (int i = 0; i < 40 && rc == 0; i++)
		rc = cleanup_write(c, block, sizeof(block));
	ck_assert_int_eq(rc, -1);
	struct buf reason = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(cleanup_finish(c, id, sizeof(id), &reason), CLEANUP_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(buf_str(&reason), strerror(ENOSPC)));
	ck_assert_int_eq(count_files(), 0);

	/* And when the directory cannot even be opened. */
	qfile_fault_reset();
	qfile_fault_inject(QF_CALL_OPEN, 1, EIO, false);
	c = cleanup_open_with(&s, CLEANUP_LOCAL, 0);
	cleanup_sender(c, "joe");
	cleanup_recipient(c, "a@x.test", 0, NULL);
	ck_assert_int_eq(cleanup_write(c, "x\n", 2), -1);
	ck_assert_int_eq(cleanup_finish(c, id, sizeof(id), &reason), CLEANUP_TEMPFAIL);
	ck_assert_int_eq(count_files(), 0);
	buf_free(&reason);
}
END_TEST

START_TEST(test_abort)
{
	struct cleanup_settings s = settings();
	struct cleanup *c = cleanup_open_with(&s, CLEANUP_LOCAL, 0);
	cleanup_recipient(c, "a@x.test", 0, NULL);
	cleanup_write(c, "Subject: s\n\nbody\n", 17);
	cleanup_abort(c);
	ck_assert_int_eq(count_files(), 0);
}
END_TEST

START_TEST(test_extract_notify)
{
	struct cleanup_settings s = settings();
	struct cleanup *c = cleanup_open_with(&s, CLEANUP_LOCAL, CLEANUP_FLAG_EXTRACT);
	cleanup_sender(c, "joe");
	cleanup_attr(c, "dsn_notify", "6");
	cleanup_write(c, "To: a@x.test\n\nb\n", 16);
	struct buf reason = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(cleanup_finish(c, id, sizeof(id), &reason), CLEANUP_OK);
	char *path = xasprintf("%s/%s", dir, id);
	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, false, &q, &reason), QF_OK);
	ck_assert_int_eq(qfile_rcpt(q, 0)->notify, DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE);
	qfile_close(q);
	free(path);
	buf_free(&reason);
}
END_TEST

START_TEST(test_dsn_kept)
{
	struct cleanup_settings s = settings();
	struct cleanup *c = cleanup_open_with(&s, CLEANUP_SMTP, 0);
	cleanup_sender(c, "s@x.test");
	cleanup_recipient(c, "a@x.test", DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE, "rfc822;orig@x.test");
	cleanup_attr(c, "dsn_envid", "ENV1");
	cleanup_attr(c, "dsn_ret", "HDRS");
	cleanup_write(c, "From: s@x.test\n\nb\n", 18);
	struct buf reason = BUF_INIT;
	char id[QF_ID_MAX];
	ck_assert_int_eq(cleanup_finish(c, id, sizeof(id), &reason), CLEANUP_OK);
	char *path = xasprintf("%s/%s", dir, id);
	struct qfile *q;
	ck_assert_int_eq(qfile_open(path, false, &q, &reason), QF_OK);
	ck_assert_int_eq(qfile_rcpt(q, 0)->notify, DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE);
	ck_assert_str_eq(qfile_rcpt(q, 0)->orcpt, "rfc822;orig@x.test");
	ck_assert_str_eq(qfile_attr(q, "dsn_envid"), "ENV1");
	ck_assert_str_eq(qfile_attr(q, "dsn_ret"), "HDRS");
	qfile_close(q);
	free(path);
	buf_free(&reason);
}
END_TEST

/*
 * swap_bangpath, allow_percent_hack, append_dot_mydomain: envelope
 * addresses from any source, header addresses of local mail only.
 */
START_TEST(test_local_rewriting)
{
	static const char *const rcpts[] = {"uucp.test!bob", "ann%x.test", "cat@host",
					    "dan%x.test@localhost", NULL};
	static const char *const msg = "From: site!jo\nTo: pat%y.test\nDate: d\nMessage-ID: <i>\n\nb\n";
	struct cleanup_settings s = settings();
	struct result r;

	/* Off: as written, only @myorigin appended. */
	run(&s, CLEANUP_LOCAL, 0, "uucp.test!joe", rcpts, local_attrs, msg, 100000, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_str_eq(buf_str(&r.sender), "uucp.test!joe@example.org");
	ck_assert_str_eq(buf_str(&r.rcpts),
	    "uucp.test!bob@example.org ann%x.test@example.org cat@host dan%x.test@localhost");
	ck_assert_ptr_nonnull(strstr(buf_str(&r.content), "From: site!jo@example.org\nTo: pat%y.test@example.org\n"));
	result_free(&r);

	s.swap_bangpath = true;
	s.percent_hack = true;
	s.append_dot_mydomain = "example.org";
	run(&s, CLEANUP_LOCAL, 0, "uucp.test!joe", rcpts, local_attrs, msg, 100000, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_str_eq(buf_str(&r.sender), "joe@uucp.test");
	/* user%domain@ours is left to the resolver, as in Postfix; localhost gets .example.org too. */
	ck_assert_str_eq(buf_str(&r.rcpts), "bob@uucp.test ann@x.test cat@host.example.org dan%x.test@localhost.example.org");
	ck_assert_ptr_nonnull(strstr(buf_str(&r.content), "From: jo@site.example.org\nTo: pat@y.test\n"));
	result_free(&r);

	/* SMTP: the envelope is rewritten, the headers are not. */
	run(&s, CLEANUP_SMTP, 0, "uucp.test!joe", rcpts, smtp_attrs, msg, 100000, &r);
	ck_assert_int_eq(r.status, CLEANUP_OK);
	ck_assert_str_eq(buf_str(&r.sender), "joe@uucp.test");
	ck_assert_str_eq(buf_str(&r.rcpts), "bob@uucp.test ann@x.test cat@host.example.org dan%x.test@localhost.example.org");
	ck_assert_ptr_nonnull(strstr(buf_str(&r.content), "From: site!jo\nTo: pat%y.test\n"));
	result_free(&r);
}
END_TEST

#define N(a) (sizeof(a) / sizeof((a)[0]))

int main(void)
{
	Suite *s = suite_create("cleanup");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_golden, 0, N(goldens));
	tcase_add_loop_test(tc, test_golden_edit, 0, N(goldens));
	tcase_add_loop_test(tc, test_rejects, 0, N(rejects));
	tcase_add_test(tc, test_authenticated_header);
	tcase_add_test(tc, test_extensions);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_header_limit);
	tcase_add_test(tc, test_header_limit_one_line);
	tcase_add_test(tc, test_header_limit_body_line);
	tcase_add_test(tc, test_header_limit_any_cut);
	tcase_add_test(tc, test_first_header);
	tcase_add_test(tc, test_header_block_limit);
	tcase_add_test(tc, test_disk_full);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_dsn_kept);
	tcase_add_test(tc, test_extract_notify);
	tcase_add_test(tc, test_local_rewriting);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
