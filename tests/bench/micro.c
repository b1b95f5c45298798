/*
 * micro.c - unit-level micro-benchmark: how fast the pieces a message
 * passes through run on their own, so that a change can be compared
 * against the figures of the commit before it on the same machine.
 *
 * Benchmark tool (not a test), runs unprivileged: `make bench-micro`
 * builds and runs it (.ci/run too, with a shorter time per case). It
 * only prints; nothing here asserts a speed. Each case runs its
 * operation enough times to take about MICRO_SECONDS (default 0.5 s),
 * timed with clock_gettime(CLOCK_MONOTONIC), three times; the fastest
 * run counts (the others were slowed by whatever else the machine ran).
 * Beside the elapsed time per operation it prints the CPU time this
 * process spent per operation in that run: on a shared machine the
 * elapsed time also holds other processes' turns on the CPU, and a
 * queue write's the wait for the disk.
 *
 *   tests/bench/micro [CONF_DIR]     CONF_DIR: where main.cf is (conf/)
 *
 * Cases:
 *   - the SMTP server engine (lib/mail/smtp_engine.c) driven in memory
 *     as tests/unit/test_smtp_engine.c drives it: a whole session, EHLO,
 *     MAIL, RCPT, DATA with a 4 KiB body, QUIT, one command per input
 *     call and the replies taken after each;
 *   - the SMTP client engine (lib/mail/smtpc.c) against a scripted
 *     server: greeting, EHLO with PIPELINING, one pipelined transaction,
 *     QUIT;
 *   - the content encoder (lib/mail/smtpc_body.c) on a 64 KiB 8-bit
 *     text message fed in 4 KiB pieces: as it goes out with DATA, and
 *     converted to quoted-printable for a server without 8BITMIME;
 *   - the queue file writer (lib/mail/qfile.c) in a directory under
 *     /tmp: create, envelope, 4 KiB of content, commit; once as Tern
 *     runs (fsync of the file and of the directory), once with fsync(2)
 *     and fdatasync(2) made no-ops by this program, which shows what the
 *     file system costs apart from the disk;
 *   - config_load() of CONF_DIR/main.cf (the shipped default), and the
 *     same plus the first read of a few parameters whose defaults are
 *     computed (myhostname, mydomain, myorigin, mydestination);
 *   - lookups in a hash: map (lib/util/map.h) of 1000 keys.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/param_names.h"
#include "mail/qfile.h"
#include "mail/smtp_engine.h"
#include "mail/smtpc.h"
#include "mail/smtpc_body.h"
#include "util/buf.h"
#include "util/map.h"
#include "util/mem.h"

/*
 * The "without fsync" queue case: these definitions take the place of
 * the C library's for the whole program (qfile.c included); they make
 * the system call unless no_sync is set.
 */
static bool no_sync;

int fsync(int fd)
{
	return no_sync ? 0 : (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	return no_sync ? 0 : (int)syscall(SYS_fdatasync, fd);
}

/* ---- timing ---- */

static double target = 0.5;	/* seconds per timed run (MICRO_SECONDS) */

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/*
 * The CPU this process spent per operation in the fastest of the three
 * runs of the last measure(): on a loaded machine the elapsed time also
 * holds the time other processes had the CPU, and a queue write's holds
 * the wait for the disk.
 */
static double last_cpu;

/*
 * One case: run(ctx, n) does the operation n times; after(ctx), if any,
 * undoes what the runs left behind, untimed. Returns the best seconds
 * per operation over three runs.
 */
typedef void (*run_fn)(void *ctx, unsigned long n);

static double measure(run_fn run, void (*after)(void *), void *ctx)
{
	unsigned long n = 1;
	double t, best = 0;

	/* Calibrate: double n until a run takes a tenth of the target. */
	for (;;) {
		t = now();
		run(ctx, n);
		t = now() - t;
		if (after != NULL)
			after(ctx);
		if (t >= target / 10 || n >= 1UL << 30)
			break;
		n *= 2;
	}
	n = (unsigned long)((double)n * target / (t > 0 ? t : 1e-9));
	if (n == 0)
		n = 1;
	for (int i = 0; i < 3; i++) {
		double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID);

		t = now();
		run(ctx, n);
		t = (now() - t) / (double)n;
		cpu = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu) / (double)n;
		if (after != NULL)
			after(ctx);
		if (i == 0 || t < best) {
			best = t;
			last_cpu = cpu;
		}
	}
	return best;
}

