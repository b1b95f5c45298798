/*
 * test_milter_chain.c - Check suite for lib/mail/milter_chain.c: the
 * milters of a session over real sockets. Each fake milter is a forked
 * child on a Unix socket in a temporary directory that answers from a
 * script of hand-written packets and logs every packet it gets; the
 * test drives the chain with milter_chain_wait() and checks outcomes,
 * replies, the order of edits, and what each fake saw. Timeouts are
 * 100-300 ms so that silence is tested quickly.
 */
#include "compat.h"

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mail/milter_chain.h"
#include "util/mem.h"

#define B(s) s, sizeof(s) - 1
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the fake milter ---- */

enum act { A_SEND, A_CLOSE, A_SILENT, A_GARBAGE };

struct pkt {
	char cmd;
	const char *data;
	size_t len;
	int delay_ms;		/* before this packet */
};

struct rule {
	char cmd;		/* the command answered */
	int nth;		/* its nth occurrence (1 = first); 0: every one */
	enum act act;
	struct pkt p[8];	/* A_SEND: the packets, up to one with cmd 0 */
};

struct fake {
	uint32_t actions, proto;
	const char *symlist_mail;	/* SETSYMLIST for MAIL, or NULL */
	struct rule r[8];
};

static void put_be32(char *p, uint32_t v)
{
	p[0] = (char)(v >> 24);
	p[1] = (char)(v >> 16);
	p[2] = (char)(v >> 8);
	p[3] = (char)v;
}

static void log_packet(FILE *f, char cmd, const char *d, size_t len)
{
	fputc(cmd, f);
	fputc(' ', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == 0)
			fputc('|', f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 32 || c > 126)
			fputc('.', f);
		else
			fputc(c, f);
	}
	fputc('\n', f);
	fflush(f);
}

static void send_buf(int fd, struct buf *b)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t n = write(fd, b->data + off, b->len - off);
		if (n <= 0)
			_exit(0);
		off += (size_t)n;
	}
	buf_reset(b);
}

static void serve(int lfd, const struct fake *fk, const char *logpath)
{
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		_exit(2);
	FILE *lf = fopen(logpath, "w");
	if (!lf)
		_exit(2);
	struct buf in = BUF_INIT, out = BUF_INIT;
	int seen[256] = {0};
	for (;;) {
		char cmd;
		const char *data, *err;
		size_t dlen, used;
		int got = milter_pkt_take(in.data, in.len, 1u << 20, &cmd, &data, &dlen, &used, &err);
		if (got == 0) {
			char b[65536];
			ssize_t n = read(fd, b, sizeof b);
			if (n <= 0)
				_exit(0);
			buf_add(&in, b, (size_t)n);
			continue;
		}
		if (got < 0)
			_exit(3);
		log_packet(lf, cmd, data, dlen);
		int nth = ++seen[(unsigned char)cmd];
		if (cmd == 'O') {
			char d[12];
			put_be32(d, 6);
			put_be32(d + 4, fk->actions);
			put_be32(d + 8, fk->proto);
			struct buf od = BUF_INIT;
			buf_add(&od, d, 12);
			if (fk->symlist_mail) {
				put_be32(d, MILTER_M_ENVFROM);
				buf_add(&od, d, 4);
				buf_add(&od, fk->symlist_mail, strlen(fk->symlist_mail) + 1);
			}
			milter_pkt_put(&out, 'O', od.data, od.len);
			buf_free(&od);
			buf_consume(&in, used);
			send_buf(fd, &out);
			continue;
		}
		buf_consume(&in, used);
		if (cmd == 'Q')
			_exit(0);
		if (cmd == 'D' || cmd == 'A' || cmd == 'K')
			continue;
		const struct rule *r = NULL;
		for (size_t i = 0; i < N(fk->r) && fk->r[i].cmd; i++)
			if (fk->r[i].cmd == cmd && (fk->r[i].nth == 0 || fk->r[i].nth == nth)) {
				r = &fk->r[i];
				break;
			}
		if (!r) {
			milter_pkt_put(&out, 'c', NULL, 0);
			send_buf(fd, &out);
			continue;
		}
		switch (r->act) {
		case A_CLOSE:
			_exit(0);
		case A_SILENT:
			break;
		case A_GARBAGE:
			buf_add(&out, B("\0\0\0\x05" "Zjunk"));
			send_buf(fd, &out);
			break;
		case A_SEND:
			for (size_t i = 0; i < N(r->p) && r->p[i].cmd; i++) {
				if (r->p[i].delay_ms)
					poll(NULL, 0, r->p[i].delay_ms);
				milter_pkt_put(&out, r->p[i].cmd, r->p[i].data, r->p[i].len);
				send_buf(fd, &out);
			}
			break;
		}
	}
}

static char tmpdir[48];
static pid_t kids[4];
static size_t nkids;

