/*
 * smtp_sts_cache.c - the MTA-STS policy for a domain (RFC 8461 3.3, 5.1):
 * the policy cache in $data_directory/mta-sts/ and the fetch of
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt with libcurl.
 *
 * Part of smtp(8), which runs as mail_owner and owns data_directory.
 * The cache directory is created mode 0700: a policy someone else could
 * write would let them send our mail to their MX. Each cache file is
 * written to a temporary name, synced and renamed over the old one, so a
 * crash leaves the old policy or the new one, never half of one.
 *
 * Parameters: smtp_mta_sts, smtp_tls_CAfile, smtp_connect_timeout,
 * data_directory.
 */
#include "compat.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/config.h"
#include "smtp_sts.h"
#include "util/log.h"
#include "util/mem.h"

/* RFC 8461 3.3 asks for a timeout; a minute is generous for 64 KiB. */
#define STS_FETCH_TIMEOUT 60L

/*
 * The domain as a cache file name and URL host: lower case, no trailing
 * dot, only letters, digits, hyphens and inner dots, so that it can name
 * neither another directory nor another URL.
 */
static int domain_norm(const char *domain, char *out, size_t size)
{
	size_t len = strlen(domain);

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len >= size || len > 253 || domain[0] == '.' || domain[len - 1] == '.')
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = domain[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    (c == '.' && domain[i - 1] != '.')))
			return -1;
		out[i] = c;
	}
	out[len] = '\0';
	return 0;
}

static void cache_dir(struct buf *path)
{
	buf_printf(path, "%s/mta-sts", cfg_str(P_data_directory));
}

/*
 * Cache file: "id ID\nfetched T\n\n" then the policy text as fetched.
 * The policy is parsed again on reading, so a damaged file is only a
 * missing policy. Returns 0 with the policy, -1 when there is none.
 */
