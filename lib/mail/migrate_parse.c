/*
 * migrate_parse.c - the line parsers of tern migrate-sendmail: one line of
 * a sendmail table, sendmail.mc or sendmail.cf in, its Tern translation
 * (or why there is none) out. See migrate.h.
 *
 * Mail layer; no privileges, no I/O. Input is untrusted text: anything
 * not understood is a "why", never a crash.
 */
#include "compat.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/migrate.h"
#include "util/mem.h"

static char *trimmed(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s))
		s++, n--;
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

static bool prefix(const char *s, const char *p)
{
	return strncasecmp(s, p, strlen(p)) == 0;
}

/* "5.7.1:" at s: the length of the D.S.N part (without the colon), else 0. */
static size_t dsn_len(const char *s)
{
	size_t i = 0;
	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	i = 1;
	for (int dot = 0; dot < 2; dot++) {
		if (s[i] != '.' || !isdigit((unsigned char)s[i + 1]))
			return 0;
		i++;
		while (isdigit((unsigned char)s[i]))
			i++;
	}
	return s[i] == ':' ? i : 0;
}

/*
 * sendmail's error text "[D.S.N:]NNN text", "NNN D.S.N text" or just
 * "text" -> Postfix's "NNN D.S.N text". def_dsn when none is given.
 */
static void error_reply(const char *s, const char *def_dsn, struct buf *out)
{
	char dsn[16] = "";
	size_t dl = dsn_len(s);
	if (dl > 0 && dl < sizeof(dsn)) {
		memcpy(dsn, s, dl);
		dsn[dl] = '\0';
		s += dl + 1;
	}
	while (isspace((unsigned char)*s))
		s++;
	int code = 550;
	if ((s[0] == '4' || s[0] == '5') && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
	    (s[3] == '\0' || isspace((unsigned char)s[3]))) {
		code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');	/* three digits, checked */
		s += 3;
		while (isspace((unsigned char)*s))
			s++;
	}
	/* "NNN D.S.N text": the code's own enhanced status. */
	size_t n = strcspn(s, " \t");
	if (dsn[0] == '\0' && n > 0 && n < sizeof(dsn) && (s[0] == '4' || s[0] == '5') && s[1] == '.') {
		memcpy(dsn, s, n);
		dsn[n] = '\0';
		s += n;
		while (isspace((unsigned char)*s))
			s++;
	}
	if (dsn[0] == '\0')
		snprintf(dsn, sizeof(dsn), "%c%s", code / 100 == 4 ? '4' : '5', def_dsn + 1);
	buf_printf(out, "%d %s %s", code, dsn, *s ? s : "Access denied");
}

int mig_access_value(const char *value, struct buf *out, struct buf *why)
{
	buf_reset(out);
	if (strcasecmp(value, "OK") == 0 || strcasecmp(value, "RELAY") == 0) {
		buf_adds(out, "OK");
		return 1;
	}
	if (strcasecmp(value, "REJECT") == 0) {
		buf_adds(out, "REJECT");
		return 1;
	}
	if (strcasecmp(value, "SKIP") == 0) {
		buf_adds(out, "DUNNO");
		return 1;
	}
	if (prefix(value, "ERROR:")) {
		const char *t = value + 6;
		char *text = xstrdup(t);
		size_t n = strlen(text);
		/* ERROR:"550 text": the quotes go. */
		if (n >= 2 && text[0] == '"' && text[n - 1] == '"') {
			memmove(text, text + 1, n - 2);
			text[n - 2] = '\0';
		}
		error_reply(text, "5.7.1", out);
		free(text);
		return 1;
	}
	if (strcasecmp(value, "DISCARD") == 0) {
		buf_adds(why, "Tern's access maps have no DISCARD action (header_checks DISCARD drops by content)");
		return 0;
	}
	if (prefix(value, "QUARANTINE:")) {
		buf_adds(why, "Tern's access maps have no HOLD action");
		return 0;
	}
	buf_printf(why, "the value \"%s\" is not an access action Tern knows", value);
	return 0;
}

/* An IP address or a prefix of whole octets (sendmail's "192.168.1"), or IPv6:... */
static bool ip_like(const char *s)
{
	if (prefix(s, "IPv6:"))
		return true;
	return s[0] != '\0' && strspn(s, "0123456789.") == strlen(s);
}

static void acc_add(struct mig_access *a, enum mig_access_map m, const char *key, const char *value)
{
	a->e[a->n].map = m;
	a->e[a->n].key = xstrdup(key);
	a->e[a->n].value = xstrdup(value);
	a->n++;
}

