/*
 * smtp_tls_policy.c - which TLS security level the smtp delivery program
 * uses for a next hop: smtp_tls_policy_maps entries in Postfix's syntax
 * ("secure match=nexthop:dot-nexthop protocols=>=TLSv1.2 ciphers=high"),
 * else smtp_tls_security_level; and how DANE degrades when DNSSEC is off
 * or the TLSA records found are not usable (RFC 7672 2.2).
 *
 * Part of smtp/smtp, runs as mail_owner. Table values are untrusted text
 * (a map file anyone with write access to it made): a bad one is an
 * error for the caller to defer on, never a crash (fuzz_smtp_tls_policy).
 */
#include "compat.h"

#include <string.h>
#include <strings.h>

#include "mail/config.h"
#include "mail/tls_proto.h"
#include "smtp/smtp_tls.h"
#include "smtp/smtp_tls_int.h"
#include "util/map.h"
#include "util/mem.h"

static const char *const level_names[] = {
	[SMTP_TLS_NONE] = "none",
	[SMTP_TLS_MAY] = "may",
	[SMTP_TLS_ENCRYPT] = "encrypt",
	[SMTP_TLS_DANE] = "dane",
	[SMTP_TLS_DANE_ONLY] = "dane-only",
	[SMTP_TLS_VERIFY] = "verify",
	[SMTP_TLS_SECURE] = "secure",
};
#define NLEVELS (sizeof(level_names) / sizeof(level_names[0]))

const char *smtp_tls_level_name(enum smtp_tls_level level)
{
	return (unsigned)level < NLEVELS ? level_names[level] : "invalid";
}

static int level_parse(const char *word, size_t len, enum smtp_tls_level *level)
{
	for (size_t i = 0; i < NLEVELS; i++)
		if (strlen(level_names[i]) == len && strncasecmp(level_names[i], word, len) == 0) {
			*level = (enum smtp_tls_level)i;
			return 0;
		}
	return -1;
}

/* Postfix's cipher grades; see smtp_tls.h for what each means to OpenSSL. */
int smtp_tls_grade_ok(const char *grade)
{
	static const char *const grades[] = {"high", "medium", "low", "export", "null"};
	for (size_t i = 0; i < sizeof(grades) / sizeof(grades[0]); i++)
		if (strcasecmp(grade, grades[i]) == 0)
			return 1;
	return 0;
}

void smtp_tls_policy_free(struct smtp_tls_policy *p)
{
	free(p->match);
	free(p->protocols);
	free(p->ciphers);
	p->match = p->protocols = p->ciphers = NULL;
}

/* At most this much of a bad word goes into an error (it came from a table). */
#define SHOW(n) (int)((n) > 60 ? 60 : (n))

int smtp_tls_policy_parse(const char *value, struct smtp_tls_policy *p, struct buf *err)
{
	static const char space[] = " \t\r\n,";
	struct smtp_tls_policy np = {.level = SMTP_TLS_NONE};
	const char *s = value ? value : "";
	bool have_level = false;

	while (*s) {
		s += strspn(s, space);
		size_t n = strcspn(s, space);
		if (n == 0)
			break;
		const char *word = s;
		s += n;
		if (!have_level) {
			if (level_parse(word, n, &np.level) < 0) {
				buf_printf(err, "unknown TLS security level \"%.*s\" (known: none, may, encrypt, "
					   "dane, dane-only, verify, secure)", SHOW(n), word);
				goto fail;
			}
			have_level = true;
			continue;
		}
		const char *eq = memchr(word, '=', n);
		if (eq == NULL || eq == word) {
			buf_printf(err, "TLS policy attribute \"%.*s\" is not name=value", SHOW(n), word);
			goto fail;
		}
		size_t nlen = (size_t)(eq - word);
		const char *val = eq + 1;
		size_t vlen = n - nlen - 1;
		if (vlen == 0) {
			buf_printf(err, "TLS policy attribute \"%.*s\" has an empty value", SHOW(nlen), word);
			goto fail;
		}
		if (nlen == 5 && strncasecmp(word, "match", 5) == 0) {
			/* Names are checked when they are used; repeated match= add up, as in Postfix. */
			if (np.level < SMTP_TLS_DANE) {
				buf_printf(err, "match= does not apply at TLS security level %s",
					   smtp_tls_level_name(np.level));
				goto fail;
			}
			if (np.match == NULL) {
				np.match = xstrndup(val, vlen);
			} else {
				char *m = xasprintf("%s:%.*s", np.match, (int)vlen, val);
				free(np.match);
				np.match = m;
			}
		} else if (nlen == 9 && strncasecmp(word, "protocols", 9) == 0) {
			if (np.protocols != NULL) {
				buf_adds(err, "protocols= given twice");
				goto fail;
			}
			np.protocols = xstrndup(val, vlen);
			unsigned allowed;
			struct buf why = BUF_INIT;
			if (tls_protocols_parse(np.protocols, &allowed, &why) < 0) {
				buf_printf(err, "protocols=: %s", buf_str(&why));
				buf_free(&why);
				goto fail;
			}
			buf_free(&why);
		} else if (nlen == 7 && strncasecmp(word, "ciphers", 7) == 0) {
			if (np.ciphers != NULL) {
				buf_adds(err, "ciphers= given twice");
				goto fail;
			}
			np.ciphers = xstrndup(val, vlen);
			if (!smtp_tls_grade_ok(np.ciphers)) {
				buf_printf(err, "unknown cipher grade \"%.*s\" (known: high, medium, low, export, null)",
					   SHOW(vlen), val);
				goto fail;
			}
		} else {
			buf_printf(err, "unknown TLS policy attribute \"%.*s\" (known: match, protocols, ciphers)",
				   SHOW(nlen), word);
			goto fail;
		}
	}
	if (!have_level) {
		buf_adds(err, "empty TLS policy (a security level is needed)");
		goto fail;
	}
	*p = np;
	return 0;
fail:
	smtp_tls_policy_free(&np);
	return -1;
}