static void fmt_time(char *out, size_t size, double sec)
{
	if (sec >= 1e-3)
		snprintf(out, size, "%.2f ms", sec * 1e3);
	else if (sec >= 1e-6)
		snprintf(out, size, "%.2f us", sec * 1e6);
	else
		snprintf(out, size, "%.0f ns", sec * 1e9);
}

/*
 * A table row: what, how many per second (of unit), the elapsed time per
 * op and the CPU time per op (cpu_per_op scaled as sec_per_op is).
 */
static void row(const char *what, double per_sec, const char *unit, double sec_per_op, double cpu_per_op,
		const char *op)
{
	char rate[32], per[32], cpu[32];

	if (per_sec >= 1e6)
		snprintf(rate, sizeof(rate), "%.2f M", per_sec / 1e6);
	else if (per_sec >= 1e4)
		snprintf(rate, sizeof(rate), "%.1f k", per_sec / 1e3);
	else
		snprintf(rate, sizeof(rate), "%.1f ", per_sec);
	fmt_time(per, sizeof(per), sec_per_op);
	fmt_time(cpu, sizeof(cpu), cpu_per_op);
	printf("%-52s %10s%-12s %10s/%-8s %10s/%s\n", what, rate, unit, per, op, cpu, op);
	fflush(stdout);
}

static void die(const char *what, const char *why)
{
	fprintf(stderr, "micro: %s: %s\n", what, why);
	exit(1);
}

/* A 4 KiB message: a few headers and 76-character body lines, LF or CRLF ends. */
static void make_message(struct buf *out, size_t size, const char *eol, bool eight_bit)
{
	buf_printf(out, "From: a@b.test%sTo: u@mx.test%sSubject: micro-benchmark%s", eol, eol, eol);
	if (eight_bit)
		buf_printf(out, "MIME-Version: 1.0%sContent-Type: text/plain; charset=utf-8%s"
			   "Content-Transfer-Encoding: 8bit%s", eol, eol, eol);
	buf_adds(out, eol);
	for (unsigned i = 0; out->len < size; i++) {
		if (eight_bit && i % 3 == 0)
			buf_adds(out, "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln, ");
		while (out->len % 80 < 74 && out->len < size)
			buf_addc(out, (char)('a' + (out->len * 7 + i) % 26));
		buf_adds(out, eol);
	}
}

/* ---- the SMTP server engine ---- */

struct engine_ctx {
	struct smtp_engine_cfg cfg;
	struct buf data;		/* the DATA content, CRLF, with the final dot */
	unsigned long bytes, queued;
};

static void *eng_open(void *ctx, const struct smtp_session_info *si, const struct smtp_envelope *env,
		struct buf *reply)
{
	(void)si;
	(void)env;
	(void)reply;
	return ctx;
}

static int eng_write(void *msg, const char *data, size_t len)
{
	(void)data;
	((struct engine_ctx *)msg)->bytes += len;
	return 0;
}

static enum smtp_commit eng_finish(void *ctx, void *msg, char *qid, size_t idlen, struct buf *reason)
{
	(void)msg;
	(void)reason;
	snprintf(qid, idlen, "QID%lu", ++((struct engine_ctx *)ctx)->queued);
	return SMTP_COMMIT_OK;
}

static void eng_abort(void *msg)
{
	(void)msg;
}

static const struct smtp_engine_ops eng_ops = {
	.msg_open = eng_open,
	.msg_write = eng_write,
	.msg_finish = eng_finish,
	.msg_abort = eng_abort,
};

static void eng_send(struct smtp_engine *e, const char *data, size_t len)
{
	size_t olen;

	smtp_engine_input(e, data, len);
	smtp_engine_output(e, &olen);
	smtp_engine_output_done(e, olen);
}

#define ENGINE_COMMANDS 5	/* EHLO MAIL RCPT DATA QUIT */

