/*
 * setup_answers.c - the install questions of `tern setup`: names, checks,
 * defaults and the main.cf and aliases edits they make (setup_answers.h).
 *
 * Mail layer, pure functions, no privileges. The questions, defaults and
 * what each type implies follow Debian's postfix package (its debconf
 * templates, config and postinst scripts), so that an answer means in
 * main.cf what it means for Postfix.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/config.h"
#include "mail/setup_answers.h"
#include "util/cidr.h"
#include "util/mem.h"

static const struct {
	const char *name;
	const char *prompt;
	const char *debconf;	/* Debian's postfix/NAME, also accepted in a preseed file */
} questions[SQ_COUNT] = {
	[SQ_TYPE] = { "type", "General mail configuration type", "main_mailer_type" },
	[SQ_MAILNAME] = { "mailname", "System mail name", "mailname" },
	[SQ_ROOT] = { "root", "Root and postmaster mail recipient (none for none)", "root_address" },
	[SQ_DESTINATIONS] = { "destinations", "Other destinations to accept mail for (none for none)",
			      "destinations" },
	[SQ_NETWORKS] = { "networks", "Local networks (none for Tern's default)", P_mynetworks },
	[SQ_MAILBOX_LIMIT] = { "mailbox-limit", "Mailbox size limit in bytes (0 for none)", "mailbox_limit" },
	[SQ_DELIMITER] = { "delimiter", "Local address extension character (none for none)",
			   "recipient_delim" },
	[SQ_PROTOCOLS] = { "protocols", "Internet protocols to use (all, ipv4, ipv6)", "protocols" },
	/* Named after the parameter, in Debian's question and in ours. */
	[SQ_RELAYHOST] = { P_relayhost, "SMTP relay host (none for none)", P_relayhost },
};

static const char *const type_labels[] = {
	[SETUP_NONE] = "No configuration",
	[SETUP_INTERNET] = "Internet Site",
	[SETUP_SMARTHOST] = "Internet with smarthost",
	[SETUP_SATELLITE] = "Satellite system",
	[SETUP_LOCAL] = "Local only",
};
static const char *const type_words[] = {
	[SETUP_NONE] = "none",
	[SETUP_INTERNET] = "internet",
	[SETUP_SMARTHOST] = "smarthost",
	[SETUP_SATELLITE] = "satellite",
	[SETUP_LOCAL] = "local",
};

const char *setup_q_name(enum setup_q q)
{
	return questions[q].name;
}

const char *setup_q_prompt(enum setup_q q)
{
	return questions[q].prompt;
}

int setup_q_find(const char *name)
{
	char norm[32];
	size_t i;
	for (i = 0; name[i] && i + 1 < sizeof(norm); i++)
		norm[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
	if (name[i])
		return -1;
	norm[i] = '\0';
	for (int q = 0; q < SQ_COUNT; q++) {
		if (strcmp(norm, questions[q].name) == 0)
			return q;
		/* debconf names with '_' compared in the same normal form */
		char deb[32];
		size_t j;
		for (j = 0; questions[q].debconf[j] && j + 1 < sizeof(deb); j++)
			deb[j] = questions[q].debconf[j] == '_' ? '-' : questions[q].debconf[j];
		deb[j] = '\0';
		if (strcmp(norm, deb) == 0)
			return q;
	}
	return -1;
}

bool setup_q_applies(enum setup_q q, enum setup_type type)
{
	if (type == SETUP_NONE)
		return q == SQ_TYPE;
	if (q == SQ_RELAYHOST)
		return type == SETUP_SMARTHOST || type == SETUP_SATELLITE;
	return true;
}

const char *setup_type_label(enum setup_type t)
{
	return type_labels[t];
}

bool setup_type_parse(const char *text, enum setup_type *out)
{
	for (int t = SETUP_NONE; t <= SETUP_LOCAL; t++) {
		char num[4];
		snprintf(num, sizeof(num), "%d", t + 1);
		if (strcasecmp(text, type_labels[t]) == 0 || strcasecmp(text, type_words[t]) == 0 ||
		    strcmp(text, num) == 0) {
			*out = (enum setup_type)t;
			return true;
		}
	}
	return false;
}

/* RFC 1035 section 2.3.1, as Debian's postfix config script checks it. */
bool setup_check_domain(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 253)
		return false;
	const char *label = s;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t n = (size_t)(p - label);
			if (n == 0 || n > 63 || label[0] == '-' || p[-1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = p + 1;
		} else if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
	}
}