/* smtp_tls_policy_maps, opened on first use and again when a file changes. */
static struct maplist *policy_maps;

void smtp_tls_policy_maps_close(void)
{
	if (policy_maps != NULL)
		maplist_close(policy_maps);
	policy_maps = NULL;
}

/* 1 found (value in out), 0 not, -1 map failure (err). */
static int maps_lookup(const char *key, struct buf *out, struct buf *err)
{
	if (policy_maps != NULL && maplist_changed(policy_maps))
		smtp_tls_policy_maps_close();
	if (policy_maps == NULL) {
		const char *specs = cfg_str(P_smtp_tls_policy_maps);
		if (*specs == '\0')
			return 0;
		struct buf why = BUF_INIT;
		policy_maps = maplist_open(specs, 0, &why);
		if (policy_maps == NULL) {
			buf_printf(err, "smtp_tls_policy_maps: %s", buf_str(&why));
			buf_free(&why);
			return -1;
		}
		buf_free(&why);
	}
	buf_reset(out);
	int rc = maplist_lookup(policy_maps, key, out);
	if (rc < 0)
		buf_printf(err, "smtp_tls_policy_maps lookup of %s: %s", key, maplist_error(policy_maps));
	return rc;
}

/*
 * The keys tried in order: the next hop as written, the domain, then each
 * parent as ".parent". A map failure is an error (the caller defers): a
 * table that says "secure" must not silently become "may".
 */
static int table_lookup(const char *nexthop, const char *domain, struct buf *value, struct buf *key, struct buf *err)
{
	int rc;
	if (nexthop != NULL && *nexthop != '\0') {
		buf_reset(key);
		buf_adds(key, nexthop);
		if ((rc = maps_lookup(buf_str(key), value, err)) != 0)
			return rc;
	}
	if (domain == NULL || *domain == '\0')
		return 0;
	size_t dlen = strlen(domain);
	if (domain[dlen - 1] == '.')
		dlen--;		/* an absolute name is the same domain */
	if (dlen == 0)
		return 0;
	buf_reset(key);
	buf_add(key, domain, dlen);
	if ((nexthop == NULL || strcasecmp(nexthop, buf_str(key)) != 0)
	    && (rc = maps_lookup(buf_str(key), value, err)) != 0)
		return rc;
	for (size_t i = 0; i < dlen; i++) {
		if (domain[i] != '.' || i + 1 >= dlen)
			continue;
		buf_reset(key);
		buf_add(key, domain + i, dlen - i);
		if ((rc = maps_lookup(buf_str(key), value, err)) != 0)
			return rc;
	}
	return 0;
}

int smtp_tls_policy_lookup(const char *nexthop, const char *domain, struct smtp_tls_policy *p, struct buf *err)
{
	struct buf value = BUF_INIT, key = BUF_INIT, why = BUF_INIT;
	int rc = 0;

	*p = (struct smtp_tls_policy){.level = SMTP_TLS_NONE};
	int found = table_lookup(nexthop, domain, &value, &key, err);
	if (found < 0) {
		rc = -1;
	} else if (found > 0) {
		if (smtp_tls_policy_parse(buf_str(&value), p, &why) < 0) {
			buf_printf(err, "smtp_tls_policy_maps entry for %s: %s", buf_str(&key), buf_str(&why));
			rc = -1;
		}
	} else {
		const char *level = cfg_str(P_smtp_tls_security_level);
		if (level_parse(level, strlen(level), &p->level) < 0) {
			/* config_load checked the word; an empty value means Postfix's "none". */
			p->level = *level ? SMTP_TLS_MAY : SMTP_TLS_NONE;
		}
	}
	if (rc == 0 && p->level == SMTP_TLS_DANE && strcmp(cfg_str(P_smtp_dns_support_level), "dnssec") != 0)
		p->level = SMTP_TLS_MAY;	/* as Postfix: no validated TLSA can exist */
	buf_free(&value);
	buf_free(&key);
	buf_free(&why);
	return rc;
}

/* RFC 7672 3.1.3: only DANE-TA(2) and DANE-EE(3) are usable for SMTP. */
static bool tlsa_usable(const struct dns_tlsa *t)
{
	return (t->usage == 2 || t->usage == 3) && t->selector <= 1 && t->mtype <= 2
	       && t->data != NULL && t->len > 0 && (t->mtype != 1 || t->len == 32)
	       && (t->mtype != 2 || t->len == 64);
}

size_t smtp_tls_tlsa_usable(const struct dns_tlsa *tlsa, size_t ntlsa)
{
	size_t n = 0;
	for (size_t i = 0; tlsa != NULL && i < ntlsa; i++)
		n += tlsa_usable(&tlsa[i]);
	return n;
}

bool smtp_tls_tlsa_is_usable(const struct dns_tlsa *t)
{
	return tlsa_usable(t);
}

enum smtp_tls_level smtp_tls_effective_level(enum smtp_tls_level level, const struct dns_tlsa *tlsa, size_t ntlsa)
{
	if (level != SMTP_TLS_DANE)
		return level;
	if (tlsa == NULL || ntlsa == 0)
		return SMTP_TLS_MAY;
	return smtp_tls_tlsa_usable(tlsa, ntlsa) > 0 ? SMTP_TLS_DANE : SMTP_TLS_ENCRYPT;
}
