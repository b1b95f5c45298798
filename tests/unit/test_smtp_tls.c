/*
 * test_smtp_tls.c - Check suite for the SMTP client's TLS
 * (smtp/smtp_tls_policy.c, smtp/smtp_tls.c): table values parsed and
 * refused, the lookup order of smtp_tls_policy_maps, and real handshakes
 * against an OpenSSL server in a forked child on a socketpair, with
 * certificates made here by the openssl command (a test CA, a server
 * certificate for mx.example.test, one for another name, a self-signed
 * one): verify and secure, DANE-EE and DANE-TA, session resumption.
 *
 * The smtp program's files are compiled in here (until smtp/smtp links
 * them, the unit tests link only the libraries). Runs unprivileged in a
 * temporary directory.
 */
#include "compat.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../../smtp/smtp_tls_policy.c"
#include "../../smtp/smtp_tls.c"

/* --- parsing ---------------------------------------------------------------- */

static const struct {
	const char *value;
	int rc;
	enum smtp_tls_level level;
	const char *match, *protocols, *ciphers;	/* when rc is 0 */
	const char *why;				/* part of the reason when rc is -1 */
} parse_cases[] = {
	{"none", 0, SMTP_TLS_NONE, NULL, NULL, NULL, NULL},
	{"may", 0, SMTP_TLS_MAY, NULL, NULL, NULL, NULL},
	{"  ENCRYPT  ", 0, SMTP_TLS_ENCRYPT, NULL, NULL, NULL, NULL},
	{"dane", 0, SMTP_TLS_DANE, NULL, NULL, NULL, NULL},
	{"dane-only", 0, SMTP_TLS_DANE_ONLY, NULL, NULL, NULL, NULL},
	{"verify", 0, SMTP_TLS_VERIFY, NULL, NULL, NULL, NULL},
	{"secure match=example.com:.example.com protocols=>=TLSv1.2", 0, SMTP_TLS_SECURE,
	 "example.com:.example.com", ">=TLSv1.2", NULL, NULL},
	{"secure match=nexthop match=hostname", 0, SMTP_TLS_SECURE, "nexthop:hostname", NULL, NULL, NULL},
	{"encrypt protocols=!SSLv2:!SSLv3 ciphers=high", 0, SMTP_TLS_ENCRYPT, NULL, "!SSLv2:!SSLv3", "high", NULL},
	{"verify, ciphers=MEDIUM", 0, SMTP_TLS_VERIFY, NULL, NULL, "MEDIUM", NULL},
	{"", -1, 0, NULL, NULL, NULL, "empty TLS policy"},
	{"   \t ", -1, 0, NULL, NULL, NULL, "empty TLS policy"},
	{"fingerprint match=AB:CD", -1, 0, NULL, NULL, NULL, "unknown TLS security level \"fingerprint\""},
	{"must", -1, 0, NULL, NULL, NULL, "unknown TLS security level"},
	{"secure match", -1, 0, NULL, NULL, NULL, "not name=value"},
	{"secure =x", -1, 0, NULL, NULL, NULL, "not name=value"},
	{"secure match=", -1, 0, NULL, NULL, NULL, "empty value"},
	{"may match=example.com", -1, 0, NULL, NULL, NULL, "match= does not apply at TLS security level may"},
	{"encrypt protocols=TLSv1.9", -1, 0, NULL, NULL, NULL, "unknown TLS protocol"},
	{"encrypt protocols=<=TLSv1.1", -1, 0, NULL, NULL, NULL, "no TLS protocol left"},
	{"encrypt protocols=TLSv1.2 protocols=TLSv1.3", -1, 0, NULL, NULL, NULL, "given twice"},
	{"encrypt ciphers=strong", -1, 0, NULL, NULL, NULL, "unknown cipher grade"},
	{"encrypt ciphers=high ciphers=high", -1, 0, NULL, NULL, NULL, "given twice"},
	{"verify tafile=/etc/ta.pem", -1, 0, NULL, NULL, NULL, "unknown TLS policy attribute \"tafile\""},
};