/* Serve fake fk on the listening socket lfd, logging to TMP/mN.log. */
static void fork_fake(int n, int lfd, const struct fake *fk)
{
	char logpath[128];
	snprintf(logpath, sizeof logpath, "%s/m%d.log", tmpdir, n);
	ck_assert_int_eq(listen(lfd, 4), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* not Check's handler, which ends the whole process group */
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		serve(lfd, fk, logpath);
	}
	close(lfd);
	kids[nkids++] = pid;
}

/* Start a fake milter on TMP/mN.sock. */
static void start_fake(int n, const struct fake *fk)
{
	char path[128];
	snprintf(path, sizeof path, "%s/m%d.sock", tmpdir, n);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	ck_assert_uint_lt(strlen(path), sizeof sun.sun_path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	fork_fake(n, lfd, fk);
}

/* A TCP socket bound to a free port of 127.0.0.1; the port in *port. */
static int tcp_socket(unsigned *port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Wait for the fakes (after milter_chain_free) and return milter n's log. */
static char *fake_log(int n)
{
	/* a fake that was never connected to waits in accept(): end it after 1 s */
	for (size_t i = 0; i < nkids; i++) {
		for (int t = 0; t < 100 && waitpid(kids[i], NULL, WNOHANG) == 0; t++)
			poll(NULL, 0, 10);
		if (kill(kids[i], SIGKILL) == 0)
			waitpid(kids[i], NULL, 0);
	}
	nkids = 0;
	char logpath[128];
	snprintf(logpath, sizeof logpath, "%s/m%d.log", tmpdir, n);
	struct buf b = BUF_INIT;
	FILE *f = fopen(logpath, "r");
	if (f) {
		char line[4096];
		while (fgets(line, sizeof line, f))
			buf_adds(&b, line);
		fclose(f);
	}
	return buf_steal(&b);
}

static void setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/tern-t-mchain.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	nkids = 0;
}

static void teardown(void)
{
	for (size_t i = 0; i < nkids; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], NULL, 0);
	}
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- the driver ---- */

struct drv {
	char *hn[32], *hv[32];
	size_t nh;
	struct buf body;	/* LF line ends */
	size_t body_off;
	struct buf applied;	/* one line per ops->apply */
	struct buf logs;
	int done;
	enum milter_outcome last;
	char last_reply[512];
	bool has_reply;
	int closed[8];		/* ops->closing, in order */
	size_t nclosed;
};

static const char *d_macro(void *ctx, const char *name)
{
	(void)ctx;
	if (strcmp(name, "j") == 0)
		return "mx.example";
	if (strcmp(name, "i") == 0)
		return "QID1";
	return NULL;
}

static size_t d_hcount(void *ctx)
{
	return ((struct drv *)ctx)->nh;
}

static void d_hget(void *ctx, size_t i, const char **name, const char **value)
{
	struct drv *d = ctx;
	*name = d->hn[i];
	*value = d->hv[i];
}

static int d_rewind(void *ctx)
{
	((struct drv *)ctx)->body_off = 0;
	return 0;
}

static ssize_t d_read(void *ctx, char *data, size_t len)
{
	struct drv *d = ctx;
	size_t n = d->body.len - d->body_off;
	if (n > len)
		n = len;
	memcpy(data, d->body.data + d->body_off, n);
	d->body_off += n;
	return (ssize_t)n;
}

static int apply_fail;

static void add_header(struct drv *d, size_t at, const char *name, const char *value)
{
	ck_assert_uint_lt(d->nh, N(d->hn));
	if (at > d->nh)
		at = d->nh;
	memmove(&d->hn[at + 1], &d->hn[at], (d->nh - at) * sizeof d->hn[0]);
	memmove(&d->hv[at + 1], &d->hv[at], (d->nh - at) * sizeof d->hv[0]);
	d->hn[at] = xstrdup(name);
	d->hv[at] = xstrdup(value);
	d->nh++;
}

static int d_apply(void *ctx, const struct milter_mod *mod, bool first)
{
	struct drv *d = ctx;
	if (apply_fail)
		return -1;
	if (mod->type == MILTER_R_REPLBODY) {
		buf_printf(&d->applied, "b%s ", first ? "!" : "");
		for (size_t i = 0; i < mod->body_len; i++)
			buf_adds(&d->applied, mod->body[i] == '\n' ? "\\n"
					      : mod->body[i] == '\r' ? "\\r" : (char[]){mod->body[i], 0});
		buf_addc(&d->applied, '\n');
		if (first)
			buf_reset(&d->body);
		buf_add(&d->body, mod->body, mod->body_len);
		return 0;
	}
	buf_printf(&d->applied, "%c %u %s|%s\n", mod->type, mod->index, mod->name ? mod->name : "-",
		   mod->value ? mod->value : "-");
	if (mod->type == MILTER_R_ADDHEADER)
		add_header(d, d->nh, mod->name, mod->value);
	else if (mod->type == MILTER_R_INSHEADER)
		add_header(d, mod->index, mod->name, mod->value);
	return 0;
}