int mig_access_entry(const char *key, const char *value, struct mig_access *out, struct buf *why)
{
	enum { T_BARE, T_CONNECT, T_FROM, T_TO } tag = T_BARE;
	const char *subject = key;
	memset(out, 0, sizeof(*out));
	if (prefix(key, "Connect:"))
		tag = T_CONNECT, subject = key + 8;
	else if (prefix(key, "From:"))
		tag = T_FROM, subject = key + 5;
	else if (prefix(key, "To:"))
		tag = T_TO, subject = key + 3;
	else if (!prefix(key, "IPv6:") && strchr(key, ':') != NULL) {
		size_t n = strcspn(key, ":");
		buf_printf(why, "the tag %.*s: has no Tern equivalent (Tern reads Connect:, From:, To: and bare keys)",
			   (int)(n > 40 ? 40 : n), key);
		return 0;
	}
	if (*subject == '\0') {
		buf_adds(why, "an empty key");
		return 0;
	}
	bool ip = ip_like(subject);
	/* Postfix writes IPv6 client keys without sendmail's "IPv6:" tag. */
	if ((tag == T_CONNECT || tag == T_BARE) && prefix(subject, "IPv6:"))
		subject += 5;
	if (*subject == '\0') {
		buf_adds(why, "an empty key");
		return 0;
	}
	struct buf action = BUF_INIT;
	if (!mig_access_value(value, &action, why)) {
		buf_free(&action);
		return 0;
	}
	const char *act = buf_str(&action);
	bool relay = strcasecmp(value, "RELAY") == 0;
	int rc = 1;
	switch (tag) {
	case T_CONNECT:
		acc_add(out, relay ? MIG_ACC_RELAY_CLIENT : MIG_ACC_CLIENT, subject, act);
		break;
	case T_FROM:
		if (relay) {
			buf_adds(why, "relaying by the sender's address (anyone can forge it): "
				      "Tern has none; use SASL (permit_sasl_authenticated) instead");
			rc = 0;
		} else
			acc_add(out, MIG_ACC_SENDER, subject, act);
		break;
	case T_TO:
		acc_add(out, relay ? MIG_ACC_RELAY_RCPT : MIG_ACC_RECIPIENT, subject, act);
		break;
	case T_BARE:
		/* sendmail applies a key without a tag to Connect, From and To. */
		if (relay) {
			acc_add(out, MIG_ACC_RELAY_CLIENT, subject, act);
			if (!ip)
				acc_add(out, MIG_ACC_RELAY_RCPT, subject, act);
		} else {
			acc_add(out, MIG_ACC_CLIENT, subject, act);
			if (!ip) {
				acc_add(out, MIG_ACC_SENDER, subject, act);
				acc_add(out, MIG_ACC_RECIPIENT, subject, act);
			}
		}
		break;
	}
	buf_free(&action);
	return rc;
}

void mig_access_free(struct mig_access *a)
{
	for (size_t i = 0; i < a->n; i++) {
		free(a->e[i].key);
		free(a->e[i].value);
	}
	a->n = 0;
}

/* sendmail's error mailer "error:[D.S.N:]NNN text" or "error:name text". */
static void mailer_error(const char *v, const char *def_dsn, struct buf *out)
{
	const char *t = v + 6;
	if (dsn_len(t) == 0 && !isdigit((unsigned char)*t)) {
		/* "error:nouser 550 text": the word names the error; the rest is the reply. */
		t += strcspn(t, " \t");
		while (isspace((unsigned char)*t))
			t++;
	}
	error_reply(t, def_dsn, out);
}

int mig_virtuser_entry(const char *key, const char *value, struct buf *out_key,
		       struct buf *out_value, bool *is_error, struct buf *why)
{
	buf_reset(out_key);
	buf_reset(out_value);
	*is_error = false;
	const char *at = strchr(key, '@');
	if (at == NULL || at[1] == '\0') {
		buf_adds(why, "a key without @domain");
		return 0;
	}
	if (strstr(key, "+*") != NULL) {
		buf_adds(why, "sendmail's user+* key: Tern matches user@domain for user+detail@domain "
			      "when recipient_delimiter = + (write the key as user@domain)");
		return 0;
	}
	if (strchr(value, '%') != NULL) {
		buf_adds(why, "%1/%2 (the user part or +detail carried into the target) cannot be "
			      "expressed in virtual_alias_maps: list each address");
		return 0;
	}
	if (prefix(value, "error:")) {
		if (key[0] == '@') {
			/* The caller makes the domain a virtual alias domain: unlisted users are refused. */
			*is_error = true;
			buf_adds(out_key, key);
			mailer_error(value, "5.1.1", out_value);
			return 1;
		}
		*is_error = true;
		buf_adds(out_key, key);
		mailer_error(value, "5.1.1", out_value);
		return 1;
	}
	if (value[0] == '\0') {
		buf_adds(why, "no target");
		return 0;
	}
	buf_adds(out_key, key);
	buf_adds(out_value, value);
	return 1;
}

