/*
 * resolve_route.c - which transport and next hop an address goes to:
 * transport_maps, then default_transport or relay_transport, relayhost,
 * the recipient domain (Postfix's order, see resolve.h).
 *
 * Mail layer, no privileges, no I/O of its own: the tables and
 * relay_domains are looked up through the callbacks of struct
 * resolve_conf (resolve.c: the loaded main.cf; tests: their own).
 */
#include "compat.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "mail/resolve.h"

void resolve_parse_route(const char *value, struct buf *transport, struct buf *nexthop)
{
	const char *colon;
	size_t n;

	buf_reset(transport);
	buf_reset(nexthop);
	while (isspace((unsigned char)*value))
		value++;
	n = strlen(value);
	while (n > 0 && isspace((unsigned char)value[n - 1]))
		n--;
	/* Only the first colon: "smtp:[::1]:25" has more. */
	colon = memchr(value, ':', n);
	if (colon == NULL) {
		buf_add(transport, value, n);
		return;
	}
	buf_add(transport, value, (size_t)(colon - value));
	buf_add(nexthop, colon + 1, n - (size_t)(colon + 1 - value));
}

bool resolve_text_transport(const char *transport)
{
	return strcmp(transport, "error") == 0 || strcmp(transport, "retry") == 0
	    || strcmp(transport, "discard") == 0;
}

void resolve_error_text(const char *nexthop, char cls, char *dsn, size_t dsnsize, struct buf *text)
{
	const char *p = nexthop;
	size_t n = 0;

	while (*p == ' ')
		p++;
	/* "D.D{1,3}.D{1,3} " in front: the status code, in the class that the transport decides. */
	if ((p[0] == '2' || p[0] == '4' || p[0] == '5') && p[1] == '.') {
		size_t i = 2, a = 0, b = 0;

		while (isdigit((unsigned char)p[i]) && a < 4)
			i++, a++;
		if (p[i] == '.') {
			i++;
			while (isdigit((unsigned char)p[i]) && b < 4)
				i++, b++;
			if (a >= 1 && a <= 3 && b >= 1 && b <= 3 && (p[i] == ' ' || p[i] == '\0'))
				n = i;
		}
	}
	if (n > 0 && n < dsnsize) {
		snprintf(dsn, dsnsize, "%c%.*s", cls, (int)(n - 1), p + 1);
		p += n;
		while (*p == ' ')
			p++;
	} else {
		snprintf(dsn, dsnsize, "%c.0.0", cls);
	}
	buf_reset(text);
	buf_adds(text, *p ? p : cls == '5' ? "mail delivery disabled by the configuration"
	    : cls == '4' ? "mail delivery suspended by the configuration" : "discarded");
}

static void set(struct resolved *r, const char *transport, const char *nexthop)
{
	buf_reset(&r->transport);
	buf_adds(&r->transport, transport);
	buf_reset(&r->nexthop);
	buf_adds(&r->nexthop, nexthop);
}

static bool smtp_like(const struct buf *t)
{
	return strcmp(buf_str(t), "smtp") == 0 || strcmp(buf_str(t), "relay") == 0;
}

/* transport_maps: the address, without its extension, the domain, then each .parent: 1, 0, -1. */
static int table(const struct resolve_conf *conf, const struct resolved *r, struct buf *value)
{
	struct buf key = BUF_INIT;
	const char *addr = buf_str(&r->address), *at = strrchr(addr, '@');
	const char *d = buf_str(&r->domain);
	int rc;

	for (size_t i = 0; addr[i]; i++)
		buf_addc(&key, (char)tolower((unsigned char)addr[i]));
	rc = conf->transport_lookup(buf_str(&key), value, conf->ctx);
	if (rc == 0 && at != NULL && conf->recipient_delimiter != NULL && *conf->recipient_delimiter) {
		struct buf base = BUF_INIT, ext = BUF_INIT, lp = BUF_INIT;

		buf_add(&lp, addr, (size_t)(at - addr));
		for (size_t i = 0; i < lp.len; i++)
			lp.data[i] = (char)tolower((unsigned char)lp.data[i]);
		if (resolve_split_extension(buf_str(&lp), conf->recipient_delimiter, &base, &ext)) {
			buf_reset(&key);
			buf_printf(&key, "%s@%s", buf_str(&base), d);
			rc = conf->transport_lookup(buf_str(&key), value, conf->ctx);
		}
		buf_free(&base);
		buf_free(&ext);
		buf_free(&lp);
	}
	if (rc == 0)
		rc = conf->transport_lookup(d, value, conf->ctx);
	for (const char *p = strchr(d, '.'); rc == 0 && p != NULL; p = strchr(p + 1, '.'))
		rc = conf->transport_lookup(p, value, conf->ctx);	/* ".example.com" */
	buf_free(&key);
	return rc;
}

