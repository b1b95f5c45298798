/*
 * fuzz_qfile.c - libFuzzer target for the queue file reader
 * (lib/mail/qfile.c): a file that does not parse must be reported as
 * corrupt, never crash; what parses must be self-consistent. Each input
 * is read twice: from memory (qfile_parse_buffer) and as a file through
 * qfile_open, the path qmgr, local and the queue tools take, which must
 * agree; on a file that opens, a recipient is marked done, and the file
 * must still open with one recipient fewer pending.
 * Runs as any user; writes only in a private directory it makes under
 * $TMPDIR (or /tmp) and removes at exit.
 */
#include "compat.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/qfile.h"
#include "util/buf.h"

static char dir[256];
static char path[300];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/fuzz_qfile.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	/* Not a queue id, so the name-must-match-id check stays out of the way. */
	snprintf(path, sizeof(path), "%s/image", dir);
	/*
	 * A boot no file can name (not hex): the file reader then checks the
	 * checksum of every version 2 file, as the buffer reader does, and
	 * the two must agree. With the real boot id a fuzzer could learn it
	 * from the comparison and make the two differ on purpose.
	 */
	qfile_fault_boot_id("never-a-boot-id-never-a-boot-id!");
	atexit(cleanup);
}

/* Read the content to the end; its length must be the one announced. */
static void read_all(struct qfile *q)
{
	char chunk[64];
	unsigned long long total = 0;
	ssize_t n;
	while ((n = qfile_read(q, chunk, sizeof(chunk))) > 0)
		total += (unsigned long long)n;
	if (n < 0 || total != qfile_content_size(q))
		abort();
}

static void from_file(const uint8_t *data, size_t size, int buffer_rc, size_t nrcpt, size_t pending)
{
	struct qfile *q;
	struct buf err = BUF_INIT;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || close(fd) != 0)
		abort();
	int rc = qfile_open(path, true, &q, &err);
	if ((rc == QF_OK) != (buffer_rc == QF_OK))
		abort();	/* the file and the buffer readers disagree */
	if (rc != QF_OK) {
		if (err.len == 0)
			abort();
		goto out;
	}
	if (qfile_rcpt_count(q) != nrcpt || qfile_pending_count(q) != pending)
		abort();
	read_all(q);
	size_t first = nrcpt;
	for (size_t i = 0; i < nrcpt && first == nrcpt; i++)
		if (qfile_rcpt(q, i)->status == QF_RCPT_PENDING)
			first = i;
	if (first < nrcpt && qfile_mark_done(q, first, QF_RCPT_DELIVERED, &err) != 0)
		abort();
	qfile_close(q);
	if (first < nrcpt) {
		/* The mark is one byte in place: the file still parses, one fewer pending. */
		if (qfile_open(path, false, &q, &err) != QF_OK || qfile_pending_count(q) != pending - 1
		    || qfile_rcpt(q, first)->status != QF_RCPT_DELIVERED)
			abort();
		qfile_close(q);
	}
out:
	unlink(path);
	buf_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qfile *q;
	struct buf err = BUF_INIT;
	size_t nrcpt = 0, pending = 0;

	if (dir[0] == '\0')
		setup();
	int rc = qfile_parse_buffer((const char *)data, size, &q, &err);
	if (rc == QF_OK) {
		if (!qfile_id_valid(qfile_id(q)) || qfile_pending_count(q) > qfile_rcpt_count(q))
			abort();
		nrcpt = qfile_rcpt_count(q);
		pending = qfile_pending_count(q);
		read_all(q);
		qfile_close(q);
	} else if (err.len == 0) {
		abort();
	}
	buf_free(&err);
	from_file(data, size, rc, nrcpt, pending);
	return 0;
}