START_TEST(test_parse)
{
	struct smtp_tls_policy p = {.level = SMTP_TLS_MAY};
	struct buf err = BUF_INIT;
	const char *v = parse_cases[_i].value;
	int rc = smtp_tls_policy_parse(v, &p, &err);
	ck_assert_msg(rc == parse_cases[_i].rc, "\"%s\": rc %d (%s)", v, rc, buf_str(&err));
	if (rc == 0) {
		ck_assert_int_eq(p.level, parse_cases[_i].level);
		ck_assert_pstr_eq(p.match, parse_cases[_i].match);
		ck_assert_pstr_eq(p.protocols, parse_cases[_i].protocols);
		ck_assert_pstr_eq(p.ciphers, parse_cases[_i].ciphers);
	} else {
		ck_assert_msg(strstr(buf_str(&err), parse_cases[_i].why) != NULL, "\"%s\": %s", v, buf_str(&err));
		ck_assert_ptr_null(p.match);	/* untouched on failure */
		ck_assert_int_eq(p.level, SMTP_TLS_MAY);
	}
	smtp_tls_policy_free(&p);
	buf_free(&err);
}
END_TEST

/* --- lookup order ----------------------------------------------------------- */

static void load(const char *text)
{
	struct buf err = BUF_INIT;
	smtp_tls_policy_maps_close();
	ck_assert_msg(config_load_buffer("main.cf", text, strlen(text), &err) == 0, "%s", buf_str(&err));
	buf_free(&err);
}

static const char lookup_cf[] =
	"smtp_tls_security_level = may\n"
	"smtp_dns_support_level = dnssec\n"
	"smtp_tls_policy_maps = inline:{ [mx.example]:25=secure, [mx.example]=encrypt,"
	" { example.com = verify match=hostname:nexthop }, { .parent.example = dane-only },"
	" { sub.parent.example = dane }, { bad.example = fingerprint }, { .example = none } }\n";

static const struct {
	const char *nexthop, *domain;
	int rc;
	enum smtp_tls_level level;
} lookup_cases[] = {
	{"[mx.example]:25", "mx.example", 0, SMTP_TLS_SECURE},		/* as written, port and all */
	{"[mx.example]", "mx.example", 0, SMTP_TLS_ENCRYPT},
	{"[mx.example]:587", "mx.example", 0, SMTP_TLS_NONE},		/* then the domain's parent .example */
	{"example.com", "example.com", 0, SMTP_TLS_VERIFY},
	{"EXAMPLE.COM.", "EXAMPLE.COM.", 0, SMTP_TLS_VERIFY},
	{NULL, "a.b.parent.example", 0, SMTP_TLS_DANE_ONLY},		/* nearest parent */
	{NULL, "sub.parent.example", 0, SMTP_TLS_DANE},		/* the domain before parents */
	{NULL, "parent.example", 0, SMTP_TLS_NONE},			/* .parent.example is below it */
	{NULL, "other.test", 0, SMTP_TLS_MAY},				/* smtp_tls_security_level */
	{"", "", 0, SMTP_TLS_MAY},
	{NULL, "bad.example", -1, 0},					/* a bad entry defers */
};

START_TEST(test_lookup)
{
	struct smtp_tls_policy p;
	struct buf err = BUF_INIT;
	load(lookup_cf);
	int rc = smtp_tls_policy_lookup(lookup_cases[_i].nexthop, lookup_cases[_i].domain, &p, &err);
	ck_assert_msg(rc == lookup_cases[_i].rc, "%s/%s: rc %d (%s)", lookup_cases[_i].nexthop,
		      lookup_cases[_i].domain, rc, buf_str(&err));
	if (rc == 0)
		ck_assert_msg(p.level == lookup_cases[_i].level, "%s/%s: %s", lookup_cases[_i].nexthop,
			      lookup_cases[_i].domain, smtp_tls_level_name(p.level));
	else
		ck_assert_msg(strstr(buf_str(&err), "smtp_tls_policy_maps entry for bad.example") != NULL, "%s",
			      buf_str(&err));
	if (rc == 0 && lookup_cases[_i].level == SMTP_TLS_VERIFY)
		ck_assert_str_eq(p.match, "hostname:nexthop");
	smtp_tls_policy_free(&p);
	buf_free(&err);
}
END_TEST

