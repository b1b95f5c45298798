/*
 * fuzz_cleanup.c - libFuzzer target for cleanup's streaming input
 * (lib/mail/cleanup_core.c), the code every message passes through, from
 * SMTP clients and local users alike: the header block is read line by
 * line across pieces of any size, under header_size_limit and
 * header_block_size_limit. A message given in pieces must end as the same
 * message given whole: the same status and reason and, when it is
 * queued, the same queue file (envelope and content, its queue id
 * aside). The limits are small so that their paths are common.
 *
 * Input: byte 0 = piece size (bits 0-5, plus 1), SMTP rather than local
 * (bit 6), sendmail -t (bit 7); byte 1 = header_size_limit (8 + 4 x bits
 * 0-6; bit 7: none); byte 2 = header_block_size_limit (16 + 16 x bits
 * 0-6; bit 7: none); byte 3 = message_size_limit (32 x it; 0: 1 MiB);
 * the rest is the message. It is also given in pieces of irregular
 * sizes (from its own bytes), compared the same way.
 * Runs as any user; writes queue files in a private directory (on
 * /dev/shm when there is one, where an fsync costs nothing), removed at
 * exit.
 */
#include "compat.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/cleanup.h"
#include "mail/cleanup_impl.h"
#include "mail/qfile.h"
#include "util/buf.h"
#include "util/log.h"

static char dir[256];
static char *const local_domains[] = {"example.org", "localhost", NULL};

static void remove_dir(void)
{
	rmdir(dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	if (access("/dev/shm", W_OK) == 0)
		tmp = "/dev/shm";
	snprintf(dir, sizeof(dir), "%s/fuzz_cleanup.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	log_init("fuzz_cleanup", 0);	/* quiet */
	atexit(remove_dir);
}

static int no_lookup(void *ctx, enum cleanup_table t, const char *key, struct buf *value)
{
	(void)ctx;
	(void)t;
	(void)key;
	(void)value;
	return 0;
}

/* What one run gave: status and reason, then the queue file, its id masked. */
static void run(const struct cleanup_settings *s, enum cleanup_source src, int flags, const char *msg,
		size_t len, size_t piece, struct buf *out)
{
	struct cleanup *c = cleanup_open_with(s, src, flags);
	struct buf reason = BUF_INIT, err = BUF_INIT;
	char id[QF_ID_MAX], path[400], chunk[512];
	struct qfile *q;
	ssize_t n;

	cleanup_sender(c, "joe@example.org");
	if (!(flags & CLEANUP_FLAG_EXTRACT))
		cleanup_recipient(c, "alice@example.org", 0, NULL);
	if (src == CLEANUP_LOCAL) {
		cleanup_attr(c, "uid", "1000");
		cleanup_attr(c, "login", "joe");
	}
	for (size_t i = 0, n; i < len; i += n) {
		n = piece ? piece : 1 + (unsigned char)msg[i] % 97;	/* 0: irregular */
		if (n > len - i)
			n = len - i;
		if (cleanup_write(c, msg + i, n) < 0)
			break;
	}
	int status = cleanup_finish(c, id, sizeof(id), &reason);
	buf_printf(out, "%d %s\n", status, buf_str(&reason));
	if (status == CLEANUP_OK) {
		snprintf(path, sizeof(path), "%s/%s", dir, id);
		if (qfile_open(path, false, &q, &err) != QF_OK)
			abort();	/* cleanup wrote what the reader refuses */
		buf_printf(out, "%s\n", qfile_sender(q));
		for (size_t i = 0; i < qfile_rcpt_count(q); i++)
			buf_printf(out, "%s\n", qfile_rcpt(q, i)->address);
		struct buf content = BUF_INIT;
		while ((n = qfile_read(q, chunk, sizeof(chunk))) > 0)
			buf_add(&content, chunk, (size_t)n);
		qfile_close(q);
		unlink(path);
		/* The queue id (in Received:, Message-ID:) differs between runs, in length too. */
		const char *p = content.data, *end = content.data + content.len, *at;
		size_t idlen = strlen(id);
		while (p < end && (at = memmem(p, (size_t)(end - p), id, idlen)) != NULL) {
			buf_add(out, p, (size_t)(at - p));
			buf_adds(out, "QUEUEID");
			p = at + idlen;
		}
		if (p < end)
			buf_add(out, p, (size_t)(end - p));
		buf_free(&content);
	}
	buf_free(&reason);
	buf_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 4)
		return 0;
	struct cleanup_settings s = {
		.incoming_dir = dir,
		.myhostname = "mx.example.org",
		.myorigin = "example.org",
		.mail_name = "Tern",
		.local_domains = local_domains,
		.append_at_myorigin = true,
		.message_size_limit = data[3] ? 32 * (unsigned long long)data[3] : 1 << 20,
		.header_size_limit = data[1] & 0x80 ? 0 : 8 + 4 * (unsigned)(data[1] & 0x7f),
		.header_block_size_limit = data[2] & 0x80 ? 0 : 16 + 16 * (unsigned)(data[2] & 0x7f),
		.virtual_expansion_limit = 1000,
		.virtual_recursion_limit = 10,
		.hopcount_limit = 50,
		.lookup = no_lookup,
		.fixed_time = 1700000000,
	};
	size_t piece = 1 + (data[0] & 0x3f);
	enum cleanup_source src = data[0] & 0x40 ? CLEANUP_SMTP : CLEANUP_LOCAL;
	int flags = data[0] & 0x80 ? CLEANUP_FLAG_EXTRACT : 0;
	const char *msg = (const char *)data + 4;
	struct buf whole = BUF_INIT, pieces = BUF_INIT;

	run(&s, src, flags, msg, size - 4, size, &whole);
	for (int irregular = 0; irregular <= 1; irregular++) {
		buf_reset(&pieces);
		run(&s, src, flags, msg, size - 4, irregular ? 0 : piece, &pieces);
		if (whole.len != pieces.len || memcmp(whole.data, pieces.data, whole.len) != 0) {
			/* The result depends on how the message was cut. */
			fprintf(stderr, "whole:\n%s\n--- in pieces of %zu:\n%s\n", buf_str(&whole),
				irregular ? 0 : piece, buf_str(&pieces));
			abort();
		}
	}
	buf_free(&whole);
	buf_free(&pieces);
	return 0;
}