static void d_done(void *ctx, enum milter_outcome o, const char *reply)
{
	struct drv *d = ctx;
	d->done++;
	d->last = o;
	d->has_reply = reply != NULL;
	snprintf(d->last_reply, sizeof d->last_reply, "%s", reply ? reply : "");
}

static void d_log(void *ctx, bool warning, const char *line)
{
	struct drv *d = ctx;
	buf_printf(&d->logs, "%s%s\n", warning ? "warning: " : "", line);
}

/* The descriptor must still be open: a driver removes it from its epoll set now. */
static void d_closing(void *ctx, int fd)
{
	struct drv *d = ctx;
	ck_assert_int_ne(fcntl(fd, F_GETFD), -1);
	ck_assert_uint_lt(d->nclosed, N(d->closed));
	d->closed[d->nclosed++] = fd;
}

static const struct milter_chain_ops ops = {
	.macro = d_macro,
	.header_count = d_hcount,
	.header_get = d_hget,
	.body_rewind = d_rewind,
	.body_read = d_read,
	.apply = d_apply,
	.done = d_done,
	.log = d_log,
	.closing = d_closing,
};

static void drv_init(struct drv *d)
{
	memset(d, 0, sizeof *d);
	add_header(d, 0, "Subject", " hello");
	add_header(d, 1, "From", " <a@example.com>");
	buf_adds(&d->body, "line 1\nline 2\n");
	apply_fail = 0;
}

static void drv_free(struct drv *d)
{
	for (size_t i = 0; i < d->nh; i++) {
		free(d->hn[i]);
		free(d->hv[i]);
	}
	buf_free(&d->body);
	buf_free(&d->applied);
	buf_free(&d->logs);
}

/* Complete an event: wait if it is pending; the outcome, reply in *reply. */
static enum milter_outcome fin(struct drv *d, struct milter_chain *ch, enum milter_outcome o,
			       const char **reply)
{
	if (o != MILTER_O_PENDING)
		return o;
	int before = d->done;
	milter_chain_wait(ch);
	ck_assert_int_eq(d->done, before + 1);
	*reply = d->has_reply ? d->last_reply : NULL;
	return d->last;
}

static struct milter_spec specs[4];
static char spec_names[4][160], spec_paths[4][100];
static char *conn_macros[] = {"j", "{daemon_name}", "{nothing}", NULL};
static char *mail_macros[] = {"i", NULL};
static char *defaults[] = {"{daemon_name}", "tern-test", NULL};

static void cfg_init(struct milter_cfg *cfg, size_t n, enum milter_default def)
{
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < n; i++) {
		snprintf(spec_paths[i], sizeof spec_paths[i], "%s/m%zu.sock", tmpdir, i + 1);
		int w = snprintf(spec_names[i], sizeof spec_names[i], "unix:%s", spec_paths[i]);
		ck_assert_int_lt(w, (int)sizeof spec_names[i]);
		specs[i] = (struct milter_spec){
			.name = spec_names[i], .kind = MILTER_SOCK_UNIX, .path = spec_paths[i],
			.connect_timeout_ms = 300, .command_timeout_ms = 200, .content_timeout_ms = 300,
			.default_action = def, .protocol = 6,
		};
	}
	cfg->v = specs;
	cfg->n = n;
	cfg->macros[MILTER_M_CONNECT] = conn_macros;
	cfg->macros[MILTER_M_ENVFROM] = mail_macros;
	cfg->macro_defaults = defaults;
}

/* A session up to the message; outcomes in o[0..6): connect helo mail rcpt data message. */
static void session(struct drv *d, struct milter_chain *ch, enum milter_outcome o[6],
		    const char *replies[6])
{
	const char *r = NULL;
	const char *margs[] = {"SIZE=10"};
	o[0] = fin(d, ch, milter_chain_connect(ch, "client.example", "127.0.0.1", MILTER_FAM_INET,
					       4025, &r), &r);
	replies[0] = r ? xstrdup(r) : NULL;
	o[1] = fin(d, ch, milter_chain_helo(ch, "client.example", &r), &r);
	replies[1] = r ? xstrdup(r) : NULL;
	o[2] = fin(d, ch, milter_chain_mail(ch, "<a@example.com>", margs, 1, &r), &r);
	replies[2] = r ? xstrdup(r) : NULL;
	o[3] = fin(d, ch, milter_chain_rcpt(ch, "<b@example.com>", NULL, 0, false, &r), &r);
	replies[3] = r ? xstrdup(r) : NULL;
	o[4] = fin(d, ch, milter_chain_data(ch, &r), &r);
	replies[4] = r ? xstrdup(r) : NULL;
	o[5] = fin(d, ch, milter_chain_message(ch, &r), &r);
	replies[5] = r ? xstrdup(r) : NULL;
}

static void free_replies(const char *replies[6])
{
	for (int i = 0; i < 6; i++)
		free((char *)replies[i]);
}

/* ---- tests ---- */