/* dane needs DNSSEC, as in Postfix; dane-only stays and fails closed later. */
START_TEST(test_lookup_dane_without_dnssec)
{
	struct smtp_tls_policy p;
	struct buf err = BUF_INIT;
	load("smtp_tls_security_level = dane\nsmtp_dns_support_level = enabled\n"
	     "smtp_tls_policy_maps = inline:{ { strict.example = dane-only } }\n");
	ck_assert_int_eq(smtp_tls_policy_lookup(NULL, "example.org", &p, &err), 0);
	ck_assert_int_eq(p.level, SMTP_TLS_MAY);
	ck_assert_int_eq(smtp_tls_policy_lookup(NULL, "strict.example", &p, &err), 0);
	ck_assert_int_eq(p.level, SMTP_TLS_DANE_ONLY);
	load("smtp_tls_security_level = dane\nsmtp_dns_support_level = dnssec\n");
	ck_assert_int_eq(smtp_tls_policy_lookup(NULL, "example.org", &p, &err), 0);
	ck_assert_int_eq(p.level, SMTP_TLS_DANE);
	smtp_tls_policy_free(&p);
	buf_free(&err);
}
END_TEST

START_TEST(test_effective_level)
{
	unsigned char d32[32] = {1}, d3[3] = {1, 2, 3};
	struct dns_tlsa ee = {3, 1, 1, d32, 32}, pkix = {1, 1, 1, d32, 32}, shortd = {3, 1, 1, d3, 3};
	struct dns_tlsa mixed[2] = {pkix, ee};
	ck_assert_int_eq(smtp_tls_effective_level(SMTP_TLS_DANE, NULL, 0), SMTP_TLS_MAY);
	ck_assert_int_eq(smtp_tls_effective_level(SMTP_TLS_DANE, &pkix, 1), SMTP_TLS_ENCRYPT);
	ck_assert_int_eq(smtp_tls_effective_level(SMTP_TLS_DANE, &shortd, 1), SMTP_TLS_ENCRYPT);
	ck_assert_int_eq(smtp_tls_effective_level(SMTP_TLS_DANE, mixed, 2), SMTP_TLS_DANE);
	ck_assert_int_eq(smtp_tls_effective_level(SMTP_TLS_DANE_ONLY, NULL, 0), SMTP_TLS_DANE_ONLY);
	ck_assert_int_eq(smtp_tls_effective_level(SMTP_TLS_VERIFY, &ee, 1), SMTP_TLS_VERIFY);
}
END_TEST

/* --- handshakes ------------------------------------------------------------- */

static char dir[] = "/tmp/tern-test-smtp-tls.XXXXXX";

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	struct buf cmd = BUF_INIT;
	va_list ap;
	buf_printf(&cmd, "cd '%s' && { ", dir);
	va_start(ap, fmt);
	buf_vprintf(&cmd, fmt, ap);
	va_end(ap);
	buf_adds(&cmd, "; } >openssl.log 2>&1");
	ck_assert_msg(system(buf_str(&cmd)) == 0, "failed: %s", buf_str(&cmd));
	buf_free(&cmd);
}

#define NEWKEY "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

/* A CA-signed certificate NAME.pem (and NAME-chain.pem with the CA) for dns. */
static void signed_cert(const char *name, const char *dns)
{
	run("printf 'subjectAltName=DNS:%s\\nbasicConstraints=CA:FALSE\\n' > %s.ext && "
	    "openssl req " NEWKEY " -keyout %s.key -out %s.csr -subj /CN=%s && "
	    "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 "
	    "-extfile %s.ext -out %s.pem && cat %s.pem ca.pem > %s-chain.pem",
	    dns, name, name, name, dns, name, name, name, name, name);
}