/* Items of a main.cf list: split on commas and white space. */
static char **split_list(const char *s)
{
	size_t n = 0, cap = 4;
	char **items = xmalloc(cap * sizeof(*items));
	while (*s) {
		while (*s == ',' || isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		const char *start = s;
		while (*s && *s != ',' && !isspace((unsigned char)*s))
			s++;
		if (n + 2 > cap)
			items = xreallocarray(items, cap *= 2, sizeof(*items));
		items[n++] = xstrndup(start, (size_t)(s - start));
	}
	items[n] = NULL;
	return items;
}

static void free_list(char **items)
{
	for (char **p = items; *p; p++)
		free(*p);
	free(items);
}

bool setup_check_networks(const char *s, struct buf *why)
{
	char **items = split_list(s);
	bool ok = true;
	for (char **p = items; *p && ok; p++) {
		struct cidr net;
		if (!cidr_parse(*p, &net)) {
			buf_printf(why, "\"%s\" is not a network (address/prefix, e.g. 192.0.2.0/24 or [2001:db8::]/32)",
				   *p);
			ok = false;
		}
	}
	free_list(items);
	return ok;
}

/* A port: 1-65535, or a service name in /etc/services (smtp, submission). */
static bool check_port(const char *p)
{
	if (*p == '\0')
		return false;
	if (isdigit((unsigned char)*p)) {
		char *end;
		long v = strtol(p, &end, 10);
		return *end == '\0' && v >= 1 && v <= 65535 && p[0] != '0';
	}
	/* A name must be one this host knows, or delivery could not use it. */
	return getservbyname(p, "tcp") != NULL;
}

bool setup_check_relayhost(const char *s, struct buf *why)
{
	if (*s == '\0')
		return true;
	const char *port = NULL;
	char *host;
	bool ok;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			goto bad;
		if (close[1] == ':')
			port = close + 2;
		host = xstrndup(s + 1, (size_t)(close - s - 1));
		/* [address] or [name]; Postfix also writes IPv6 as [ipv6:2001:db8::1] */
		const char *a = strncasecmp(host, "ipv6:", 5) == 0 ? host + 5 : host;
		unsigned char bin[16];
		ok = inet_pton(AF_INET6, a, bin) == 1 ||
		     (a == host && (inet_pton(AF_INET, host, bin) == 1 || setup_check_domain(host)));
	} else {
		const char *colon = strchr(s, ':');
		if (colon != NULL)
			port = colon + 1;
		host = xstrndup(s, colon ? (size_t)(colon - s) : strlen(s));
		ok = setup_check_domain(host);
	}
	free(host);
	if (ok && (port == NULL || check_port(port)))
		return true;
bad:
	buf_printf(why, "\"%s\" is not a relay host: use host, [host], host:port or [host]:port", s);
	return false;
}

bool setup_check_size(const char *s, struct buf *why)
{
	const struct param_def *p = param_find(P_mailbox_size_limit);
	bool ok = *s != '\0' && strlen(s) <= 19;
	for (const char *c = s; ok && *c; c++)
		ok = isdigit((unsigned char)*c);
	if (ok) {
		long long v = strtoll(s, NULL, 10);
		ok = v >= p->min && v <= p->max;
	}
	if (!ok)
		buf_printf(why, "\"%s\" is not a size: a number of bytes from %lld to %lld (0 for no limit)", s,
			   p->min, p->max);
	return ok;
}

/*
 * Characters an address extension may be split on: the punctuation an
 * unquoted local part may hold (RFC 5322 atext), except '$' (main.cf
 * would expand it) and '.' (it would split ordinary first.last names).
 */
static const char delimiter_chars[] = "+-_=~!#%&'*/?^`{|}";

bool setup_check_delimiter(const char *s, struct buf *why)
{
	for (const char *c = s; *c; c++) {
		if (strchr(delimiter_chars, *c) == NULL) {
			buf_printf(why, "\"%s\" is not a set of delimiter characters: use one or more of %s", s,
				   delimiter_chars);
			return false;
		}
	}
	return true;
}

/* mydestination items: a domain, $name or ${name}, type:table, /file. */
static bool check_destinations(const char *s, struct buf *why)
{
	char **items = split_list(s);
	bool ok = true;
	for (char **p = items; *p && ok; p++) {
		const char *i = *p;
		if (i[0] == '$' || i[0] == '/' || setup_check_domain(i))
			continue;
		const char *colon = strchr(i, ':');
		if (colon != NULL && colon > i && colon[1] != '\0')
			continue;
		buf_printf(why, "\"%s\" is not a domain", i);
		ok = false;
	}
	free_list(items);
	return ok;
}

/* The root: value: aliases(5) items (setup_check keeps it on one line). */
static bool check_root(const char *s, struct buf *why)
{
	char **items = split_list(s);
	bool ok = true;
	for (char **p = items; *p && ok; p++) {
		const char *at = strchr(*p, '@');
		if (at != NULL && (at == *p || !setup_check_domain(at + 1))) {
			buf_printf(why, "\"%s\" is not a local name or user@domain", *p);
			ok = false;
		}
	}
	free_list(items);
	return ok;
}