START_TEST(test_no_milters)
{
	struct milter_cfg cfg = {0};
	ck_assert_ptr_null(milter_chain_new(&cfg, &ops, NULL));
	milter_chain_free(NULL);
}
END_TEST

/* Two milters in order; the first refuses a recipient, the second never sees it. */
START_TEST(test_reject_rcpt_stops_second)
{
	static const struct fake f1 = {
		.actions = MILTER_F_ALL, .proto = 0, .symlist_mail = "{nothing} j",
		.r = {{.cmd = 'R', .nth = 2, .act = A_SEND, .p = {{'r', NULL, 0, 0}}}},
	};
	static const struct fake f2 = {.actions = MILTER_F_ALL};
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	cfg_init(&cfg, 2, MILTER_DEF_ACCEPT);
	start_fake(1, &f1);
	start_fake(2, &f2);
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	ck_assert_ptr_nonnull(ch);
	const char *r = NULL;
	ck_assert_int_eq(milter_chain_connect(ch, "client.example", "127.0.0.1", MILTER_FAM_INET, 4025, &r),
			 MILTER_O_PENDING);
	ck_assert_int_eq(d.done, 0);	/* never from inside the starting call */
	milter_chain_wait(ch);
	ck_assert_int_eq(d.done, 1);
	ck_assert_int_eq(d.last, MILTER_O_CONTINUE);
	ck_assert_int_eq(fin(&d, ch, milter_chain_mail(ch, "<a@example.com>", NULL, 0, &r), &r),
			 MILTER_O_CONTINUE);
	ck_assert_int_eq(fin(&d, ch, milter_chain_rcpt(ch, "<ok@example.com>", NULL, 0, false, &r), &r),
			 MILTER_O_CONTINUE);
	ck_assert_int_eq(fin(&d, ch, milter_chain_rcpt(ch, "<no@example.com>", NULL, 0, false, &r), &r),
			 MILTER_O_REJECT);
	ck_assert_str_eq(r, "550 5.7.1 Command rejected");
	milter_chain_abort(ch);
	milter_chain_free(ch);
	char *l1 = fake_log(1), *l2 = fake_log(2);
	/* the configured macros with values from the driver, then the defaults */
	ck_assert_msg(strstr(l1, "D Cj|mx.example|{daemon_name}|tern-test|\n"), "%s", l1);
	ck_assert_msg(strstr(l2, "D Cj|mx.example|{daemon_name}|tern-test|\n"), "%s", l2);
	/* SETSYMLIST replaces the list for milter 1 only */
	ck_assert_msg(strstr(l1, "D Mj|mx.example|\n"), "%s", l1);
	ck_assert_msg(strstr(l2, "D Mi|QID1|\n"), "%s", l2);
	ck_assert_msg(strstr(l1, "R <no@example.com>|\n"), "%s", l1);
	ck_assert_msg(strstr(l2, "R <ok@example.com>|\n"), "%s", l2);
	ck_assert_msg(!strstr(l2, "R <no@example.com>"), "%s", l2);
	ck_assert_msg(strstr(l1, "A \n") && strstr(l2, "A \n"), "ABORT: %s %s", l1, l2);
	ck_assert_msg(strstr(l1, "\nQ \n") && strstr(l2, "\nQ \n"), "QUIT: %s %s", l1, l2);
	free(l1);
	free(l2);
	drv_free(&d);
}
END_TEST

/*
 * ops->closing names each socket before it is closed: the first milter's
 * when it fails (EOF after CONNECT), so that the second milter's
 * socket, which may get the same number, is not mistaken for it; the
 * second's at milter_chain_free. Between events milter_chain_poll names
 * no socket.
 */
START_TEST(test_closing)
{
	static const struct fake f1 = {
		.actions = MILTER_F_ALL, .r = {{.cmd = 'C', .nth = 1, .act = A_CLOSE}},
	};
	static const struct fake f2 = {.actions = MILTER_F_ALL};
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	cfg_init(&cfg, 2, MILTER_DEF_ACCEPT);
	start_fake(1, &f1);
	start_fake(2, &f2);
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	const char *r = NULL;
	short ev;
	ck_assert_int_eq(milter_chain_connect(ch, "client.example", "127.0.0.1", MILTER_FAM_INET, 4025, &r),
			 MILTER_O_PENDING);
	int first = milter_chain_poll(ch, &ev);
	ck_assert_int_ge(first, 0);
	ck_assert_uint_eq(d.nclosed, 0);
	ck_assert_int_eq(fin(&d, ch, MILTER_O_PENDING, &r), MILTER_O_CONTINUE);
	ck_assert_uint_eq(d.nclosed, 1);
	ck_assert_int_eq(d.closed[0], first);
	ck_assert_int_eq(milter_chain_poll(ch, &ev), -1);
	ck_assert_int_eq(fin(&d, ch, milter_chain_helo(ch, "client.example", &r), &r), MILTER_O_CONTINUE);
	ck_assert_uint_eq(d.nclosed, 1);
	milter_chain_free(ch);
	ck_assert_uint_eq(d.nclosed, 2);
	char *l2 = fake_log(2);
	ck_assert_msg(strstr(l2, "H client.example|\n"), "%s", l2);
	free(l2);
	drv_free(&d);
}
END_TEST

