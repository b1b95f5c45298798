/*
 * milter_apply.c - milter edits into cleanup edits (see milter_apply.h).
 *
 * Mail layer, runs as mail_owner (smtpd, pickup).
 */
#include "compat.h"

#include <string.h>

#include "mail/header_checks.h"
#include "mail/milter_apply.h"
#include "mail/smtp_cmd.h"
#include "util/log.h"

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

void milter_apply_init(struct milter_apply *a, struct cleanup *c, struct maplist *header_checks,
		       const char *log_id)
{
	a->c = c;
	a->header_checks = header_checks;
	a->log_id = log_id;
	a->discard = false;
	buf_init(&a->reject);
}

void milter_apply_free(struct milter_apply *a)
{
	buf_free(&a->reject);
}

/*
 * milter_header_checks on a header a milter adds or changes. Returns 1
 * to apply the edit (name and value may have been replaced), 0 to drop
 * it, -1 when the table failed.
 */
static int check_header(struct milter_apply *a, struct buf *name, struct buf *value, struct buf *why)
{
	struct header_check hc;
	struct buf line = BUF_INIT;
	int rc = 1;
	header_check_init(&hc);
	buf_printf(&line, "%s:%s", buf_str(name), buf_str(value));
	int found = header_checks_list(a->header_checks, buf_str(&line), &hc, why);
	if (found < 0) {
		rc = -1;
		goto out;
	}
	if (hc.warning.len > 0)
		msg_warn("%s: milter_header_checks: %s", a->log_id, buf_str(&hc.warning));
	if (found == 0)
		goto out;
	if (hc.action != HC_DUNNO)
		msg_info("%s: milter-%s: header %.200s: %s", a->log_id, header_check_action_name(hc.action),
			 buf_str(&line), hc.text.len ? buf_str(&hc.text) : buf_str(&hc.result));
	switch (hc.action) {
	case HC_DUNNO:
	case HC_INFO:
	case HC_WARN:
		break;
	case HC_IGNORE:
		rc = 0;
		break;
	case HC_REPLACE: {
		const char *colon = strchr(buf_str(&hc.text), ':');
		if (colon == NULL)
			break;
		buf_reset(name);
		buf_add(name, hc.text.data, (size_t)(colon - hc.text.data));
		buf_reset(value);
		buf_adds(value, colon + 1);
		break;
	}
	case HC_HOLD:
		cleanup_hold(a->c, hc.text.len ? buf_str(&hc.text) : "held by a header check");
		break;
	case HC_DISCARD:
		a->discard = true;
		break;
	case HC_REDIRECT:
		while (cleanup_rcpt_count(a->c) > 0)
			if (cleanup_del_rcpt(a->c, cleanup_rcpt_addr(a->c, 0)) <= 0)
				break;
		if (cleanup_add_rcpt(a->c, buf_str(&hc.text), 0, "") != 0) {
			buf_printf(why, "milter_header_checks: cannot redirect to %s", buf_str(&hc.text));
			rc = -1;
		}
		break;
	case HC_REJECT:
		if (a->reject.len == 0)
			buf_printf(&a->reject, "%d %s %s", hc.code, hc.dsn,
				   hc.text.len ? buf_str(&hc.text) : "Message content rejected");
		break;
	}
out:
	header_check_free(&hc);
	buf_free(&line);
	return rc;
}

/* A header edit, through milter_header_checks when it sets a value. */
static int header_edit(struct milter_apply *a, const struct milter_mod *m)
{
	struct buf name = BUF_INIT, value = BUF_INIT, why = BUF_INIT;
	int rc = 0;
	buf_adds(&name, m->name);
	buf_adds(&value, m->value ? m->value : "");
	if (a->header_checks != NULL && value.len > 0) {
		int ok = check_header(a, &name, &value, &why);
		if (ok <= 0) {
			if (ok < 0)
				msg_warn("%s: milter_header_checks: %s", a->log_id, buf_str(&why));
			rc = ok;
			goto out;
		}
	}
	if (m->type == MILTER_R_ADDHEADER)
		rc = cleanup_header_add(a->c, buf_str(&name), buf_str(&value));
	else if (m->type == MILTER_R_INSHEADER)
		rc = cleanup_header_insert(a->c, m->index, buf_str(&name), buf_str(&value));
	else
		rc = cleanup_header_change(a->c, buf_str(&name), m->index ? m->index : 1, buf_str(&value));
out:
	buf_free(&name);
	buf_free(&value);
	buf_free(&why);
	return rc;
}

enum milter_outcome milter_apply_verdict(const struct milter_apply *a, enum milter_outcome o,
					 const char **reply)
{
	if (o != MILTER_O_CONTINUE)
		return o;
	if (a->reject.len > 0) {
		*reply = a->reject.data;
		return a->reject.data[0] == '4' ? MILTER_O_TEMPFAIL : MILTER_O_REJECT;
	}
	return a->discard ? MILTER_O_DISCARD : o;
}

int milter_apply_mod(struct milter_apply *a, const struct milter_mod *m, bool first, struct buf *why)
{
	struct cleanup *c = a->c;
	struct buf addr = BUF_INIT;
	int rc = 0;
	switch (m->type) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
	case MILTER_R_CHGHEADER:
		rc = header_edit(a, m);
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
