/*
 * resolve_core.c - address resolution with explicit settings.
 *
 * Mail layer, no privileges, no I/O: the pure part of resolve.h, so that
 * tests can drive it with settings of their own. resolve.c fills the
 * settings from main.cf. No DNS: the next hop of a remote address is a
 * transport_maps entry, the relayhost or the domain itself
 * (resolve_route.c); the smtp program looks up MX records.
 */
#include "compat.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mail/addr.h"
#include "mail/resolve.h"
#include "util/utf8.h"

/*
 * Why a domain that is not ASCII cannot be routed (RFC 6531's code for a
 * non-ASCII address not permitted for that recipient). Tern has no IDNA
 * conversion, so it cannot look a U-label up in DNS; the A-label works.
 */
#define IDN_UNROUTABLE "5.6.7 internationalized domain names are not supported; use the A-label (xn--) form"

void resolved_init(struct resolved *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->address);
	buf_init(&r->localpart);
	buf_init(&r->extension);
	buf_init(&r->domain);
	buf_init(&r->transport);
	buf_init(&r->nexthop);
	r->class = RESOLVE_ERROR;
}

void resolved_free(struct resolved *r)
{
	buf_free(&r->address);
	buf_free(&r->localpart);
	buf_free(&r->extension);
	buf_free(&r->domain);
	buf_free(&r->transport);
	buf_free(&r->nexthop);
}

static void reset(struct resolved *r)
{
	buf_reset(&r->address);
	buf_reset(&r->localpart);
	buf_reset(&r->extension);
	buf_reset(&r->domain);
	buf_reset(&r->transport);
	buf_reset(&r->nexthop);
	r->local_user_known = false;
	r->local_bad_name = false;
	r->class = RESOLVE_ERROR;
}

static void lower(struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		b->data[i] = (char)tolower((unsigned char)b->data[i]);
}

int resolve_domain_listed(const char *domain, char **items)
{
	size_t dlen = strlen(domain);

	while (dlen > 0 && domain[dlen - 1] == '.')
		dlen--;
	for (; items != NULL && *items != NULL; items++) {
		const char *it = *items;
		size_t ilen = strlen(it);

		while (ilen > 0 && it[ilen - 1] == '.')
			ilen--;
		if (ilen == dlen && dlen > 0 && strncasecmp(it, domain, dlen) == 0)
			return 1;
	}
	return 0;
}

int resolve_split_extension(const char *localpart, const char *delims,
    struct buf *base, struct buf *extension)
{
	size_t len = strlen(localpart);
	size_t at;

	buf_reset(base);
	buf_reset(extension);
	if (delims == NULL || *delims == '\0' || (at = strcspn(localpart, delims)) == len
	    || at == 0) {
		buf_adds(base, localpart);
		return 0;
	}
	/* With '-' as delimiter, owner-list and list-request stay whole. */
	if (localpart[at] == '-') {
		if (strncasecmp(localpart, "owner-", 6) == 0
		    || (len > 8 && strcasecmp(localpart + len - 8, "-request") == 0)) {
			buf_adds(base, localpart);
			return 0;
		}
	}
	buf_add(base, localpart, at);
	buf_adds(extension, localpart + at + 1);
	return 1;
}

/*
 * Characters allowed in a domain: letters, digits, '-', '.', or a
 * [literal]; and well-formed UTF-8 (SMTPUTF8), which only a domain of
 * ours can take (see resolve_address_with).
 */
static int domain_ok(const char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > 255)
		return 0;
	if (d[0] == '[')
		return d[n - 1] == ']' && n > 2 && strcspn(d + 1, "[]\\ \t") == n - 2;
	for (const char *p = d; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_'
		    && (unsigned char)*p < 0x80)
			return 0;
	return d[0] != '.' && strstr(d, "..") == NULL && utf8_valid(d, n);
}

static bool ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

bool resolve_domain_not_ascii(const char *address)
{
	const char *at = strrchr(address, '@');
	return at != NULL && !ascii(at + 1);
}

/* Index of the '@' that separates local part and domain, or -1. */
static long find_at(const char *a)
{
	long at = -1;
	int quoted = 0;

	for (long i = 0; a[i]; i++) {
		if (a[i] == '\\' && a[i + 1]) {
			i++;
			continue;
		}
		if (a[i] == '"')
			quoted = !quoted;
		else if (a[i] == '@' && !quoted)
			at = i;
	}
	return quoted ? -2 : at;
}

bool resolve_mailbox_name_ok(const char *name)
{
	return *name != '\0' && *name != '.' && strchr(name, '/') == NULL;
}

static int localpart_ok(const char *lp, size_t n)
{
	if (n == 0 || n > 1024)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)lp[i];
		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * Postfix's local-context rewriting (cleanup does the same), then, as
 * long as the domain is ours (or there is none), the same rewriting of
 * what is left of the local part: user%other@here resolves as
 * user@other, site!user@here as user@site. Each round removes one '%'
 * or '!'; the bound is only a guard.
 */
static void routing(const struct resolve_conf *conf, struct buf *work)
{
	struct addr_rewrite rw = {
		.swap_bangpath = conf->swap_bangpath,
		.percent_hack = conf->percent_hack,
		.mydomain = conf->append_dot_mydomain,
	};
	struct buf out = BUF_INIT, domain = BUF_INIT, local = BUF_INIT;

	addr_rewrite_local(buf_str(work), &rw, &out);
	buf_reset(work);
	buf_add(work, out.data, out.len);
	for (int round = 0; round < 64 && find_at(buf_str(work)) != -2; round++) {
		if (addr_split(buf_str(work), &local, &domain)) {
			lower(&domain);
			while (domain.len > 0 && domain.data[domain.len - 1] == '.')
				buf_truncate(&domain, domain.len - 1);
			if (!resolve_domain_listed(buf_str(&domain), conf->mydestination))
				break;
		}
		addr_rewrite_local(buf_str(&local), &rw, &out);
		if (strcmp(buf_str(&out), buf_str(&local)) == 0)
			break;
		buf_reset(work);
		buf_add(work, out.data, out.len);
	}
	buf_free(&out);
	buf_free(&domain);
	buf_free(&local);
}

