/*
 * smtp_sts.h - MTA-STS (RFC 8461) for the smtp delivery program: the
 * _mta-sts TXT record, the policy file fetched over HTTPS, the cache of
 * policies in $data_directory/mta-sts/, and matching MX host names
 * against a policy.
 *
 * Runs inside smtp(8), as mail_owner, which owns data_directory. The
 * parsers are pure (no I/O, no configuration): they take text from the
 * network and are fuzzed.
 */
#ifndef TERN_SMTP_STS_H
#define TERN_SMTP_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util/buf.h"

enum sts_mode { STS_NONE, STS_TESTING, STS_ENFORCE };

struct sts_policy {
	enum sts_mode mode;
	char **mx;		/* the "mx:" patterns as written, lower case, no trailing dot */
	size_t nmx;
	long max_age;		/* seconds, capped at STS_MAX_AGE_CAP */
	char id[64];		/* the TXT record's id this policy was fetched for */
	time_t fetched;		/* when it was fetched */
};

#define STS_MAX_AGE_CAP 31557600L	/* RFC 8461 3.2: about one year */
#define STS_POLICY_MAX 65536		/* RFC 8461 3.3: body at most 64 KiB */
#define STS_ID_MAX 32			/* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */

/* An all-zero policy (mode STS_NONE). */
#define STS_POLICY_INIT {STS_NONE, NULL, 0, 0, "", 0}

/*
 * One TXT record at _mta-sts.DOMAIN: "v=STSv1; id=20160831085700Z;".
 * Returns 0 with the id (NUL-terminated) in id, or -1 when the record is
 * not a valid STS record (v=STSv1 not first, no id, a bad id, idsize too
 * small). Unknown fields are ignored (RFC 8461 3.1).
 */
int sts_parse_txt(const char *txt, char *id, size_t idsize);

/*
 * The policy file body (len bytes, need not be NUL-terminated), lines
 * ended by LF or CRLF. Fills p (mode, mx, max_age; id and fetched are
 * left alone); returns 0, or -1 with a reason in why (then p holds no
 * allocation). A policy needs version STSv1, mode, max_age, and at least
 * one mx unless mode is none; unknown keys are ignored.
 */
int sts_parse_policy(const char *text, size_t len, struct sts_policy *p, struct buf *why);

/*
 * Whether mx_host (trailing dot allowed, any case) matches one of the
 * policy's mx patterns: exactly, or "*.example.com" matching one more
 * label on the left only (RFC 8461 4.1).
 */
bool sts_mx_matches(const struct sts_policy *p, const char *mx_host);

/* Frees p->mx; p is then STS_NONE with no mx. */
void sts_policy_free(struct sts_policy *p);

/*
 * The policy to apply for domain. txt_records: the TXT records at
 * _mta-sts.DOMAIN (NULL/0 when none or NXDOMAIN). Reads smtp_mta_sts
 * (off: STS_NONE), smtp_tls_CAfile, smtp_connect_timeout and
 * data_directory. A cached policy whose max_age has not run out is used
 * when there is no TXT record, when its id equals the record's, and when
 * a fetch fails. Returns 0 with p->mode STS_NONE when the domain has no
 * policy, 0 with a policy, -1 when a policy could not be fetched and none
 * is cached (why says why; the caller proceeds without STS, RFC 8461 5.1).
 */
int sts_policy_get(const char *domain, char *const *txt_records, size_t ntxt,
    struct sts_policy *p, struct buf *why);

#endif