int mig_mailertable_entry(const char *key, const char *value, struct buf *out_key,
			  struct buf *out_value, struct buf *why)
{
	buf_reset(out_key);
	buf_reset(out_value);
	if (key[0] == '\0') {
		buf_adds(why, "an empty key");
		return 0;
	}
	size_t ml = strcspn(value, ":");
	if (value[ml] != ':') {
		buf_adds(why, "no mailer: the value must be mailer:host");
		return 0;
	}
	char *mailer = xstrndup(value, ml);
	const char *host = value + ml + 1;
	int rc = 1;
	if (strcasecmp(mailer, "esmtp") == 0 || strcasecmp(mailer, "smtp") == 0 ||
	    strcasecmp(mailer, "smtp8") == 0 || strcasecmp(mailer, "dsmtp") == 0 ||
	    strcasecmp(mailer, "relay") == 0) {
		/* sendmail's "h1:h2" is a list of fallback hosts; brackets protect IPv6 colons. */
		const char *colon = host[0] == '[' ? strchr(strchr(host, ']') ? strchr(host, ']') : host, ':')
						 : strchr(host, ':');
		if (host[0] == '\0') {
			buf_adds(why, "no host");
			rc = 0;
		} else if (colon != NULL) {
			buf_adds(why, "a list of fallback hosts: Tern's transport takes one next hop "
				      "(put the others in smtp_fallback_relay)");
			rc = 0;
		} else
			buf_printf(out_value, "smtp:%s", host);
	} else if (strcasecmp(mailer, "local") == 0) {
		if (host[0] != '\0') {
			buf_printf(why, "local:%s delivers the whole domain to one user: write "
				      "\"@%s %s\" in virtual_alias_maps", host, key[0] == '.' ? key + 1 : key,
				   host);
			rc = 0;
		} else
			buf_adds(out_value, "local:");
	} else if (strcasecmp(mailer, "error") == 0) {
		struct buf r = BUF_INIT;
		mailer_error(value, "5.1.2", &r);
		/* transport(5)'s error:text bounces with the text; the code is Tern's. */
		const char *t = buf_str(&r) + 4;
		buf_printf(out_value, "error:%s", t);
		buf_free(&r);
	} else {
		buf_printf(why, "Tern has no %s mailer", mailer);
		rc = 0;
	}
	free(mailer);
	if (rc == 1)
		buf_adds(out_key, strcmp(key, ".") == 0 ? "*" : key);
	return rc;
}

/* ---- sendmail.mc ---- */

/* Skip "dnl" and the rest of its line (including the newline). */
static const char *skip_dnl(const char *p)
{
	const char *nl = strchr(p, '\n');
	return nl ? nl + 1 : p + strlen(p);
}

static bool is_dnl(const char *p, const char *start)
{
	return strncmp(p, "dnl", 3) == 0 && !(isalnum((unsigned char)p[3]) || p[3] == '_') &&
	       (p == start || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'));
}

int mig_mc_complete(const char *stmt)
{
	int depth = 0, quote = 0;
	for (const char *p = stmt; *p; p++) {
		if (*p == '`')
			quote++;
		else if (*p == '\'' && quote > 0)
			quote--;
		else if (quote == 0 && is_dnl(p, stmt)) {
			p = skip_dnl(p) - 1;
			if (p[1] == '\0')
				break;
		} else if (quote == 0 && *p == '(')
			depth++;
		else if (quote == 0 && *p == ')')
			depth--;
	}
	return depth <= 0 && quote == 0;
}

int mig_mc_line(const char *line, struct mig_mc_call *out, struct buf *why)
{
	memset(out, 0, sizeof(*out));
	const char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#' || is_dnl(p, p))
		return 0;
	if (!(isalpha((unsigned char)*p) || *p == '_')) {
		buf_adds(why, "not an m4 macro call");
		return -1;
	}
	const char *name = p;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	out->name = xstrndup(name, (size_t)(p - name));
	if (*p != '(') {
		/* A bare macro (MAILER_DEFINITIONS); only dnl or blanks may follow. */
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '\n' || is_dnl(p, line))
			return 1;
		buf_adds(why, "text after a macro name");
		mig_mc_call_free(out);
		return -1;
	}
	p++;
	struct buf arg = BUF_INIT;
	int quote = 0, depth = 0;
	for (;; p++) {
		if (*p == '\0') {
			buf_adds(why, "an unclosed call or quote");
			buf_free(&arg);
			mig_mc_call_free(out);
			return -1;
		}
		if (quote == 0 && is_dnl(p, line)) {
			p = skip_dnl(p) - 1;
			continue;
		}
		if (*p == '`') {
			if (quote++ > 0)
				buf_addc(&arg, *p);
			continue;
		}
		if (*p == '\'' && quote > 0) {
			if (--quote > 0)
				buf_addc(&arg, *p);
			continue;
		}
		if (quote == 0 && *p == '(')
			depth++;
		if (quote == 0 && (*p == ',' || *p == ')') && depth == 0) {
			if (out->argc == MIG_MC_MAXARGS) {
				buf_adds(why, "too many arguments");
				buf_free(&arg);
				mig_mc_call_free(out);
				return -1;
			}
			out->argv[out->argc++] = trimmed(buf_str(&arg), arg.len);
			buf_reset(&arg);
			if (*p == ')')
				break;
			continue;
		}
		if (quote == 0 && *p == ')')
			depth--;
		if (quote == 0 && *p == '\n')
			continue;	/* m4 keeps it; in an argument it is only layout */
		buf_addc(&arg, *p);
	}
	buf_free(&arg);
	/* "FEATURE(`x')" with one empty argument is "FEATURE()": keep argc as m4 sees it. */
	return 1;
}