/* Edits of milter 1 are applied before milter 2 sees the message; CRLF <-> LF. */
START_TEST(test_edits_in_order)
{
	static const struct fake f1 = {
		.actions = MILTER_F_ALL,
		.r = {{.cmd = 'E', .act = A_SEND, .p = {
			{'h', B("X-One\0" "1\0"), 0},
			{'b', B("new\r"), 0},
			{'b', B("\nbody\r\n"), 0},
			{'a', NULL, 0, 0}}}},
	};
	static const struct fake f2 = {
		.actions = MILTER_F_ALL, .proto = MILTER_P_HDR_LEADSPC,
		.r = {{.cmd = 'E', .act = A_SEND, .p = {
			{'m', B("\0\0\0\x01" "Subject\0" " changed\0"), 0},
			{'i', B("\0\0\0\0" "X-Two\0" " 2\0"), 0},
			{'c', NULL, 0, 0}}}},
	};
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	cfg_init(&cfg, 2, MILTER_DEF_ACCEPT);
	start_fake(1, &f1);
	start_fake(2, &f2);
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	enum milter_outcome o[6];
	const char *rep[6];
	session(&d, ch, o, rep);
	for (int i = 0; i < 6; i++)
		ck_assert_msg(o[i] == MILTER_O_CONTINUE, "event %d: %d", i, o[i]);
	ck_assert_str_eq(d.applied.data ? d.applied.data : "",
			 "h 0 X-One| 1\n"
			 "b! new\n"	/* the CR that ends a chunk waits for the next */
			 "b \\nbody\\n\n"
			 "m 1 Subject| changed\n"
			 "i 0 X-Two| 2\n");
	milter_chain_free(ch);
	free_replies(rep);
	char *l1 = fake_log(1), *l2 = fake_log(2);
	/* values without their blank for 1, with it for 2 (HDR_LEADSPC); body in CRLF */
	ck_assert_msg(strstr(l1, "L Subject|hello|\n"), "%s", l1);
	ck_assert_msg(strstr(l1, "B line 1\\r\\nline 2\\r\\n\n"), "%s", l1);
	ck_assert_msg(strstr(l2, "L Subject| hello|\n"), "%s", l2);
	ck_assert_msg(strstr(l2, "L X-One| 1|\n"), "milter 2 sees milter 1's header: %s", l2);
	ck_assert_msg(strstr(l2, "B new\\r\\nbody\\r\\n\n"), "milter 2 sees milter 1's body: %s", l2);
	free(l1);
	free(l2);
	drv_free(&d);
}
END_TEST

/* SKIP ends the body; PROGRESS keeps the milter alive past the content timeout. */
START_TEST(test_skip_progress)
{
	static const struct fake f1 = {
		.actions = MILTER_F_ALL, .proto = MILTER_P_SKIP,
		.r = {{.cmd = 'B', .nth = 1, .act = A_SEND, .p = {{'s', NULL, 0, 0}}},
		      {.cmd = 'E', .act = A_SEND, .p = {
			{'p', NULL, 0, 150}, {'p', NULL, 0, 150}, {'p', NULL, 0, 150},
			{'a', NULL, 0, 150}}}},
	};
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	buf_reset(&d.body);
	for (int i = 0; i < 5000; i++)
		buf_adds(&d.body, "0123456789012345678901234567890123456789\n");
	cfg_init(&cfg, 1, MILTER_DEF_TEMPFAIL);
	start_fake(1, &f1);
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	enum milter_outcome o[6];
	const char *rep[6];
	session(&d, ch, o, rep);
	for (int i = 0; i < 6; i++)
		ck_assert_msg(o[i] == MILTER_O_CONTINUE, "event %d: %d %s", i, o[i], d.logs.data);
	milter_chain_free(ch);
	free_replies(rep);
	char *l1 = fake_log(1);
	const char *b = strstr(l1, "\nB ");
	ck_assert_ptr_nonnull(b);
	ck_assert_msg(!strstr(b + 1, "\nB "), "a body chunk after SKIP");
	ck_assert_msg(strstr(l1, "\nE \n"), "%s", l1);
	free(l1);
	drv_free(&d);
}
END_TEST

