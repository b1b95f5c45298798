/*
 * milter_filter.c - test program: a small libmilter filter, so that
 * end-to-end tests check Tern's side of the milter protocol against the
 * real library. Runs as whoever runs the test; no privileges.
 *
 *   milter_filter SOCKET LOG
 *
 * Listens on SOCKET (e.g. unix:/tmp/x/f.sock), appends one line per
 * callback to LOG (macros included) and exits on SIGTERM. It asks for
 * SKIP, HDR_LEADSPC and a macro list for MAIL; it refuses the recipient
 * <bad@example.com> with "550 5.7.1", answers SKIP to the first body
 * chunk, and at end of message makes every edit it may, then accepts.
 */
#include "compat.h"

#include <libmilter/mfapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *logf_;

static void logline(const char *fmt, const char *a, const char *b)
{
	fprintf(logf_, fmt, a ? a : "(null)", b ? b : "(null)");
	fputc('\n', logf_);
	fflush(logf_);
}

static sfsistat f_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
			    unsigned long f3, unsigned long *pf0, unsigned long *pf1,
			    unsigned long *pf2, unsigned long *pf3)
{
	(void)f2;
	(void)f3;
	*pf0 = f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_ADDRCPT | SMFIF_DELRCPT | SMFIF_CHGBODY |
		     SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR | SMFIF_QUARANTINE | SMFIF_SETSYMLIST);
	*pf1 = f1 & (SMFIP_SKIP | SMFIP_HDR_LEADSPC | SMFIP_NOUNKNOWN);
	*pf2 = 0;
	*pf3 = 0;
	smfi_setsymlist(ctx, SMFIM_ENVFROM, "{mail_addr} i");
	return SMFIS_CONTINUE;
}

static sfsistat f_connect(SMFICTX *ctx, char *host, struct sockaddr *sa)
{
	(void)sa;
	logline("connect %s j=%s", host, smfi_getsymval(ctx, "j"));
	return SMFIS_CONTINUE;
}

static sfsistat f_helo(SMFICTX *ctx, char *name)
{
	(void)ctx;
	logline("helo %s%s", name, "");
	return SMFIS_CONTINUE;
}

static sfsistat f_envfrom(SMFICTX *ctx, char **argv)
{
	logline("mail %s mail_addr=%s", argv[0], smfi_getsymval(ctx, "{mail_addr}"));
	for (int i = 1; argv[i]; i++)
		logline("mail-arg %s%s", argv[i], "");
	return SMFIS_CONTINUE;
}

static sfsistat f_envrcpt(SMFICTX *ctx, char **argv)
{
	logline("rcpt %s%s", argv[0], "");
	if (strcmp(argv[0], "<bad@example.com>") == 0) {
		smfi_setreply(ctx, "550", "5.7.1", "no bad 100%");
		return SMFIS_REJECT;
	}
	return SMFIS_CONTINUE;
}

static sfsistat f_data(SMFICTX *ctx)
{
	(void)ctx;
	logline("data%s%s", "", "");
	return SMFIS_CONTINUE;
}

static sfsistat f_header(SMFICTX *ctx, char *name, char *value)
{
	(void)ctx;
	logline("header %s:[%s]", name, value);
	return SMFIS_CONTINUE;
}

static sfsistat f_eoh(SMFICTX *ctx)
{
	(void)ctx;
	logline("eoh%s%s", "", "");
	return SMFIS_CONTINUE;
}

static sfsistat f_body(SMFICTX *ctx, unsigned char *b, size_t len)
{
	(void)ctx;
	(void)b;
	char n[32];
	snprintf(n, sizeof n, "%zu", len);
	logline("body %s%s", n, "");
	return SMFIS_SKIP;
}

static sfsistat f_eom(SMFICTX *ctx)
{
	logline("eom%s%s", "", "");
	smfi_addheader(ctx, "X-Added", " yes");
	smfi_insheader(ctx, 0, "X-First", " 1");
	smfi_chgheader(ctx, "Subject", 1, " changed");
	smfi_addrcpt(ctx, "<new@example.com>");
	smfi_addrcpt_par(ctx, "<par@example.com>", "NOTIFY=NEVER");
	smfi_delrcpt(ctx, "<old@example.com>");
	smfi_chgfrom(ctx, "<s@example.com>", "SIZE=10");
	unsigned char body[] = "new body\r\n";
	smfi_replacebody(ctx, body, sizeof body - 1);
	smfi_progress(ctx);
	smfi_quarantine(ctx, "held by test");
	return SMFIS_ACCEPT;
}

static sfsistat f_abort(SMFICTX *ctx)
{
	(void)ctx;
	logline("abort%s%s", "", "");
	return SMFIS_CONTINUE;
}

static sfsistat f_close(SMFICTX *ctx)
{
	(void)ctx;
	logline("close%s%s", "", "");
	return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
	struct smfiDesc desc = {
		.xxfi_name = "tern-test",
		.xxfi_version = SMFI_VERSION,
		.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_ADDRCPT | SMFIF_DELRCPT |
			      SMFIF_CHGBODY | SMFIF_CHGFROM | SMFIF_ADDRCPT_PAR | SMFIF_QUARANTINE |
			      SMFIF_SETSYMLIST,
		.xxfi_connect = f_connect,
		.xxfi_helo = f_helo,
		.xxfi_envfrom = f_envfrom,
		.xxfi_envrcpt = f_envrcpt,
		.xxfi_header = f_header,
		.xxfi_eoh = f_eoh,
		.xxfi_body = f_body,
		.xxfi_eom = f_eom,
		.xxfi_abort = f_abort,
		.xxfi_close = f_close,
		.xxfi_data = f_data,
		.xxfi_negotiate = f_negotiate,
	};
	if (argc != 3) {
		fprintf(stderr, "usage: milter_filter SOCKET LOG\n");
		return 64;
	}
	logf_ = fopen(argv[2], "a");
	if (!logf_ || smfi_setconn(argv[1]) == MI_FAILURE || smfi_register(desc) == MI_FAILURE ||
	    smfi_opensocket(1) == MI_FAILURE) {
		fprintf(stderr, "milter_filter: cannot start\n");
		return 1;
	}
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