void resolve_route(const struct resolve_conf *conf, struct resolved *r)
{
	struct buf t = BUF_INIT, h = BUF_INIT, value = BUF_INIT, hop = BUF_INIT;
	const char *domain = buf_str(&r->domain);
	const char *relayhost = conf->relayhost != NULL ? conf->relayhost : "";
	int rc;

	if (r->class != RESOLVE_LOCAL && r->class != RESOLVE_RELAY)
		goto out;	/* malformed, or unknown in a virtual alias domain: stays an error */
	/* The class's default, as if there were no transport_maps. */
	if (r->class == RESOLVE_LOCAL) {
		buf_adds(&t, "local");
		buf_adds(&hop, domain);
	} else {
		bool relay = false;

		if (conf->relay_domain != NULL && (rc = conf->relay_domain(domain, conf->ctx)) != 0) {
			if (rc < 0) {
				set(r, "retry", "4.3.0 relay_domains lookup failure");
				goto out;
			}
			relay = true;
		}
		if (relay)
			resolve_parse_route(conf->relay_transport ? conf->relay_transport : "relay", &t, &h);
		else
			resolve_parse_route(conf->default_transport ? conf->default_transport : "smtp", &t, &h);
		if (t.len == 0)
			buf_adds(&t, relay ? "relay" : "smtp");
		/* The next hop for delivery: the parameter's, relayhost, the domain. */
		buf_adds(&hop, h.len > 0 && !resolve_text_transport(buf_str(&t)) ? buf_str(&h)
		    : *relayhost ? relayhost : domain);
	}
	if (!resolve_text_transport(buf_str(&t)))
		set(r, buf_str(&t), buf_str(&hop));
	else
		set(r, buf_str(&t), buf_str(&h));
	if (conf->transport_lookup == NULL)
		goto out;
	rc = table(conf, r, &value);
	if (rc < 0) {
		set(r, "retry", "4.3.0 transport_maps lookup failure");
		goto out;
	}
	if (rc == 0)
		goto out;
	{
		struct buf t2 = BUF_INIT, h2 = BUF_INIT;

		resolve_parse_route(buf_str(&value), &t2, &h2);
		if (t2.len == 0)	/* ":nexthop": the default transport, another next hop */
			buf_adds(&t2, buf_str(&t));
		if (h2.len == 0 && !resolve_text_transport(buf_str(&t2)))
			/* Empty: the default's next hop for SMTP (relayhost), else the domain. */
			buf_adds(&h2, smtp_like(&t2) && r->class == RESOLVE_RELAY ? buf_str(&hop) : domain);
		set(r, buf_str(&t2), buf_str(&h2));
		buf_free(&t2);
		buf_free(&h2);
	}
out:
	/* Delivered by local: it needs the local part whatever the domain. */
	if (strcmp(buf_str(&r->transport), "local") == 0 && r->class == RESOLVE_RELAY) {
		const char *addr = buf_str(&r->address), *at = strrchr(addr, '@');
		struct buf lp = BUF_INIT;

		buf_add(&lp, addr, at ? (size_t)(at - addr) : strlen(addr));
		for (size_t i = 0; i < lp.len; i++)
			lp.data[i] = (char)tolower((unsigned char)lp.data[i]);
		resolve_split_extension(buf_str(&lp), conf->recipient_delimiter, &r->localpart, &r->extension);
		buf_free(&lp);
	}
	buf_free(&t);
	buf_free(&h);
	buf_free(&value);
	buf_free(&hop);
}