static void run_engine(void *arg, unsigned long n)
{
	struct engine_ctx *c = arg;
	static const char *const cmds[] = {"EHLO client.test\r\n", "MAIL FROM:<a@b.test>\r\n",
		"RCPT TO:<u@mx.test>\r\n", "DATA\r\n"};

	for (unsigned long i = 0; i < n; i++) {
		struct smtp_engine *e = smtp_engine_new(&c->cfg, &eng_ops, c, "localhost", "127.0.0.1");
		size_t olen;

		smtp_engine_start(e);
		smtp_engine_output(e, &olen);
		smtp_engine_output_done(e, olen);
		for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
			eng_send(e, cmds[k], strlen(cmds[k]));
		eng_send(e, c->data.data, c->data.len);
		eng_send(e, "QUIT\r\n", 6);
		if (!(smtp_engine_flags(e) & SMTP_WANT_CLOSE))
			die("smtpd engine", "the session did not end with QUIT");
		smtp_engine_free(e);
	}
}

static void bench_engine(void)
{
	struct engine_ctx c;

	memset(&c, 0, sizeof(c));
	c.cfg = (struct smtp_engine_cfg){
		.myhostname = "mx.test", .banner = "mx.test ESMTP Tern", .line_limit = 2048,
		.soft_error_limit = 10, .hard_error_limit = 20, .junk_command_limit = 100,
		.forbid_bare_newline = true, .forbid_unauth_pipelining = true,
		.pipelining = true, .chunking = true, .dsn = true, .smtputf8 = true, .eightbitmime = true,
		.message_size_limit = 10240000,
	};
	make_message(&c.data, 4096, "\r\n", false);
	buf_adds(&c.data, ".\r\n");
	double t = measure(run_engine, NULL, &c);
	if (c.queued == 0)
		die("smtpd engine", "no message was committed");
	row("smtpd engine: EHLO MAIL RCPT DATA(4 KiB) QUIT", 1 / t, "sess/s", t, last_cpu, "sess");
	row("smtpd engine: the same per command (5 a session)", ENGINE_COMMANDS / t, "cmd/s",
	    t / ENGINE_COMMANDS, last_cpu / ENGINE_COMMANDS, "cmd");
	buf_free(&c.data);
}

/* ---- the SMTP client engine ---- */

/* What the scripted server answers to each thing the client writes. */
static void smtpc_expect(struct smtpc *s, enum smtpc_next want, const char *reply)
{
	enum smtpc_next got = smtpc_next(s);

	if (got != want)
		die("smtp client engine", "the dialogue went another way than scripted");
	if (want == SMTPC_WRITE)
		smtpc_output_sent(s);
	if (reply != NULL)
		smtpc_input(s, reply, strlen(reply));
}