static int cache_read(const char *dom, struct sts_policy *p)
{
	struct buf path = BUF_INIT, data = BUF_INIT, why = BUF_INIT;
	char id[STS_ID_MAX + 1];
	long long fetched;
	int fd, rc = -1;
	const char *body;

	cache_dir(&path);
	buf_printf(&path, "/%s", dom);
	fd = open(buf_str(&path), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (buf_read_fd(&data, fd, STS_POLICY_MAX + 256) < 0) {
		close(fd);
		goto out;
	}
	close(fd);
	/* the header ends at the first empty line; scanf's "\n" would skip more */
	/* NOLINTBEGIN(cert-err34-c): written by cache_write into mail_owner's own directory */
	if ((body = memmem(data.data, data.len, "\n\n", 2)) == NULL ||
	    sscanf(buf_str(&data), "id %32[A-Za-z0-9] fetched %lld", id, &fetched) != 2)
		goto out;
	/* NOLINTEND(cert-err34-c) */
	body += 2;
	if (sts_parse_policy(body, data.len - (size_t)(body - data.data), p, &why) < 0)
		goto out;
	strlcpy(p->id, id, sizeof(p->id));
	p->fetched = (time_t)fetched;
	rc = 0;
out:
	buf_free(&path);
	buf_free(&data);
	buf_free(&why);
	return rc;
}

static bool cache_valid(const struct sts_policy *p, time_t now)
{
	return p->fetched <= now + 60 && now < p->fetched + p->max_age;
}

/* Write the policy text atomically; a failure is logged, not fatal. */
static void cache_write(const char *dom, const struct sts_policy *p,
    const char *text, size_t len)
{
	struct buf dir = BUF_INIT, path = BUF_INIT, tmp = BUF_INIT, data = BUF_INIT;
	const char *what = "write";
	int fd = -1, dfd;

	cache_dir(&dir);
	if (mkdir(buf_str(&dir), 0700) < 0 && errno != EEXIST) {
		msg_warn("MTA-STS cache: mkdir %s: %s", buf_str(&dir), strerror(errno));
		goto out;
	}
	buf_printf(&path, "%s/%s", buf_str(&dir), dom);
	buf_printf(&tmp, "%s/.%s.%ld", buf_str(&dir), dom, (long)getpid());
	buf_printf(&data, "id %s\nfetched %lld\n\n", p->id, (long long)p->fetched);
	buf_add(&data, text, len);
	(void)unlink(buf_str(&tmp));
	fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		what = "create";
		goto fail;
	}
	for (size_t off = 0; off < data.len;) {
		ssize_t w = write(fd, data.data + off, data.len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	what = "fsync";
	if (fsync(fd) < 0)
		goto fail;
	what = "close";
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	what = "rename";
	if (rename(buf_str(&tmp), buf_str(&path)) < 0)
		goto fail;
	/* the rename itself durable, so a crash does not bring back the old id */
	if ((dfd = open(buf_str(&dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	goto out;
fail:
	msg_warn("MTA-STS cache: %s %s: %s", what, buf_str(&tmp), strerror(errno));
	if (fd >= 0)
		close(fd);
	(void)unlink(buf_str(&tmp));
out:
	buf_free(&dir);
	buf_free(&path);
	buf_free(&tmp);
	buf_free(&data);
}

struct body {
	struct buf b;
	bool too_big;
};

static size_t body_write(char *data, size_t size, size_t n, void *ctx)
{
	struct body *body = ctx;
	size_t len = size * n;

	if (body->b.len + len > STS_POLICY_MAX) {
		body->too_big = true;
		return 0;	/* makes curl stop with CURLE_WRITE_ERROR */
	}
	buf_add(&body->b, data, len);
	return len;
}

/* "text/plain", any case, alone or with parameters (charset=utf-8). */
static bool content_type_ok(const char *ct)
{
	if (ct == NULL || strncasecmp(ct, "text/plain", 10) != 0)
		return false;
	ct += 10;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/*
 * GET the policy: HTTPS only, the certificate verified (smtp_tls_CAfile
 * or the system's CAs) for mta-sts.DOMAIN, no redirects, 200 only,
 * text/plain, at most 64 KiB. Returns 0 with the body in out, or -1 with
 * a reason in why.
 */
static int fetch(const char *dom, struct buf *out, struct buf *why)
{
	static bool inited;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct body body = {BUF_INIT, false};
	struct buf url = BUF_INIT;
	const char *cafile = cfg_str(P_smtp_tls_CAfile);
	char *ctype = NULL;
	long code = 0;
	CURLcode rc;
	CURL *c;
	int ret = -1;

	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			buf_adds(why, "libcurl could not be initialised");
			return -1;
		}
		inited = true;
	}
	if ((c = curl_easy_init()) == NULL) {
		buf_adds(why, "libcurl could not be initialised");
		return -1;
	}
	buf_printf(&url, "https://mta-sts.%s/.well-known/mta-sts.txt", dom);
	curl_easy_setopt(c, CURLOPT_URL, buf_str(&url));
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (cafile[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
	/* a proxy from the environment is not ours to trust or use */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)cfg_int(P_smtp_connect_timeout));
	curl_easy_setopt(c, CURLOPT_TIMEOUT, STS_FETCH_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)STS_POLICY_MAX);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "Tern MTA-STS");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

	rc = curl_easy_perform(c);
	if (body.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		buf_printf(why, "%s: policy larger than %d bytes", buf_str(&url), STS_POLICY_MAX);
		goto out;
	}
	if (rc != CURLE_OK) {
		buf_printf(why, "%s: %s", buf_str(&url), errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 300 && code < 400) {
		buf_printf(why, "%s: HTTP %ld redirect refused (RFC 8461 3.3)", buf_str(&url), code);
		goto out;
	}
	if (code != 200) {
		buf_printf(why, "%s: HTTP status %ld", buf_str(&url), code);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	if (!content_type_ok(ctype)) {
		buf_printf(why, "%s: Content-Type \"%.60s\", not text/plain", buf_str(&url),
		    ctype != NULL ? ctype : "");
		goto out;
	}
	buf_add(out, body.b.data, body.b.len);
	ret = 0;
out:
	curl_easy_cleanup(c);
	buf_free(&body.b);
	buf_free(&url);
	return ret;
}

/* Parse what was fetched; a reason names the URL, for the log. */
static int parse_fetched(const char *dom, const struct buf *text, struct sts_policy *p,
    struct buf *why)
{
	struct buf pwhy = BUF_INIT;
	int rc = sts_parse_policy(text->data, text->len, p, &pwhy);

	if (rc < 0)
		buf_printf(why, "https://mta-sts.%s/.well-known/mta-sts.txt: %s", dom, buf_str(&pwhy));
	buf_free(&pwhy);
	return rc;
}

/*
 * RFC 8461 3.1: of the TXT records, those starting "v=STSv1" count; when
 * there is not exactly one or it is invalid, the domain has no record.
 */
static bool txt_id(char *const *txt, size_t ntxt, char *id, size_t idsize)
{
	size_t found = 0;
	bool ok = false;

	for (size_t i = 0; i < ntxt; i++) {
		if (txt[i] == NULL || strncmp(txt[i], "v=STSv1", 7) != 0)
			continue;
		found++;
		ok = sts_parse_txt(txt[i], id, idsize) == 0;
	}
	return found == 1 && ok;
}

int sts_policy_get(const char *domain, char *const *txt_records, size_t ntxt,
    struct sts_policy *p, struct buf *why)
{
	struct sts_policy cached = STS_POLICY_INIT;
	struct buf text = BUF_INIT, fwhy = BUF_INIT;
	char dom[256], id[STS_ID_MAX + 1];
	bool have_txt, have_cache;
	time_t now = time(NULL);
	int rc = 0;

	*p = (struct sts_policy)STS_POLICY_INIT;
	if (!cfg_bool(P_smtp_mta_sts) || domain_norm(domain, dom, sizeof(dom)) < 0)
		return 0;
	have_txt = txt_id(txt_records, ntxt, id, sizeof(id));
	have_cache = cache_read(dom, &cached) == 0 && cache_valid(&cached, now);
	if (!have_cache)
		sts_policy_free(&cached);
	/* no record: a policy still cached applies (RFC 8461 5.1), else none */
	if (!have_txt || (have_cache && strcmp(cached.id, id) == 0)) {
		if (have_cache)
			*p = cached;
		return 0;
	}
	if (fetch(dom, &text, &fwhy) == 0 &&
	    parse_fetched(dom, &text, p, &fwhy) == 0) {
		strlcpy(p->id, id, sizeof(p->id));
		p->fetched = now;
		cache_write(dom, p, text.data, text.len);
		sts_policy_free(&cached);
	} else if (have_cache) {
		/* the new policy is not to be had: the old one holds until it expires */
		buf_printf(why, "%s (using the cached policy id %s)", buf_str(&fwhy), cached.id);
		*p = cached;
	} else {
		buf_add(why, fwhy.data, fwhy.len);
		rc = -1;
	}
	buf_free(&text);
	buf_free(&fwhy);
	return rc;
}
