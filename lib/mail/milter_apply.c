/*
 * milter_apply.c - milter edits into cleanup edits (see milter_apply.h).
 *
 * Mail layer, runs as mail_owner (smtpd, pickup).
 */
#include "compat.h"

#include <string.h>

#include "mail/milter_apply.h"
#include "mail/smtp_cmd.h"

/* "<a@b>" -> "a@b"; an address without <> is taken as it is (libmilter passes what the filter gave). */
static void strip_brackets(const char *in, struct buf *out)
{
	size_t n = strlen(in);
	buf_reset(out);
	if (n >= 2 && in[0] == '<' && in[n - 1] == '>')
		buf_add(out, in + 1, n - 2);
	else
		buf_adds(out, in);
}

/* CHGFROM with ESMTP arguments: the same parser as a client's MAIL FROM. */
static int change_sender(struct cleanup *c, const struct milter_mod *m, struct buf *why)
{
	struct buf line = BUF_INIT;
	struct smtp_mail_args a;
	int rc = -1;
	smtp_mail_args_init(&a);
	buf_adds(&line, "FROM:");
	if (m->name[0] != '<')
		buf_addc(&line, '<');
	buf_adds(&line, m->name);
	if (m->name[0] != '<')
		buf_addc(&line, '>');
	if (m->value != NULL && *m->value != '\0') {
		buf_addc(&line, ' ');
		buf_adds(&line, m->value);
	}
	if (smtp_parse_mail(buf_str(&line), &a, NULL) != 0) {
		buf_printf(why, "milter changed the sender to an address that does not parse: %s", m->name);
		goto out;
	}
	if (cleanup_set_sender(c, buf_str(&a.addr)) != 0) {
		buf_printf(why, "milter sender cannot be stored: %s", m->name);
		goto out;
	}
	if (a.ret == SMTP_RET_FULL)
		cleanup_attr(c, "dsn_ret", "FULL");
	else if (a.ret == SMTP_RET_HDRS)
		cleanup_attr(c, "dsn_ret", "HDRS");
	if (a.has_envid)
		cleanup_attr(c, "dsn_envid", buf_str(&a.envid));
	rc = 0;
out:
	smtp_mail_args_free(&a);
	buf_free(&line);
	return rc;
}

/* ADDRCPT and ADDRCPT_PAR: NOTIFY and ORCPT as a client's RCPT TO would give them. */
static int add_rcpt(struct cleanup *c, const struct milter_mod *m, struct buf *why)
{
	struct buf line = BUF_INIT;
	struct smtp_rcpt_args a;
	int rc = -1;
	smtp_rcpt_args_init(&a);
	buf_adds(&line, "TO:");
	if (m->name[0] != '<')
		buf_addc(&line, '<');
	buf_adds(&line, m->name);
	if (m->name[0] != '<')
		buf_addc(&line, '>');
	if (m->type == MILTER_R_ADDRCPT_PAR && m->value != NULL && *m->value != '\0') {
		buf_addc(&line, ' ');
		buf_adds(&line, m->value);
	}
	if (smtp_parse_rcpt(buf_str(&line), &a, NULL) != 0 || a.addr.len == 0) {
		buf_printf(why, "milter added a recipient that does not parse: %s", m->name);
		goto out;
	}
	if (cleanup_add_rcpt(c, buf_str(&a.addr), a.notify, buf_str(&a.orcpt)) != 0) {
		buf_printf(why, "milter recipient cannot be stored: %s", m->name);
		goto out;
	}
	rc = 0;
out:
	smtp_rcpt_args_free(&a);
	buf_free(&line);
	return rc;
}

int milter_apply_mod(struct cleanup *c, const struct milter_mod *m, bool first, struct buf *why)
{
	struct buf addr = BUF_INIT;
	int rc = 0;
	switch (m->type) {
	case MILTER_R_ADDHEADER:
		rc = cleanup_header_add(c, m->name, m->value);
		break;
	case MILTER_R_INSHEADER:
		rc = cleanup_header_insert(c, m->index, m->name, m->value);
		break;
	case MILTER_R_CHGHEADER:
		rc = cleanup_header_change(c, m->name, m->index ? m->index : 1, m->value);
		break;
	case MILTER_R_REPLBODY:
		if (first)
			rc = cleanup_body_replace(c);
		if (rc == 0)
			rc = cleanup_body_replace_write(c, m->body, m->body_len);
		break;
	case MILTER_R_CHGFROM:
		rc = change_sender(c, m, why);
		goto out;
	case MILTER_R_ADDRCPT:
	case MILTER_R_ADDRCPT_PAR:
		rc = add_rcpt(c, m, why);
		goto out;
	case MILTER_R_DELRCPT:
		strip_brackets(m->name, &addr);
		rc = cleanup_del_rcpt(c, buf_str(&addr)) < 0 ? -1 : 0;
		break;
	case MILTER_R_QUARANTINE:
		cleanup_hold(c, m->name ? m->name : "");
		break;
	default:
		buf_printf(why, "unknown milter edit '%c'", m->type);
		rc = -1;
		goto out;
	}
	if (rc != 0)
		buf_printf(why, "milter edit '%c' (%s) cannot be applied", m->type, m->name ? m->name : "body");
out:
	buf_free(&addr);
	return rc;
}