static void make_certs(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	run("openssl req -x509 " NEWKEY " -keyout ca.key -out ca.pem -days 30 -subj '/CN=Tern Test CA' "
	    "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign");
	signed_cert("mx", "mx.example.test");
	signed_cert("wrong", "wrong.example.test");
	run("openssl req -x509 " NEWKEY " -keyout other-ca.key -out other-ca.pem -days 30 -subj '/CN=Other CA' "
	    "-addext basicConstraints=critical,CA:TRUE");
	run("openssl req -x509 " NEWKEY " -keyout self.key -out self.pem -days 30 -subj /CN=mx.example.test "
	    "-addext subjectAltName=DNS:mx.example.test && cp self.pem self-chain.pem");
}

static void remove_certs(void)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
}

static char *path(const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

/* The client's main.cf: the test CA trusted (or not), everything else default. */
static void client_config(bool trust_test_ca)
{
	char *ca = path(trust_test_ca ? "ca.pem" : "other-ca.pem");
	char *text = xasprintf("smtp_tls_CAfile = %s\nsmtp_dns_support_level = dnssec\n", ca);
	smtp_tls_shutdown();
	load(text);
	free(text);
	free(ca);
}

/*
 * The server context with certificate chain NAME-chain.pem, one per name
 * and test, made before fork so that the children share ticket keys (as
 * one server's processes would): what resumption needs.
 */
static struct {
	char name[16];
	SSL_CTX *ctx;
} servers[8];

static void free_servers(void)
{
	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++) {
		SSL_CTX_free(servers[i].ctx);
		servers[i].ctx = NULL;
	}
}

static SSL_CTX *server_ctx(const char *name)
{
	size_t i;
	for (i = 0; i < sizeof(servers) / sizeof(servers[0]) && servers[i].ctx != NULL; i++)
		if (strcmp(servers[i].name, name) == 0)
			return servers[i].ctx;
	ck_assert_uint_lt(i, sizeof(servers) / sizeof(servers[0]));
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	char *chain = xasprintf("%s/%s-chain.pem", dir, name), *key = xasprintf("%s/%s.key", dir, name);
	ck_assert_ptr_nonnull(sctx);
	ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(sctx, chain), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM), 1);
	SSL_CTX_set_session_id_context(sctx, (const unsigned char *)"t", 1);
	free(chain);
	free(key);
	strlcpy(servers[i].name, name, sizeof(servers[i].name));
	servers[i].ctx = sctx;
	return sctx;
}

/* The server side in a child: handshake, read one line, answer it, close. */
static pid_t serve(SSL_CTX *sctx, int fd, int client_fd)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	/* Check's alarm handler would kill the whole test; the client's end must close here too. */
	signal(SIGALRM, SIG_DFL);
	alarm(10);
	close(client_fd);
	SSL *ssl = SSL_new(sctx);
	SSL_set_fd(ssl, fd);
	char line[128];
	if (SSL_accept(ssl) == 1 && SSL_read(ssl, line, sizeof(line)) > 0) {
		SSL_write(ssl, "250 ok\r\n", 8);
		SSL_shutdown(ssl);
	}
	_exit(0);
}

static long long in_ms(long long ms)
{
	return now_ms() + ms;
}

/*
 * One client handshake to a server showing certificate name; on success
 * one line each way (which also delivers TLS 1.3 tickets), then close.
 * Returns whether the handshake succeeded; *info and why are filled.
 */
static bool try_tls(const char *name, const char *host, const char *nexthop, const char *policy,
		    const struct dns_tlsa *tlsa, size_t ntlsa, struct smtp_tls_info *info, struct buf *why)
{
	struct smtp_tls_policy p;
	struct buf err = BUF_INIT;
	int sv[2];
	ck_assert_msg(smtp_tls_policy_parse(policy, &p, &err) == 0, "%s", buf_str(&err));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	SSL_CTX *sctx = server_ctx(name);
	pid_t pid = serve(sctx, sv[1], sv[0]);
	close(sv[1]);
	buf_reset(why);
	SSL *ssl = smtp_tls_connect(sv[0], host, nexthop, &p, tlsa, ntlsa, in_ms(5000), info, why);
	if (ssl != NULL) {
		char line[64];
		ck_assert_int_eq(SSL_write(ssl, "EHLO x\r\n", 8), 8);
		int n = SSL_read(ssl, line, sizeof(line) - 1);
		ck_assert_int_eq(n, 8);
		smtp_tls_close(ssl);
	}
	close(sv[0]);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	smtp_tls_policy_free(&p);
	buf_free(&err);
	return ssl != NULL;
}