void mig_mc_call_free(struct mig_mc_call *c)
{
	free(c->name);
	for (size_t i = 0; i < c->argc; i++)
		free(c->argv[i]);
	memset(c, 0, sizeof(*c));
}

/* ---- sendmail.cf ---- */

int mig_cf_line(const char *line, char *kind, char **name, char **value)
{
	char k = line[0];
	*name = *value = NULL;
	if (k != 'D' && k != 'C' && k != 'F' && k != 'O')
		return 0;
	const char *p = line + 1;
	if (k == 'O') {
		if (*p != ' ')
			return 0;	/* one-letter options of old configurations */
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, "= \t");
		if (n == 0)
			return 0;
		*name = xstrndup(p, n);
		p += n;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '=')
			p++;
		*value = trimmed(p, strlen(p));
		*kind = k;
		return 1;
	}
	if (*p == '{') {
		const char *end = strchr(p, '}');
		if (end == NULL || end == p + 1)
			return 0;
		*name = xstrndup(p + 1, (size_t)(end - p - 1));
		p = end + 1;
	} else if (isalnum((unsigned char)*p)) {
		*name = xstrndup(p, 1);
		p++;
	} else
		return 0;
	*value = trimmed(p, strlen(p));
	*kind = k;
	return 1;
}

/* ---- DAEMON_OPTIONS ---- */

int mig_daemon_options(const char *text, struct mig_daemon *out, struct buf *why)
{
	memset(out, 0, sizeof(*out));
	char *copy = xstrdup(text);
	int rc = 1;
	for (char *f = copy, *next; f != NULL && rc == 1; f = next) {
		next = strchr(f, ',');
		if (next)
			*next++ = '\0';
		char *eq = strchr(f, '=');
		char *k = trimmed(f, eq ? (size_t)(eq - f) : strlen(f));
		char *v = eq ? trimmed(eq + 1, strlen(eq + 1)) : xstrdup("");
		char **slot = NULL;
		if (k[0] == '\0' && !eq)
			;	/* an empty field (trailing comma) */
		else if (strcasecmp(k, "Name") == 0 || strcasecmp(k, "N") == 0)
			slot = &out->name;
		else if (strcasecmp(k, "Port") == 0 || strcasecmp(k, "P") == 0)
			slot = &out->port;
		else if (strcasecmp(k, "Addr") == 0 || strcasecmp(k, "A") == 0)
			slot = &out->addr;
		else if (strcasecmp(k, "Family") == 0 || strcasecmp(k, "F") == 0)
			slot = &out->family;
		else if (strcasecmp(k, "Modifiers") == 0 || strcasecmp(k, "M") == 0)
			slot = &out->modifiers;
		else {
			buf_printf(why, "the daemon option %.40s is not one Tern maps", k);
			rc = 0;
		}
		if (slot) {
			free(*slot);
			*slot = v;
			v = NULL;
		}
		free(k);
		free(v);
	}
	free(copy);
	if (out->port == NULL)
		out->port = xstrdup("smtp");
	if (out->addr == NULL)
		out->addr = xstrdup("");
	if (out->family && strcasecmp(out->family, "inet") != 0 && strcasecmp(out->family, "inet6") != 0 &&
	    rc == 1) {
		buf_printf(why, "the family %.40s (Tern listens on inet and inet6 only)", out->family);
		rc = 0;
	}
	if (rc == 0)
		mig_daemon_free(out);
	return rc;
}

void mig_daemon_free(struct mig_daemon *d)
{
	free(d->name);
	free(d->port);
	free(d->addr);
	free(d->family);
	free(d->modifiers);
	memset(d, 0, sizeof(*d));
}