/* Verdicts and their replies. */
START_TEST(test_replies)
{
	static const struct fake f1 = {
		.actions = MILTER_F_ALL,
		.r = {{.cmd = 'H', .act = A_SEND, .p = {{'t', NULL, 0, 0}}},
		      {.cmd = 'M', .nth = 1, .act = A_SEND,
		       .p = {{'y', B("451 4.7.0 slow down\0"), 0}}},
		      {.cmd = 'M', .nth = 2, .act = A_SEND, .p = {{'r', NULL, 0, 0}}},
		      {.cmd = 'M', .nth = 3, .act = A_SEND, .p = {{'d', NULL, 0, 0}}},
		      {.cmd = 'E', .act = A_SEND, .p = {{'r', NULL, 0, 0}}},
		      {.cmd = 'U', .act = A_SEND, .p = {{'4', NULL, 0, 0}}}},
	};
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	cfg_init(&cfg, 1, MILTER_DEF_ACCEPT);
	start_fake(1, &f1);
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	const char *r;
	ck_assert_int_eq(fin(&d, ch, milter_chain_connect(ch, "h", "127.0.0.1", MILTER_FAM_INET, 1, &r), &r),
			 MILTER_O_CONTINUE);
	ck_assert_int_eq(fin(&d, ch, milter_chain_helo(ch, "h", &r), &r), MILTER_O_TEMPFAIL);
	ck_assert_str_eq(r, "451 4.7.1 Service unavailable - try again later");
	ck_assert_int_eq(fin(&d, ch, milter_chain_mail(ch, "<a@x>", NULL, 0, &r), &r), MILTER_O_TEMPFAIL);
	ck_assert_str_eq(r, "451 4.7.0 slow down");
	ck_assert_int_eq(fin(&d, ch, milter_chain_mail(ch, "<a@x>", NULL, 0, &r), &r), MILTER_O_REJECT);
	ck_assert_str_eq(r, "550 5.7.1 Command rejected");
	ck_assert_int_eq(fin(&d, ch, milter_chain_mail(ch, "<a@x>", NULL, 0, &r), &r), MILTER_O_DISCARD);
	/* the rest of a discarded message passes no milter */
	ck_assert_int_eq(milter_chain_rcpt(ch, "<b@x>", NULL, 0, false, &r), MILTER_O_DISCARD);
	ck_assert_int_eq(fin(&d, ch, milter_chain_mail(ch, "<a@x>", NULL, 0, &r), &r), MILTER_O_CONTINUE);
	ck_assert_int_eq(fin(&d, ch, milter_chain_rcpt(ch, "<b@x>", NULL, 0, false, &r), &r), MILTER_O_CONTINUE);
	ck_assert_int_eq(fin(&d, ch, milter_chain_message(ch, &r), &r), MILTER_O_REJECT);
	ck_assert_str_eq(r, "550 5.7.1 Message content rejected");
	ck_assert_int_eq(fin(&d, ch, milter_chain_unknown(ch, "XFOO", &r), &r), MILTER_O_SHUTDOWN);
	ck_assert_str_eq(r, "421 4.7.0 Server closing connection");
	milter_chain_free(ch);
	char *l1 = fake_log(1);
	/* the recipient after DISCARD was not sent: one RCPT only */
	const char *r1 = strstr(l1, "R <b@x>|");
	ck_assert_msg(r1 && !strstr(r1 + 1, "R <b@x>|"), "%s", l1);
	free(l1);
	drv_free(&d);
}
END_TEST

/* ACCEPT at CONNECT ends that milter's session; a refused recipient goes only to RCPT_REJ milters. */
START_TEST(test_accept_connect_rejected_rcpt)
{
	static const struct fake f1 = {.actions = MILTER_F_ALL,
		.r = {{.cmd = 'C', .act = A_SEND, .p = {{'a', NULL, 0, 0}}}}};
	static const struct fake f2 = {.actions = MILTER_F_ALL, .proto = MILTER_P_RCPT_REJ,
		.r = {{.cmd = 'R', .act = A_SEND, .p = {{'r', NULL, 0, 0}}}}};
	static const struct fake f3 = {.actions = MILTER_F_ALL};
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	cfg_init(&cfg, 3, MILTER_DEF_ACCEPT);
	start_fake(1, &f1);
	start_fake(2, &f2);
	start_fake(3, &f3);
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	const char *r;
	ck_assert_int_eq(fin(&d, ch, milter_chain_connect(ch, "h", "127.0.0.1", MILTER_FAM_INET, 1, &r), &r),
			 MILTER_O_CONTINUE);
	ck_assert_int_eq(fin(&d, ch, milter_chain_helo(ch, "h", &r), &r), MILTER_O_CONTINUE);
	ck_assert_int_eq(fin(&d, ch, milter_chain_mail(ch, "<a@x>", NULL, 0, &r), &r), MILTER_O_CONTINUE);
	ck_assert_int_eq(fin(&d, ch, milter_chain_rcpt(ch, "<no@x>", NULL, 0, true, &r), &r),
			 MILTER_O_CONTINUE);
	ck_assert_ptr_null(r);
	milter_chain_free(ch);
	char *l1 = fake_log(1), *l2 = fake_log(2), *l3 = fake_log(3);
	ck_assert_msg(!strstr(l1, "\nH ") && !strstr(l1, "\nM "), "%s", l1);
	ck_assert_msg(strstr(l2, "\nR <no@x>|\n"), "%s", l2);
	ck_assert_msg(strstr(l3, "\nM <a@x>|\n") && !strstr(l3, "\nR "), "%s", l3);
	free(l1);
	free(l2);
	free(l3);
	drv_free(&d);
}
END_TEST