static bool check_protocols(const char *s, struct buf *why)
{
	char **items = split_list(s);
	bool ok = items[0] != NULL;
	for (char **p = items; *p && ok; p++)
		ok = strcmp(*p, "all") == 0 || strcmp(*p, "ipv4") == 0 || strcmp(*p, "ipv6") == 0;
	free_list(items);
	if (!ok)
		buf_printf(why, "\"%s\" is not all, ipv4 or ipv6", s);
	return ok;
}

bool setup_check(enum setup_q q, const char *value, struct buf *why)
{
	enum setup_type t;
	/* A newline would start another main.cf entry (or aliases entry). */
	for (const char *c = value; *c; c++) {
		if (iscntrl((unsigned char)*c)) {
			buf_printf(why, "the %s answer must be one line of printable characters",
				   setup_q_name(q));
			return false;
		}
	}
	switch (q) {
	case SQ_TYPE:
		if (setup_type_parse(value, &t))
			return true;
		buf_printf(why, "\"%s\" is not a configuration type: No configuration, Internet Site, "
			   "Internet with smarthost, Satellite system or Local only "
			   "(or none, internet, smarthost, satellite, local, 1-5)", value);
		return false;
	case SQ_MAILNAME:
		if (setup_check_domain(value))
			return true;
		buf_printf(why, "\"%s\" is not a domain name (letters, digits and '-' in dot-separated labels)",
			   value);
		return false;
	case SQ_ROOT:
		return check_root(value, why);
	case SQ_DESTINATIONS:
		return check_destinations(value, why);
	case SQ_NETWORKS:
		return setup_check_networks(value, why);
	case SQ_MAILBOX_LIMIT:
		return setup_check_size(value, why);
	case SQ_DELIMITER:
		return setup_check_delimiter(value, why);
	case SQ_PROTOCOLS:
		return check_protocols(value, why);
	case SQ_RELAYHOST:
		return setup_check_relayhost(value, why);
	case SQ_COUNT:
		break;
	}
	return false;
}

/* Is host within domain (host == domain or host ends in ".domain")? */
static bool within(const char *host, const char *domain)
{
	size_t h = strlen(host), d = strlen(domain);
	if (h == d)
		return strcasecmp(host, domain) == 0;
	return h > d && host[h - d - 1] == '.' && strcasecmp(host + h - d, domain) == 0;
}

void setup_default_destinations(enum setup_type t, const char *mailname, const char *fqdn,
				const char *domain, struct buf *out)
{
	if (t == SETUP_INTERNET) {
		buf_printf(out, "$myhostname, %s", mailname);
		if (strcasecmp(mailname, fqdn) != 0)
			buf_printf(out, ", %s", fqdn);
	} else {
		/* With a relay host or local only, mail for the mail name is not taken
		 * unless the host lies outside it (Debian's rule). */
		if (!within(fqdn, mailname))
			buf_printf(out, "%s, ", mailname);
		buf_printf(out, "$myhostname, %s", fqdn);
	}
	buf_printf(out, ", localhost.%s, localhost", domain);
}

static bool is_local_transport(const char *v)
{
	return v != NULL && (strcmp(v, SETUP_LOCAL_TRANSPORT) == 0 || strcmp(v, "error") == 0);
}

size_t setup_edits(const struct setup_answers *a, enum setup_type t, const struct setup_current *cur,
		   struct conf_edit *e)
{
	size_t n = 0;
	if (t == SETUP_NONE)
		return 0;
#define SET(p, v) (e[n++] = (struct conf_edit){ CONF_SET, (p), (v) })
#define REMOVE(p) (e[n++] = (struct conf_edit){ CONF_REMOVE, (p), NULL })
	SET(P_myorigin, a->v[SQ_MAILNAME]);
	SET(P_mydestination, a->v[SQ_DESTINATIONS]);
	if (a->v[SQ_NETWORKS][0] == '\0')
		REMOVE(P_mynetworks);	/* blank: the default (Tern's is loopback only) */
	else
		SET(P_mynetworks, a->v[SQ_NETWORKS]);
	SET(P_mailbox_size_limit, a->v[SQ_MAILBOX_LIMIT]);
	SET(P_recipient_delimiter, a->v[SQ_DELIMITER]);
	SET(P_inet_protocols, a->v[SQ_PROTOCOLS]);
	bool relay = t == SETUP_SMARTHOST || t == SETUP_SATELLITE;
	SET(P_relayhost, relay && a->v[SQ_RELAYHOST] ? a->v[SQ_RELAYHOST] : "");
	/* Satellite and local only take no mail from the network. */
	if (t == SETUP_SATELLITE || t == SETUP_LOCAL)
		SET(P_inet_interfaces, "loopback-only");
	else if (cur->inet_interfaces != NULL && strcmp(cur->inet_interfaces, "loopback-only") == 0)
		SET(P_inet_interfaces, "all");
	if (t == SETUP_LOCAL) {
		SET(P_default_transport, SETUP_LOCAL_TRANSPORT);
		SET(P_relay_transport, SETUP_LOCAL_TRANSPORT);
	} else {
		/* Leaving local only: its transports go, someone else's stay. */
		if (is_local_transport(cur->default_transport))
			REMOVE(P_default_transport);
		if (is_local_transport(cur->relay_transport))
			REMOVE(P_relay_transport);
	}
#undef SET
#undef REMOVE
	return n;
}