#define OK(name, host, nexthop, policy) \
	ck_assert_msg(try_tls(name, host, nexthop, policy, NULL, 0, &info, &why), "%s %s: %s", name, policy, \
		      buf_str(&why))
#define FAILS(name, host, nexthop, policy, text) do { \
	ck_assert_msg(!try_tls(name, host, nexthop, policy, NULL, 0, &info, &why), "%s %s: succeeded", name, \
		      policy); \
	ck_assert_msg(strstr(buf_str(&why), text) != NULL, "%s %s: %s", name, policy, buf_str(&why)); \
} while (0)

START_TEST(test_verify)
{
	struct smtp_tls_info info;
	struct buf why = BUF_INIT;
	client_config(true);
	OK("mx", "mx.example.test", "example.test", "verify");
	ck_assert(info.used && info.verified && !info.dane);
	ck_assert_str_eq(info.trust, "Verified");
	ck_assert_str_eq(info.peer_cn, "mx.example.test");
	ck_assert_msg(strncmp(info.protocol, "TLSv1.", 6) == 0, "%s", info.protocol);
	FAILS("wrong", "mx.example.test", "example.test", "verify", "certificate name mismatch");
	FAILS("self", "mx.example.test", "example.test", "verify", "Server certificate not verified");
	/* The same certificate is not trusted without the test CA. */
	client_config(false);
	FAILS("mx", "mx.example.test", "example.test", "verify", "Server certificate not verified");
	buf_free(&why);
}
END_TEST

START_TEST(test_secure)
{
	struct smtp_tls_info info;
	struct buf why = BUF_INIT;
	client_config(true);
	/* Default match "nexthop, dot-nexthop": mx.example.test is below example.test. */
	OK("mx", "mx.example.test", "example.test", "secure");
	ck_assert_str_eq(info.trust, "Verified");
	/* The MX name alone proves nothing at secure (it came from insecure DNS). */
	FAILS("mx", "mx.example.test", "other.test", "secure", "certificate name mismatch");
	OK("mx", "mx.other.test", "mx.example.test", "secure match=nexthop");
	FAILS("mx", "mx.example.test", "example.test", "secure match=nexthop", "certificate name mismatch");
	OK("mx", "anything", "other.test", "secure match=mx.example.test");
	OK("mx", "anything", "other.test", "secure match=.example.test");
	FAILS("wrong", "mx.example.test", "other.test", "secure", "certificate name mismatch");
	buf_free(&why);
}
END_TEST

/* MTA-STS raised the level: the MX host's name counts, whatever smtp_tls_verify_cert_match says. */
START_TEST(test_from_sts)
{
	struct smtp_tls_policy p = {.level = SMTP_TLS_VERIFY};
	struct smtp_tls_info info;
	struct buf why = BUF_INIT;
	char *ca = path("ca.pem");
	char *text = xasprintf("smtp_tls_CAfile = %s\nsmtp_tls_verify_cert_match = nexthop\n", ca);
	smtp_tls_shutdown();
	load(text);
	FAILS("mx", "mx.example.test", "example.test", "verify", "certificate name mismatch");
	for (int round = 0; round < 2; round++) {
		int sv[2];
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		pid_t pid = serve(server_ctx("mx"), sv[1], sv[0]);
		close(sv[1]);
		p.from_sts = round == 1;
		buf_reset(&why);
		SSL *ssl = smtp_tls_connect(sv[0], "mx.example.test", "example.test", &p, NULL, 0, in_ms(5000), &info,
					    &why);
		ck_assert_msg((ssl != NULL) == p.from_sts, "from_sts %d: %s", p.from_sts, buf_str(&why));
		smtp_tls_close(ssl);
		close(sv[0]);
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	}
	free(ca);
	free(text);
	buf_free(&why);
}
END_TEST