static void run_smtpc(void *arg, unsigned long n)
{
	struct smtpc_rcpt rc;
	struct smtpc_txn txn;
	struct smtpc_conf conf = {.helo_name = "client.example"};

	(void)arg;
	memset(&rc, 0, sizeof(rc));
	memset(&txn, 0, sizeof(txn));
	rc.address = "r@example.net";
	txn.sender = "s@example.org";
	txn.size = 4096;
	txn.rcpt = &rc;
	txn.n = 1;
	for (unsigned long i = 0; i < n; i++) {
		struct smtpc *s = smtpc_new(&conf);

		smtpc_expect(s, SMTPC_READ, "220 mx.example ESMTP\r\n");
		smtpc_expect(s, SMTPC_WRITE, "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n"
			     "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n");
		if (smtpc_next(s) != SMTPC_READY || smtpc_begin(s, &txn) != 0)
			die("smtp client engine", "the transaction did not start");
		smtpc_expect(s, SMTPC_WRITE, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n");
		if (smtpc_next(s) != SMTPC_BODY)
			die("smtp client engine", "no 354");
		smtpc_body_done(s);
		smtpc_expect(s, SMTPC_WRITE, "250 2.0.0 Ok: queued as X\r\n");
		if (smtpc_next(s) != SMTPC_READY || txn.code != 250)
			die("smtp client engine", "the message was not accepted");
		smtpc_quit(s);
		smtpc_expect(s, SMTPC_WRITE, "221 2.0.0 Bye\r\n");
		if (smtpc_next(s) != SMTPC_CLOSED)
			die("smtp client engine", "the session did not close");
		smtpc_free(s);
	}
	buf_free(&txn.reply);
	buf_free(&rc.reply);
}

static void bench_smtpc(void)
{
	double t = measure(run_smtpc, NULL, NULL);

	row("smtp client engine: session, 1 pipelined txn", 1 / t, "txn/s", t, last_cpu, "txn");
}

/* ---- the content encoder ---- */

struct body_ctx {
	struct buf msg, out;
	unsigned flags;
};

static void run_body(void *arg, unsigned long n)
{
	struct body_ctx *c = arg;
	struct smtpc_body b;

	for (unsigned long i = 0; i < n; i++) {
		buf_reset(&c->out);
		smtpc_body_init(&b, c->flags, 998);
		for (size_t off = 0; off < c->msg.len; off += 4096) {
			size_t len = c->msg.len - off < 4096 ? c->msg.len - off : 4096;
			smtpc_body_feed(&b, c->msg.data + off, len, &c->out);
			/* The driver sends what was appended: keep the buffer small. */
			if (c->out.len > 65536)
				buf_reset(&c->out);
		}
		smtpc_body_finish(&b, &c->out);
		smtpc_body_free(&b);
	}
}

static void bench_body(void)
{
	struct body_ctx c;

	memset(&c, 0, sizeof(c));
	make_message(&c.msg, 65536, "\n", true);
	c.flags = SMTPC_BODY_DOTS;
	double t = measure(run_body, NULL, &c);
	row("content encoder: 64 KiB 8-bit text, DATA", (double)c.msg.len / t / 1e6, "MB/s", t, last_cpu, "msg");
	c.flags = SMTPC_BODY_DOTS | SMTPC_BODY_TO_QP;
	t = measure(run_body, NULL, &c);
	row("content encoder: the same to quoted-printable", (double)c.msg.len / t / 1e6, "MB/s", t, last_cpu, "msg");
	buf_free(&c.msg);
	buf_free(&c.out);
}

/* ---- the queue file writer ---- */

struct qfile_ctx {
	char dir[64];
	struct buf content;
	char **paths;			/* committed files, removed after each run */
	unsigned long npaths, cap;
};

static void run_qfile(void *arg, unsigned long n)
{
	struct qfile_ctx *c = arg;
	struct buf err = BUF_INIT;
	char id[64];

	if (n > c->cap) {
		c->paths = xrealloc(c->paths, n * sizeof(*c->paths));
		c->cap = n;
	}
	for (unsigned long i = 0; i < n; i++) {
		struct qfile_writer *w = qfile_create(c->dir, &err);

		if (w == NULL)
			die("queue file", buf_str(&err));
		qfile_set_sender(w, "a@b.test");
		qfile_add_rcpt(w, "u@mx.test", 0, "");
		qfile_add_attr(w, "body_type", "7BIT");
		qfile_add_attr(w, "client_addr", "127.0.0.1");
		if (qfile_write(w, c->content.data, c->content.len, &err) != 0)
			die("queue file", buf_str(&err));
		c->paths[c->npaths++] = xstrdup(qfile_writer_path(w));
		if (qfile_commit(w, id, sizeof(id), &err) != 0)
			die("queue file", buf_str(&err));
	}
	buf_free(&err);
}

static void qfile_after(void *arg)
{
	struct qfile_ctx *c = arg;

	for (unsigned long i = 0; i < c->npaths; i++) {
		unlink(c->paths[i]);
		free(c->paths[i]);
	}
	c->npaths = 0;
}

static void bench_qfile(void)
{
	struct qfile_ctx c;

	memset(&c, 0, sizeof(c));
	strlcpy(c.dir, "/tmp/tern-micro.XXXXXX", sizeof(c.dir));
	if (mkdtemp(c.dir) == NULL)
		die("mkdtemp", "cannot make a directory in /tmp");
	make_message(&c.content, 4096, "\n", false);
	double t = measure(run_qfile, qfile_after, &c);
	row("queue file: 4 KiB, commit with fsync (file + dir)", 1 / t, "msg/s", t, last_cpu, "msg");
	no_sync = true;
	t = measure(run_qfile, qfile_after, &c);
	no_sync = false;
	row("queue file: the same, fsync a no-op", 1 / t, "msg/s", t, last_cpu, "msg");
	rmdir(c.dir);
	free(c.paths);
	buf_free(&c.content);
}

/* ---- configuration ---- */

static const char *conf_dir;

static void run_config(void *arg, unsigned long n)
{
	struct buf err = BUF_INIT;

	for (unsigned long i = 0; i < n; i++) {
		if (config_load(conf_dir, false, &err) != 0)
			die("config_load", buf_str(&err));
		if (arg != NULL) {
			/* Computed defaults, worked out at their first read. */
			cfg_str(P_myhostname);
			cfg_str(P_mydomain);
			cfg_str(P_myorigin);
			cfg_list(P_mydestination);
		}
	}
	buf_free(&err);
}

static double config_load_s, config_load_cpu;

static void bench_config(void)
{
	config_load_s = measure(run_config, NULL, NULL);
	config_load_cpu = last_cpu;
	row("config_load of the default main.cf", 1 / config_load_s, "load/s", config_load_s, last_cpu, "load");
	double t = measure(run_config, NULL, "");
	row("the same + myhostname, mydomain, myorigin, mydest.", 1 / t, "load/s", t, last_cpu, "load");
}

/* ---- maps ---- */

#define MAP_KEYS 1000

struct map_ctx {
	struct map *map;
	char keys[MAP_KEYS][32];
	struct buf value;
};

static void run_map(void *arg, unsigned long n)
{
	struct map_ctx *c = arg;

	for (unsigned long i = 0; i < n; i++)
		if (map_lookup(c->map, c->keys[(i * 7919) % MAP_KEYS], &c->value) != 1)
			die("map_lookup", "a key was not found");
}

static void bench_map(void)
{
	struct map_ctx *c = xcalloc(1, sizeof(*c));
	char dir[] = "/tmp/tern-micro.XXXXXX";
	struct buf err = BUF_INIT;

	if (mkdtemp(dir) == NULL)
		die("mkdtemp", "cannot make a directory in /tmp");
	char *spec = xasprintf("hash:%s/map", dir);
	struct map *w = map_open(spec, MAP_WRITE | MAP_CREATE | MAP_TRUNC, &err);
	if (w == NULL)
		die("map_open", buf_str(&err));
	for (unsigned i = 0; i < MAP_KEYS; i++) {
		char value[64];

		snprintf(c->keys[i], sizeof(c->keys[i]), "user%u@example.com", i);
		snprintf(value, sizeof(value), "local%u@mx.test", i);
		if (map_update(w, c->keys[i], value) != 1)
			die("map_update", map_error(w));
	}
	if (map_close(w) != 0)
		die("map_close", "cannot save the map");
	c->map = map_open(spec, MAP_RDONLY, &err);
	if (c->map == NULL)
		die("map_open", buf_str(&err));
	double t = measure(run_map, NULL, c);
	row("hash: map lookup (1000 keys, all found)", 1 / t, "lookup/s", t, last_cpu, "lookup");
	map_close(c->map);
	char *db = xasprintf("%s/map.db", dir);
	unlink(db);
	rmdir(dir);
	free(db);
	free(spec);
	buf_free(&err);
	buf_free(&c->value);
	free(c);
}

int main(int argc, char **argv)
{
	const char *s = getenv("MICRO_SECONDS");

	if (s != NULL && atof(s) > 0)
		target = atof(s);
	conf_dir = argc > 1 ? argv[1] : "conf";
	printf("Tern micro-benchmark: best of 3 runs of about %.2f s per case (CLOCK_MONOTONIC).\n"
	       "Compare only with figures from the same machine under the same load.\n\n", target);
	printf("%-52s %10s%-12s %10s %-8s %10s\n", "case", "rate", "", "elapsed", "", "CPU");
	bench_engine();
	bench_smtpc();
	bench_body();
	bench_qfile();
	bench_config();
	bench_map();
	printf("\nCONFIG LOAD: %.1f us elapsed, %.1f us CPU per config_load of %s/main.cf\n"
	       "(a submission's configuration read should cost microseconds, not milliseconds)\n",
	       config_load_s * 1e6, config_load_cpu * 1e6, conf_dir);
	return 0;
}