enum setup_type setup_type_from_conf(const char *default_transport, const char *inet_interfaces,
				     const char *relayhost)
{
	if (is_local_transport(default_transport))
		return SETUP_LOCAL;
	bool relay = relayhost != NULL && relayhost[0] != '\0';
	if (relay && inet_interfaces != NULL && strcmp(inet_interfaces, "loopback-only") == 0)
		return SETUP_SATELLITE;
	return relay ? SETUP_SMARTHOST : SETUP_INTERNET;
}

/* One aliases(5) entry: [start, end) covers its first line and continuation lines. */
struct entry {
	size_t start, end;
	bool is_root;
};

static size_t line_end(const char *text, size_t len, size_t i)
{
	const char *nl = memchr(text + i, '\n', len - i);
	return nl ? (size_t)(nl - text) + 1 : len;
}

/* Is the line at i a continuation (starts with white space and is not blank)? */
static bool continues(const char *text, size_t len, size_t i)
{
	if (i >= len || (text[i] != ' ' && text[i] != '\t'))
		return false;
	for (size_t j = i; j < len && text[j] != '\n'; j++)
		if (!isspace((unsigned char)text[j]))
			return true;
	return false;
}

static bool next_entry(const char *text, size_t len, size_t *pos, struct entry *e)
{
	size_t i = *pos;
	while (i < len) {
		size_t end = line_end(text, len, i);
		const char *l = text + i;
		if (*l != '#' && !isspace((unsigned char)*l)) {
			e->start = i;
			e->is_root = end - i >= 5 && strncasecmp(l, "root", 4) == 0 &&
				     (l[4] == ':' || l[4] == ' ' || l[4] == '\t');
			if (e->is_root) {
				size_t k = 4;
				while (i + k < end && (l[k] == ' ' || l[k] == '\t'))
					k++;
				e->is_root = l[k] == ':';
			}
			while (continues(text, len, end))
				end = line_end(text, len, end);
			e->end = end;
			*pos = end;
			return true;
		}
		i = end;
	}
	*pos = len;
	return false;
}

/* The value of an entry: after ':', lines joined by one space, trimmed. */
static void entry_value(const char *text, const struct entry *e, struct buf *out)
{
	const char *p = (const char *)memchr(text + e->start, ':', e->end - e->start) + 1;
	const char *end = text + e->end;
	bool space = false;
	for (; p < end; p++) {
		if (isspace((unsigned char)*p)) {
			space = out->len > 0;
			continue;
		}
		if (space)
			buf_addc(out, ' ');
		space = false;
		buf_addc(out, *p);
	}
}

bool setup_aliases_root_get(const char *text, size_t len, struct buf *out)
{
	size_t pos = 0;
	struct entry e;
	while (next_entry(text, len, &pos, &e)) {
		if (e.is_root) {
			entry_value(text, &e, out);
			return true;
		}
	}
	return false;
}

void setup_aliases_root_set(const char *text, size_t len, const char *value, struct buf *out)
{
	size_t pos = 0, copied = 0;
	bool done = false;
	struct entry e;
	while (next_entry(text, len, &pos, &e)) {
		if (!e.is_root)
			continue;
		buf_add(out, text + copied, e.start - copied);
		copied = e.end;
		if (done)
			continue;	/* a later root: would win over ours: it goes */
		done = true;
		struct buf cur = BUF_INIT;
		entry_value(text, &e, &cur);
		if (strcmp(buf_str(&cur), value) == 0)
			buf_add(out, text + e.start, e.end - e.start);	/* same: byte for byte */
		else
			buf_printf(out, "root: %s\n", value);
		buf_free(&cur);
	}
	buf_add(out, text + copied, len - copied);
	if (!done) {
		if (out->len > 0 && out->data[out->len - 1] != '\n')
			buf_addc(out, '\n');
		buf_printf(out, "root: %s\n", value);
	}
}

void setup_answers_free(struct setup_answers *a)
{
	for (int q = 0; q < SQ_COUNT; q++) {
		free(a->v[q]);
		a->v[q] = NULL;
	}
}