START_TEST(test_may_encrypt)
{
	struct smtp_tls_info info;
	struct buf why = BUF_INIT;
	client_config(true);
	OK("self", "mx.example.test", "example.test", "may");
	ck_assert(info.used && !info.verified);
	ck_assert_str_eq(info.trust, "Untrusted");
	OK("wrong", "mx.example.test", "example.test", "encrypt");
	ck_assert_str_eq(info.trust, "Trusted");
	ck_assert(!info.verified);
	buf_free(&why);
}
END_TEST

/* SHA-256 of the DER of a certificate (selector 0) or its public key (selector 1). */
static unsigned char *digest(const char *pem, int selector)
{
	char *file = path(pem);
	FILE *f = fopen(file, "r");
	ck_assert_ptr_nonnull(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	free(file);
	ck_assert_ptr_nonnull(x);
	unsigned char *der = NULL;
	int len = selector ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : i2d_X509(x, &der);
	ck_assert_int_gt(len, 0);
	unsigned char *md = xmalloc(32);
	unsigned mdlen = 0;
	ck_assert_int_eq(EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL), 1);
	ck_assert_uint_eq(mdlen, 32);
	OPENSSL_free(der);
	X509_free(x);
	return md;
}

START_TEST(test_dane)
{
	struct smtp_tls_info info;
	struct buf why = BUF_INIT;
	/* No CA trusted: DANE alone must decide. */
	client_config(false);
	unsigned char *ee = digest("self.pem", 1), *ta = digest("ca.pem", 0);
	struct dns_tlsa rr = {3, 1, 1, ee, 32};

	/* DANE-EE 3 1 1: the key matches; neither CA nor name is checked (RFC 7672 3.1.1). */
	ck_assert_msg(try_tls("self", "mx.example.test", "example.test", "dane", &rr, 1, &info, &why), "%s",
		      buf_str(&why));
	ck_assert(info.verified && info.dane);
	ck_assert_str_eq(info.trust, "Verified");
	ck_assert_msg(try_tls("self", "other.name.test", "example.test", "dane-only", &rr, 1, &info, &why), "%s",
		      buf_str(&why));
	/* A key that does not match: refused, even though the certificate is fine for its name. */
	ck_assert(!try_tls("mx", "mx.example.test", "example.test", "dane", &rr, 1, &info, &why));
	ck_assert_msg(strstr(buf_str(&why), "TLSA records do not match") != NULL, "%s", buf_str(&why));
	ee[0] ^= 1;
	ck_assert(!try_tls("self", "mx.example.test", "example.test", "dane-only", &rr, 1, &info, &why));
	ck_assert_msg(strstr(buf_str(&why), "TLSA records do not match") != NULL, "%s", buf_str(&why));

	/* DANE-TA 2 0 1: the test CA in the served chain, the name checked against the MX host. */
	struct dns_tlsa tarr = {2, 0, 1, ta, 32};
	ck_assert_msg(try_tls("mx", "mx.example.test", "example.test", "dane", &tarr, 1, &info, &why), "%s",
		      buf_str(&why));
	ck_assert(info.verified && info.dane);
	ck_assert(!try_tls("wrong", "mx.example.test", "example.test", "dane", &tarr, 1, &info, &why));
	ck_assert(!try_tls("self", "mx.example.test", "example.test", "dane", &tarr, 1, &info, &why));

	/* PKIX usages (0, 1) are not usable: dane acts as encrypt, dane-only fails before the handshake. */
	struct dns_tlsa pkix = {1, 1, 1, ee, 32};
	ck_assert_msg(try_tls("self", "mx.example.test", "example.test", "dane", &pkix, 1, &info, &why), "%s",
		      buf_str(&why));
	ck_assert(info.used && !info.verified && !info.dane);
	ck_assert(!try_tls("self", "mx.example.test", "example.test", "dane-only", &pkix, 1, &info, &why));
	ck_assert_msg(strstr(buf_str(&why), "no usable TLSA") != NULL, "%s", buf_str(&why));
	ck_assert(!try_tls("self", "mx.example.test", "example.test", "dane-only", NULL, 0, &info, &why));
	/* The second DANE handshake resumes and still counts as DANE-verified. */
	ck_assert(try_tls("mx", "mx.example.test", "example.test", "dane", &tarr, 1, &info, &why));
	ck_assert(info.resumed && info.dane && info.verified);
	struct buf d = BUF_INIT;
	smtp_tls_describe(&info, &d);
	ck_assert_msg(strstr(buf_str(&d), "Verified TLSv1.") == buf_str(&d) && strstr(buf_str(&d), " by DANE"), "%s",
		      buf_str(&d));
	buf_free(&d);
	free(ee);
	free(ta);
	buf_free(&why);
}
END_TEST