/* A failing milter and its default action. */
enum failure { F_REFUSED, F_GARBAGE, F_SILENCE, F_EOF };

static const struct {
	enum failure f;
	int stage;		/* the event at which it fails (index in session()) */
	const char *where;	/* in the log line */
} fail_kinds[] = {
	{F_REFUSED, 0, "connect"},
	{F_GARBAGE, 2, "mail"},
	{F_SILENCE, 3, "rcpt"},
	{F_EOF, 5, "header"},
};

static const enum milter_default def_actions[] = {
	MILTER_DEF_ACCEPT, MILTER_DEF_REJECT, MILTER_DEF_TEMPFAIL, MILTER_DEF_QUARANTINE,
};

START_TEST(test_default_actions)
{
	int k = _i / 4;
	enum milter_default def = def_actions[_i % 4];
	struct fake f1 = {.actions = MILTER_F_ALL};
	static const struct fake f2 = {
		.actions = MILTER_F_ALL,
		.r = {{.cmd = 'E', .act = A_SEND, .p = {{'h', B("X-Two\0" "2\0"), 0}, {'c', NULL, 0, 0}}}},
	};
	switch (fail_kinds[k].f) {
	case F_REFUSED:
		break;
	case F_GARBAGE:
		f1.r[0] = (struct rule){.cmd = 'M', .act = A_GARBAGE};
		break;
	case F_SILENCE:
		f1.r[0] = (struct rule){.cmd = 'R', .act = A_SILENT};
		break;
	case F_EOF:
		f1.r[0] = (struct rule){.cmd = 'L', .act = A_CLOSE};
		break;
	}
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	cfg_init(&cfg, 2, MILTER_DEF_ACCEPT);
	specs[0].default_action = def;
	if (fail_kinds[k].f != F_REFUSED)
		start_fake(1, &f1);
	start_fake(2, &f2);
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	enum milter_outcome o[6];
	const char *rep[6];
	int done_before = d.done;
	(void)done_before;
	session(&d, ch, o, rep);
	for (int i = 0; i < 6; i++) {
		enum milter_outcome want = MILTER_O_CONTINUE;
		const char *wrep = NULL;
		if (i >= fail_kinds[k].stage && def == MILTER_DEF_REJECT) {
			want = MILTER_O_REJECT;
			wrep = "550 5.5.0 Service unavailable";
		} else if (i >= fail_kinds[k].stage && def == MILTER_DEF_TEMPFAIL) {
			want = MILTER_O_TEMPFAIL;
			wrep = "451 4.7.1 Service unavailable - try again later";
		}
		ck_assert_msg(o[i] == want, "event %d: got %d want %d", i, o[i], want);
		if (wrep)
			ck_assert_str_eq(rep[i], wrep);
	}
	char want_log[256];
	snprintf(want_log, sizeof want_log, "warning: milter %s: %s: ", specs[0].name,
		 fail_kinds[k].where);
	ck_assert_msg(d.logs.data && strstr(d.logs.data, want_log), "log: %s", d.logs.data);
	ck_assert_msg(!strstr(strstr(d.logs.data, want_log) + 1, "warning"), "one log line: %s",
		      d.logs.data);
	char wantq[256];
	snprintf(wantq, sizeof wantq, "q 0 milter %s failed|-\n", specs[0].name);
	if (def == MILTER_DEF_QUARANTINE)
		ck_assert_msg(d.applied.data && strstr(d.applied.data, wantq), "%s", d.applied.data);
	else
		ck_assert_msg(!d.applied.data || !strstr(d.applied.data, "q "), "%s", d.applied.data);
	if (def == MILTER_DEF_ACCEPT || def == MILTER_DEF_QUARANTINE)
		ck_assert_msg(d.applied.data && strstr(d.applied.data, "h 0 X-Two| 2\n"),
			      "milter 2 goes on: %s", d.applied.data);
	milter_chain_free(ch);
	free_replies(rep);
	free(fake_log(1));
	drv_free(&d);
}
END_TEST

/* An edit the driver cannot apply: a temporary failure of the message. */
START_TEST(test_apply_fails)
{
	static const struct fake f1 = {
		.actions = MILTER_F_ALL,
		.r = {{.cmd = 'E', .act = A_SEND, .p = {{'h', B("X\0" "1\0"), 0}, {'c', NULL, 0, 0}}}},
	};
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	cfg_init(&cfg, 1, MILTER_DEF_ACCEPT);
	start_fake(1, &f1);
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	const char *r;
	fin(&d, ch, milter_chain_connect(ch, "h", "127.0.0.1", MILTER_FAM_INET, 1, &r), &r);
	fin(&d, ch, milter_chain_mail(ch, "<a@x>", NULL, 0, &r), &r);
	apply_fail = 1;
	ck_assert_int_eq(fin(&d, ch, milter_chain_message(ch, &r), &r), MILTER_O_TEMPFAIL);
	ck_assert_str_eq(r, "451 4.3.0 Error: cannot apply the changes of a mail filter");
	milter_chain_free(ch);
	free(fake_log(1));
	drv_free(&d);
}
END_TEST