int resolve_address_with(const char *address, const struct resolve_conf *conf,
    struct resolved *r)
{
	struct buf work = BUF_INIT;
	const char *a;
	size_t n;
	long at;
	int ret = -1;
	const char *why = NULL;	/* for a well-formed address that cannot be routed */

	reset(r);
	buf_adds(&r->transport, "error");
	/* Strip <...> and a source route (@a,@b:user@c), as Postfix does. */
	a = address;
	while (*a == ' ' || *a == '\t')
		a++;
	n = strlen(a);
	while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t'))
		n--;
	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		a++;
		n -= 2;
	}
	buf_add(&work, a, n);
	if (work.len > 0 && work.data[0] == '@') {
		const char *colon = strchr(buf_str(&work), ':');
		if (colon != NULL)
			buf_consume(&work, (size_t)(colon + 1 - work.data));
	}
	if (work.len == 0 || memchr(work.data, '\0', work.len) != NULL)
		goto out;
	routing(conf, &work);
	at = find_at(buf_str(&work));
	if (at == -2)
		goto out;
	if (at >= 0) {
		if (!localpart_ok(work.data, (size_t)at))
			goto out;
		buf_adds(&r->domain, work.data + at + 1);
		lower(&r->domain);
		while (r->domain.len > 0 && r->domain.data[r->domain.len - 1] == '.')
			buf_truncate(&r->domain, r->domain.len - 1);
		if (!domain_ok(buf_str(&r->domain)))
			goto out;
		buf_add(&r->address, work.data, (size_t)at);
	} else {
		if (!localpart_ok(work.data, work.len))
			goto out;
		buf_add(&r->address, work.data, work.len);
	}
	/* r->address holds the local part for now. */
	if (at < 0 || resolve_domain_listed(buf_str(&r->domain), conf->mydestination)) {
		struct buf lp = BUF_INIT;

		buf_add(&lp, r->address.data, r->address.len);
		lower(&lp);
		resolve_split_extension(buf_str(&lp), conf->recipient_delimiter,
		    &r->localpart, &r->extension);
		if (at < 0) {
			const char *origin = conf->myorigin && *conf->myorigin ? conf->myorigin
			    : "localhost";
			buf_adds(&r->domain, origin);
			lower(&r->domain);
		}
		r->class = RESOLVE_LOCAL;
		buf_reset(&r->transport);
		buf_adds(&r->transport, "local");
		buf_adds(&r->nexthop, buf_str(&r->domain));
		if (conf->local_maildir_base != NULL && *conf->local_maildir_base != '\0') {
			/* Any name is a mailbox there, unless it cannot be a directory name. */
			r->local_user_known = resolve_mailbox_name_ok(buf_str(&r->localpart))
			    || (conf->user_known != NULL && conf->user_known(buf_str(&lp),
				    buf_str(&r->localpart), conf->ctx) > 0);
			r->local_bad_name = !r->local_user_known;
		} else if (conf->user_known == NULL)
			r->local_user_known = true;
		else
			r->local_user_known = conf->user_known(buf_str(&lp),
			    buf_str(&r->localpart), conf->ctx) > 0;
		buf_free(&lp);
	} else if (resolve_domain_listed(buf_str(&r->domain), conf->virtual_alias_domains)) {
		/* cleanup already applied virtual_alias_maps: what is left is unknown. */
		r->class = RESOLVE_VIRTUAL;
		buf_adds(&r->nexthop, "5.1.1 User unknown in virtual alias table");
	} else {
		r->class = RESOLVE_RELAY;
		buf_reset(&r->transport);
		buf_adds(&r->transport, "smtp");
		if (conf->relayhost != NULL && *conf->relayhost != '\0')
			buf_adds(&r->nexthop, conf->relayhost);
		else
			buf_adds(&r->nexthop, buf_str(&r->domain));
	}
	buf_addc(&r->address, '@');
	buf_adds(&r->address, buf_str(&r->domain));
	/* allow_min_user = no: "-x" could pass for an option of a command. */
	if (conf->reject_min_user && r->address.data[0] == '-')
		goto out;
	resolve_route(conf, r);
	/*
	 * Our own domains match byte for byte, U-labels included. A next hop
	 * that is not ASCII (a remote U-label domain, unless a relayhost or
	 * a transport_maps entry sends it to an ASCII host) would need its
	 * A-label for DNS, and Tern has no IDNA: refused here, so that smtpd
	 * refuses it at RCPT and sendmail at once, rather than a bounce later
	 * from a lookup of a name DNS does not have.
	 */
	if ((strcmp(buf_str(&r->transport), "smtp") == 0 || strcmp(buf_str(&r->transport), "relay") == 0)
	    && !ascii(buf_str(&r->nexthop))) {
		why = IDN_UNROUTABLE;
		goto out;
	}
	ret = 0;
out:
	if (ret < 0) {
		reset(r);
		buf_adds(&r->transport, "error");
		if (why != NULL)
			buf_adds(&r->nexthop, why);
	}
	buf_free(&work);
	return ret;
}