START_TEST(test_resumption)
{
	struct smtp_tls_info info;
	struct buf why = BUF_INIT;
	client_config(true);
	OK("mx", "mx.example.test", "example.test", "verify");
	ck_assert(!info.resumed);
	OK("mx", "mx.example.test", "example.test", "verify");
	ck_assert_msg(info.resumed, "second handshake not resumed");
	ck_assert(info.verified);
	/* Another policy or another host: a new session, never the verified one. */
	OK("mx", "mx.example.test", "example.test", "secure");
	ck_assert(!info.resumed);
	OK("mx", "mx.example.test", "example.test", "may");
	ck_assert(!info.resumed);
	OK("mx", "mx.example.test", "example.test", "may");
	ck_assert(info.resumed);
	struct buf d = BUF_INIT;
	smtp_tls_describe(&info, &d);
	ck_assert_msg(strstr(buf_str(&d), "Trusted TLSv1.") == buf_str(&d) && strstr(buf_str(&d), " resumed"),
		      "%s", buf_str(&d));
	buf_free(&d);
	buf_free(&why);
}
END_TEST

/* A server that never answers: the handshake ends at the deadline. */
START_TEST(test_timeout)
{
	struct smtp_tls_policy p = {.level = SMTP_TLS_ENCRYPT};
	struct smtp_tls_info info;
	struct buf why = BUF_INIT;
	int sv[2];
	client_config(true);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	long long start = now_ms();
	SSL *ssl = smtp_tls_connect(sv[0], "mx.example.test", "example.test", &p, NULL, 0, in_ms(300), &info, &why);
	ck_assert_ptr_null(ssl);
	ck_assert_msg(strstr(buf_str(&why), "timed out") != NULL, "%s", buf_str(&why));
	ck_assert_int_ge(now_ms() - start, 250);
	ck_assert(!info.used);
	close(sv[0]);
	close(sv[1]);
	buf_free(&why);
}
END_TEST

static void teardown(void)
{
	smtp_tls_shutdown();
	free_servers();
}

int main(void)
{
	/* A peer that goes away must not kill the client (smtp ignores SIGPIPE too). */
	signal(SIGPIPE, SIG_IGN);
	Suite *s = suite_create("smtp_tls");
	TCase *tc = tcase_create("policy");
	tcase_add_loop_test(tc, test_parse, 0, sizeof(parse_cases) / sizeof(parse_cases[0]));
	tcase_add_loop_test(tc, test_lookup, 0, sizeof(lookup_cases) / sizeof(lookup_cases[0]));
	tcase_add_test(tc, test_lookup_dane_without_dnssec);
	tcase_add_test(tc, test_effective_level);
	tcase_add_checked_fixture(tc, NULL, teardown);
	suite_add_tcase(s, tc);
	tc = tcase_create("handshake");
	tcase_add_unchecked_fixture(tc, make_certs, remove_certs);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_verify);
	tcase_add_test(tc, test_secure);
	tcase_add_test(tc, test_may_encrypt);
	tcase_add_test(tc, test_from_sts);
	tcase_add_test(tc, test_dane);
	tcase_add_test(tc, test_resumption);
	tcase_add_test(tc, test_timeout);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