/* inet: a milter on 127.0.0.1 after one whose port refuses (noticed after connect(2) returned). */
START_TEST(test_inet)
{
	static const struct fake f2 = {.actions = MILTER_F_ALL,
		.r = {{.cmd = 'H', .act = A_SEND, .p = {{'r', NULL, 0, 0}}}}};
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	cfg_init(&cfg, 2, MILTER_DEF_ACCEPT);
	unsigned p1, p2;
	int closed = tcp_socket(&p1);	/* bound, never listening: refused */
	fork_fake(2, tcp_socket(&p2), &f2);
	specs[0].kind = specs[1].kind = MILTER_SOCK_INET;
	specs[0].host = specs[1].host = "127.0.0.1";
	specs[0].port = p1;
	specs[1].port = p2;
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	const char *r;
	ck_assert_int_eq(fin(&d, ch, milter_chain_connect(ch, "h", "127.0.0.1", MILTER_FAM_INET, 1, &r), &r),
			 MILTER_O_CONTINUE);
	ck_assert_msg(d.logs.data && strstr(d.logs.data, ": connect: Connection refused; default_action = accept"),
		      "%s", d.logs.data);
	ck_assert_int_eq(fin(&d, ch, milter_chain_helo(ch, "h", &r), &r), MILTER_O_REJECT);
	milter_chain_free(ch);
	close(closed);
	char *l2 = fake_log(2);
	ck_assert_msg(strstr(l2, "H h|\n"), "%s", l2);
	free(l2);
	drv_free(&d);
}
END_TEST

/* The driver's own loop: poll, deadline, io, tick. */
START_TEST(test_driver_loop)
{
	static const struct fake f1 = {.actions = MILTER_F_ALL,
		.r = {{.cmd = 'H', .act = A_SILENT}}};
	struct milter_cfg cfg;
	struct drv d;
	drv_init(&d);
	cfg_init(&cfg, 1, MILTER_DEF_TEMPFAIL);
	start_fake(1, &f1);
	struct milter_chain *ch = milter_chain_new(&cfg, &ops, &d);
	const char *r;
	short ev;
	ck_assert_int_eq(milter_chain_poll(ch, &ev), -1);
	ck_assert_int_eq(milter_chain_connect(ch, "h", "127.0.0.1", MILTER_FAM_INET, 1, &r),
			 MILTER_O_PENDING);
	while (d.done == 0) {
		int fd = milter_chain_poll(ch, &ev);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_ge(milter_chain_deadline(ch), 0);
		struct pollfd p = {.fd = fd, .events = ev};
		if (poll(&p, 1, 50) > 0)
			milter_chain_io(ch, p.revents);
		milter_chain_tick(ch);
	}
	ck_assert_int_eq(d.last, MILTER_O_CONTINUE);
	ck_assert_int_eq(milter_chain_helo(ch, "h", &r), MILTER_O_PENDING);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (d.done == 1) {
		short e;
		int fd = milter_chain_poll(ch, &e);
		struct pollfd p = {.fd = fd, .events = e};
		if (poll(&p, 1, 20) > 0)
			milter_chain_io(ch, p.revents);
		milter_chain_tick(ch);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_msg(ms >= 180 && ms < 2000, "timeout after %ld ms", ms);
	ck_assert_int_eq(d.last, MILTER_O_TEMPFAIL);
	ck_assert_int_eq(milter_chain_poll(ch, &ev), -1);
	ck_assert_int_eq(milter_chain_deadline(ch), -1);
	/* later events answer at once, without done */
	ck_assert_int_eq(milter_chain_mail(ch, "<a@x>", NULL, 0, &r), MILTER_O_TEMPFAIL);
	ck_assert_int_eq(d.done, 2);
	milter_chain_free(ch);
	free(fake_log(1));
	drv_free(&d);
}
END_TEST

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("milter_chain");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_no_milters);
	tcase_add_test(tc, test_reject_rcpt_stops_second);
	tcase_add_test(tc, test_edits_in_order);
	tcase_add_test(tc, test_skip_progress);
	tcase_add_test(tc, test_replies);
	tcase_add_loop_test(tc, test_default_actions, 0, (int)(N(fail_kinds) * N(def_actions)));
	tcase_add_test(tc, test_apply_fails);
	tcase_add_test(tc, test_driver_loop);
	tcase_add_test(tc, test_closing);
	tcase_add_test(tc, test_inet);
	tcase_add_test(tc, test_accept_connect_rejected_rcpt);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
