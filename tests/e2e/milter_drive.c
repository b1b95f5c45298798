/*
 * milter_drive.c - test program: drive one message through a milter
 * with Tern's protocol module (lib/mail/milter_proto.h) over a Unix
 * socket, with blocking I/O, and print what the filter decided, so that
 * end-to-end tests check the module against a real libmilter filter.
 * Runs as whoever runs the test; no privileges.
 *
 *   milter_drive [-v VERSION] [-m MAX_DATA] SOCKET_PATH
 *
 * Prints the negotiated version, actions and protocol flags, one line
 * per stage ("STAGE VERDICT" or "STAGE skipped"), one per edit at end of
 * message, and exits 0; exits 1 with "error: ..." when the conversation
 * fails.
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mail/milter_proto.h"

static int fd;
static struct buf in, out;
static struct milter_conv conv;

static void die(const char *what)
{
	printf("error: %s\n", what);
	exit(1);
}

static void flush_out(void)
{
	size_t off = 0;
	while (off < out.len) {
		ssize_t n = write(fd, out.data + off, out.len - off);
		if (n <= 0)
			die("write");
		off += (size_t)n;
	}
	buf_reset(&out);
}

/* Send what the module queued; read and feed until it is answered. */
static void run(enum milter_next next, const char *name)
{
	for (;;) {
		flush_out();
		if (next == MILTER_ERROR)
			die(conv.error);
		if (next == MILTER_DONE)
			break;
		char b[4096];
		ssize_t n = read(fd, b, sizeof b);
		if (n <= 0)
			die("filter closed the connection");
		buf_add(&in, b, (size_t)n);
		next = milter_conv_input(&conv, &in, &out);
	}
	if (conv.verdict == MILTER_V_REPLYCODE)
		printf("%s %c %d %s\n", name, conv.verdict, conv.code, conv.text);
	else
		printf("%s %c\n", name, conv.verdict);
}

static void stage(const struct milter_event *ev)
{
	enum milter_next next = milter_conv_stage(&conv, ev, &out);
	if (next == MILTER_DONE && out.len == 0) {
		printf("%s skipped\n", milter_stage_name(ev->stage));
		return;
	}
	run(next, milter_stage_name(ev->stage));
}

int main(int argc, char **argv)
{
	unsigned version = 6;
	size_t mds = 0;
	int c;
	while ((c = getopt(argc, argv, "v:m:")) != -1) {
		if (c == 'v')
			version = (unsigned)atoi(optarg);
		else if (c == 'm')
			mds = (size_t)atol(optarg);
		else
			return 64;
	}
	if (optind + 1 != argc)
		return 64;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (strlen(argv[optind]) >= sizeof sun.sun_path)
		return 64;
	strcpy(sun.sun_path, argv[optind]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
		die("connect");

	struct milter_offer o;
	milter_offer_init(&o, version, mds);
	milter_conv_init(&conv, &o);
	run(milter_conv_start(&conv, &out), "optneg");
	printf("negotiated version %u actions 0x%x proto 0x%x max_data %zu\n", conv.neg.version,
	       conv.neg.actions, conv.neg.proto, conv.neg.max_data);
	for (int i = 0; i < MILTER_M_COUNT; i++)
		if (milter_conv_symlist(&conv, i))
			printf("symlist %d %s\n", i, milter_conv_symlist(&conv, i));

	const char *cmacros[] = {"j", "mx.example", "_", "client.example [127.0.0.1]"};
	const char *mmacros[] = {"{mail_addr}", "a@example.com", "i", "QID1"};
	const char *margs[] = {"SIZE=100", "BODY=8BITMIME"};
	stage(&(struct milter_event){.stage = MILTER_S_CONNECT, .macros = cmacros, .nmacros = 2,
				     .host = "client.example", .family = MILTER_FAM_INET, .port = 4025,
				     .addr = "127.0.0.1"});
	stage(&(struct milter_event){.stage = MILTER_S_HELO, .arg = "client.example"});
	stage(&(struct milter_event){.stage = MILTER_S_UNKNOWN, .arg = "XFOO"});
	stage(&(struct milter_event){.stage = MILTER_S_MAIL, .macros = mmacros, .nmacros = 2,
				     .arg = "<a@example.com>", .args = margs, .nargs = 2});
	stage(&(struct milter_event){.stage = MILTER_S_RCPT, .arg = "<old@example.com>"});
	stage(&(struct milter_event){.stage = MILTER_S_RCPT, .arg = "<bad@example.com>"});
	stage(&(struct milter_event){.stage = MILTER_S_DATA});
	stage(&(struct milter_event){.stage = MILTER_S_HEADER, .arg = "Subject", .value = " hello"});
	stage(&(struct milter_event){.stage = MILTER_S_HEADER, .arg = "From", .value = " <a@example.com>"});
	stage(&(struct milter_event){.stage = MILTER_S_EOH});
	char *body = malloc(100000);
	memset(body, 'x', 100000);
	stage(&(struct milter_event){.stage = MILTER_S_BODY, .body = body, .body_len = 100000});
	stage(&(struct milter_event){.stage = MILTER_S_BODY, .body = body, .body_len = 10});
	free(body);
	stage(&(struct milter_event){.stage = MILTER_S_EOM});
	for (size_t i = 0; i < conv.nmods; i++) {
		struct milter_mod *m = &conv.mods[i];
		if (m->type == MILTER_R_REPLBODY) {
			printf("mod b ");
			for (size_t j = 0; j < m->body_len; j++)
				if (m->body[j] == '\r' || m->body[j] == '\n')
					printf("%s", m->body[j] == '\r' ? "\\r" : "\\n");
				else
					putchar(m->body[j]);
			printf("|\n");
		} else
			printf("mod %c %u %s|%s|\n", m->type, m->index, m->name, m->value ? m->value : "-");
	}
	stage(&(struct milter_event){.stage = MILTER_S_QUIT});
	milter_conv_free(&conv);
	buf_free(&in);
	buf_free(&out);
	close(fd);
	return 0;
}
