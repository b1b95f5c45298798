/*
 * smtp_policy.c - Postfix-style SMTP access restrictions for smtpd
 * (see smtp_policy.h).
 *
 * Mail layer. Runs in smtpd as mail_owner. Decisions, in order, for each
 * recipient: smtpd_client_restrictions, smtpd_helo_restrictions,
 * smtpd_sender_restrictions, smtpd_relay_restrictions,
 * smtpd_recipient_restrictions (a "permit" ends only its own list, a
 * rejection ends everything), then reject_unlisted_recipient when
 * smtpd_reject_unlisted_recipient = yes. With smtpd_delay_reject = no
 * the first three lists run earlier instead, as in Postfix: the client's
 * at connect, HELO's at HELO/EHLO, the sender's at MAIL FROM. A restriction Tern does not know
 * is a configuration error answered with 451 4.3.5, never a silent pass.
 * check_policy_service asks a policy server; its answer, like an access
 * map's, is an access(5) action. DEFER_IF_PERMIT and DEFER_IF_REJECT
 * are kept until the evaluation ends, PREPEND lines go back to the
 * caller with the acceptance.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/dns.h"
#include "mail/domain_list.h"
#include "mail/resolve.h"
#include "mail/smtp_policy.h"
#include "util/cidr.h"
#include "util/log.h"
#include "util/map.h"
#include "util/mem.h"

enum rkind {
	R_PERMIT,
	R_REJECT,
	R_DEFER,
	R_PERMIT_MYNETWORKS,
	R_PERMIT_SASL,
	R_REJECT_UNAUTH_DEST,
	R_DEFER_UNAUTH_DEST,
	R_PERMIT_AUTH_DEST,
	R_REJECT_UNKNOWN_RCPT_DOMAIN,
	R_REJECT_NON_FQDN_SENDER,
	R_REJECT_NON_FQDN_RCPT,
	R_REJECT_NON_FQDN_HELO,
	R_REJECT_UNLISTED_RCPT,
	R_CHECK_CLIENT,
	R_CHECK_HELO,
	R_CHECK_SENDER,
	R_CHECK_RCPT,
	R_REJECT_MULTI_RCPT_BOUNCE,
	R_REJECT_UNLISTED_SENDER,
	R_REJECT_UNKNOWN_SENDER_DOMAIN,
	R_CHECK_POLICY,		/* check_policy_service */
	R_NOOP,			/* reject_unauth_pipelining: the engine does it always */
};

enum rarg { A_NONE, A_MAP, A_POLICY };

static const struct {
	const char *name;
	enum rkind kind;
	enum rarg arg;
} rnames[] = {
	{"permit", R_PERMIT, A_NONE},
	{"reject", R_REJECT, A_NONE},
	{"defer", R_DEFER, A_NONE},
	{"permit_mynetworks", R_PERMIT_MYNETWORKS, A_NONE},
	{"permit_sasl_authenticated", R_PERMIT_SASL, A_NONE},
	{"reject_unauth_destination", R_REJECT_UNAUTH_DEST, A_NONE},
	{"defer_unauth_destination", R_DEFER_UNAUTH_DEST, A_NONE},
	{"permit_auth_destination", R_PERMIT_AUTH_DEST, A_NONE},
	{"reject_unknown_recipient_domain", R_REJECT_UNKNOWN_RCPT_DOMAIN, A_NONE},
	{"reject_non_fqdn_sender", R_REJECT_NON_FQDN_SENDER, A_NONE},
	{"reject_non_fqdn_recipient", R_REJECT_NON_FQDN_RCPT, A_NONE},
	{"reject_non_fqdn_helo_hostname", R_REJECT_NON_FQDN_HELO, A_NONE},
	{"reject_unlisted_recipient", R_REJECT_UNLISTED_RCPT, A_NONE},
	{"check_client_access", R_CHECK_CLIENT, A_MAP},
	{"check_helo_access", R_CHECK_HELO, A_MAP},
	{"check_sender_access", R_CHECK_SENDER, A_MAP},
	{"check_recipient_access", R_CHECK_RCPT, A_MAP},
	{"reject_multi_recipient_bounce", R_REJECT_MULTI_RCPT_BOUNCE, A_NONE},
	{"reject_unlisted_sender", R_REJECT_UNLISTED_SENDER, A_NONE},
	{"reject_unknown_sender_domain", R_REJECT_UNKNOWN_SENDER_DOMAIN, A_NONE},
	{"check_policy_service", R_CHECK_POLICY, A_POLICY},
	/* smtpd refuses a malformed HELO name itself (501), before any restriction. */
	{"reject_invalid_helo_hostname", R_NOOP, A_NONE},
	{"reject_unauth_pipelining", R_NOOP, A_NONE},
};

struct restriction {
	enum rkind kind;
	struct map *map;
	const char *name;
	struct policy_target *svc;	/* check_policy_service */
	int key;			/* list and position, to find a policy answer */
};

struct rlist {
	const char *param;
	struct restriction *r;
	size_t n;
};

enum { CL_CLIENT, CL_HELO, CL_SENDER, CL_RELAY, CL_RCPT, CL_DATA, CL_EOD, CL_COUNT };

static const char *class_params[CL_COUNT] = {
	P_smtpd_client_restrictions, P_smtpd_helo_restrictions, P_smtpd_sender_restrictions,
	P_smtpd_relay_restrictions, P_smtpd_recipient_restrictions,
	P_smtpd_data_restrictions, P_smtpd_end_of_data_restrictions,
};

struct smtp_policy {
	struct cidr_list mynetworks;
	struct rlist lists[CL_COUNT];
	struct maplist *virtual_maps;
	struct domain_list *relay_domains;	/* relay_domains: accepted from anyone, sent on */
	struct maplist *relay_rcpt_maps;	/* relay_recipient_maps; NULL: anyone there */
	int local_rcpt_code;		/* unknown_local_recipient_reject_code */
	bool reject_unlisted;
	bool reject_unlisted_sender;	/* smtpd_reject_unlisted_sender */
	bool delay_reject;
};

/* What a restriction is judged on. */
struct subject {
	const struct smtp_session_info *si;
	const char *rcpt;
	size_t nrcpt;		/* accepted recipients, at DATA and end of data */
	const char *state;	/* protocol_state for policy servers: RCPT, MAIL, ... */
	/* DNS answers known so far; NULL: look domains up here and now. */
	struct smtp_policy_dns *dns;
	/* Results that do not end the evaluation (owned by the caller). */
	struct buf *prepend;	/* PREPEND header lines */
	struct buf *dip;	/* DEFER_IF_PERMIT: the deferral, if nothing rejects */
	struct buf *dir;	/* DEFER_IF_REJECT: what a later rejection becomes */
};

/* RES_PENDING: a DNS answer is missing (s->dns->need names the domain). */
enum result { RES_DUNNO, RES_PERMIT, RES_REJECT, RES_PENDING };

static size_t find_rname(const char *word)
{
	size_t k;
	for (k = 0; k < sizeof(rnames) / sizeof(rnames[0]); k++)
		if (strcasecmp(word, rnames[k].name) == 0)
			break;
	return k;
}

bool smtp_policy_is_list(const char *name)
{
	for (int c = 0; c < CL_COUNT; c++)
		if (strcmp(name, class_params[c]) == 0)
			return true;
	return false;
}

/* The settings of check_policy_service from main.cf (per-service ones override them). */
static void policy_defaults(struct policy_target *t)
{
	memset(t, 0, sizeof(*t));
	t->timeout_s = (unsigned)cfg_int(P_smtpd_policy_service_timeout);
	t->max_idle_s = (unsigned)cfg_int(P_smtpd_policy_service_max_idle);
	t->max_ttl_s = (unsigned)cfg_int(P_smtpd_policy_service_max_ttl);
	t->retry_delay_s = (unsigned)cfg_int(P_smtpd_policy_service_retry_delay);
	t->try_limit = (unsigned)cfg_int(P_smtpd_policy_service_try_limit);
	t->request_limit = (unsigned)cfg_int(P_smtpd_policy_service_request_limit);
	strlcpy(t->default_action, cfg_str(P_smtpd_policy_service_default_action), sizeof(t->default_action));
	strlcpy(t->context, cfg_str(P_smtpd_policy_service_policy_context), sizeof(t->context));
}

static const char *queue_dir(void)
{
	return cfg_str(P_queue_directory);
}

int smtp_policy_list_check(const char *param, const char *value, struct buf *err)
{
	char **items = config_split_list(value);
	int rc = 0;
	for (size_t i = 0; items[i] != NULL && rc == 0; i++) {
		size_t k = find_rname(items[i]);
		if (k == sizeof(rnames) / sizeof(rnames[0])) {
			buf_printf(err, "%s: unknown restriction \"%s\"", param, items[i]);
			rc = -1;
			break;
		}
		if (rnames[k].arg == A_NONE)
			continue;
		const char *arg = items[i + 1];
		if (arg == NULL || find_rname(arg) < sizeof(rnames) / sizeof(rnames[0])) {
			buf_printf(err, "%s: %s needs %s", param, items[i],
					rnames[k].arg == A_MAP ? "a type:table argument"
							       : "a policy server (inet:host:port or unix:pathname)");
			rc = -1;
			break;
		}
		i++;
		if (rnames[k].arg == A_MAP) {
			const char *colon = strchr(arg, ':');
			if (colon == NULL || colon == arg || colon[1] == '\0') {
				buf_printf(err, "%s: %s \"%s\": expected type:table", param, items[i - 1], arg);
				rc = -1;
			} else if (!config_map_type_known(arg, (size_t)(colon - arg))) {
				buf_printf(err, "%s: %s \"%s\": unknown table type \"%.*s\" (known: hash, btree, "
						"texthash, regexp, inline, static)", param, items[i - 1], arg,
						(int)(colon - arg), arg);
				rc = -1;
			}
		} else {
			struct policy_target t;
			struct buf why = BUF_INIT;
			policy_defaults(&t);
			if (policy_target_parse(arg, queue_dir(), &t, &why) < 0) {
				buf_printf(err, "%s: check_policy_service %s", param, buf_str(&why));
				rc = -1;
			}
			buf_free(&why);
		}
	}
	config_free_list(items);
	return rc;
}

static int compile(struct smtp_policy *p, int cls, struct buf *err)
{
	struct rlist *l = &p->lists[cls];
	l->param = class_params[cls];
	if (smtp_policy_list_check(l->param, cfg_str(l->param), err) < 0)
		return -1;
	char **items = cfg_list(l->param);
	for (size_t i = 0; items != NULL && items[i] != NULL; i++) {
		size_t k = find_rname(items[i]);
		l->r = xreallocarray(l->r, l->n + 1, sizeof(*l->r));
		struct restriction *r = &l->r[l->n];
		r->kind = rnames[k].kind;
		r->name = rnames[k].name;
		r->map = NULL;
		r->svc = NULL;
		r->key = cls * 1000 + (int)l->n;
		l->n++;
		if (rnames[k].arg == A_MAP) {
			struct buf merr = BUF_INIT;
			r->map = map_open(items[++i], 0, &merr);
			if (r->map == NULL) {
				buf_printf(err, "%s: %s %s: %s", l->param, r->name, items[i], buf_str(&merr));
				buf_free(&merr);
				return -1;
			}
			buf_free(&merr);
		} else if (rnames[k].arg == A_POLICY) {
			/*
			 * These stages cannot wait for an answer: a round trip
			 * there would stall every session of the event loop.
			 */
			if (cls == CL_DATA || cls == CL_EOD || (cls == CL_CLIENT && !p->delay_reject)) {
				buf_printf(err, "%s: check_policy_service is not supported here%s (use it in "
						"smtpd_recipient_restrictions)", l->param,
						cls == CL_CLIENT ? " with smtpd_delay_reject = no" : "");
				return -1;
			}
			r->svc = xmalloc(sizeof(*r->svc));
			policy_defaults(r->svc);
			struct buf why = BUF_INIT;
			if (policy_target_parse(items[++i], queue_dir(), r->svc, &why) < 0) {
				buf_printf(err, "%s: check_policy_service %s", l->param, buf_str(&why));
				buf_free(&why);
				return -1;
			}
			buf_free(&why);
		}
	}
	return 0;
}

/* relay_domains and relay_recipient_maps; -1 with one line in err. */
static int open_relay_tables(struct smtp_policy *p, struct buf *err)
{
	struct buf merr = BUF_INIT;
	int rc = 0;
	p->relay_domains = domain_list_open(cfg_str(P_relay_domains), &merr);
	if (p->relay_domains == NULL) {
		buf_printf(err, "relay_domains: %s", buf_str(&merr));
		rc = -1;
	}
	if (rc == 0 && *cfg_str(P_relay_recipient_maps) != '\0') {
		p->relay_rcpt_maps = maplist_open(cfg_str(P_relay_recipient_maps), 0, &merr);
		if (p->relay_rcpt_maps == NULL) {
			buf_printf(err, "relay_recipient_maps: %s", buf_str(&merr));
			rc = -1;
		}
	}
	buf_free(&merr);
	return rc;
}

/* Prefix err with "main.cf:LINE: " when main.cf sets the parameter it is about. */
static void locate_error(const char *param, struct buf *err)
{
	unsigned line = param != NULL ? cfg_line(param) : 0;
	if (line == 0 || config_file() == NULL)
		return;
	struct buf located = BUF_INIT;
	buf_printf(&located, "%s:%u: %s", config_file(), line, buf_str(err));
	buf_reset(err);
	buf_adds(err, buf_str(&located));
	buf_free(&located);
}

/*
 * The process's DNS context (lib/mail/dns.h), pointed at
 * smtpd_dns_servers when set. Made once: the DNS workers use it from
 * their threads, so it is never replaced under them; a policy built
 * again (a table rebuilt) reads the same main.cf, and a reload starts
 * new smtpd processes. smtpd_dns_servers is checked every time.
 */
static int policy_dns_init(struct buf *err)
{
	struct sockaddr_in sin[SMTP_POLICY_DNS_SERVERS];
	struct buf servers = BUF_INIT;
	size_t n;
	int r = 0;

	if (smtp_policy_dns_servers(cfg_str(P_smtpd_dns_servers), sin, &n, err) < 0)
		return -1;
	if (dns_ready())
		return 0;
	for (size_t i = 0; i < n; i++) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &sin[i].sin_addr, a, sizeof(a));
		buf_printf(&servers, "%s%s@%u", i ? " " : "", a, (unsigned)ntohs(sin[i].sin_port));
	}
	struct dns_conf c = {.dnssec = false, .trust_anchor_file = NULL,
		.servers = n > 0 ? buf_str(&servers) : NULL};
	struct buf derr = BUF_INIT;
	if (dns_init(&c, &derr) < 0) {
		buf_printf(err, "smtpd_dns_servers: %s", buf_str(&derr));
		r = -1;
	}
	buf_free(&derr);
	buf_free(&servers);
	return r;
}

struct smtp_policy *smtp_policy_new(struct buf *err)
{
	struct smtp_policy *p = xcalloc(1, sizeof(*p));
	struct buf nerr = BUF_INIT;

	if (cidr_list_add(&p->mynetworks, cfg_list(P_mynetworks), &nerr) > 0) {
		buf_printf(err, "mynetworks: %s", buf_str(&nerr));
		locate_error(P_mynetworks, err);
		buf_free(&nerr);
		smtp_policy_free(p);
		return NULL;
	}
	buf_free(&nerr);
	if (policy_dns_init(err) < 0) {
		locate_error(P_smtpd_dns_servers, err);
		smtp_policy_free(p);
		return NULL;
	}
	p->delay_reject = cfg_bool(P_smtpd_delay_reject);
	for (int c = 0; c < CL_COUNT; c++) {
		if (compile(p, c, err) < 0) {
			locate_error(class_params[c], err);
			smtp_policy_free(p);
			return NULL;
		}
	}
	p->reject_unlisted = cfg_bool(P_smtpd_reject_unlisted_recipient);
	p->reject_unlisted_sender = cfg_bool(P_smtpd_reject_unlisted_sender);
	if (*cfg_str(P_virtual_alias_maps) != '\0') {
		struct buf merr = BUF_INIT;
		p->virtual_maps = maplist_open(cfg_str(P_virtual_alias_maps), 0, &merr);
		if (p->virtual_maps == NULL) {
			buf_printf(err, "virtual_alias_maps: %s", buf_str(&merr));
			locate_error(P_virtual_alias_maps, err);
			buf_free(&merr);
			smtp_policy_free(p);
			return NULL;
		}
		buf_free(&merr);
	}
	if (open_relay_tables(p, err) < 0) {
		smtp_policy_free(p);
		return NULL;
	}
	p->local_rcpt_code = (int)cfg_int(P_unknown_local_recipient_reject_code);
	return p;
}

void smtp_policy_free(struct smtp_policy *p)
{
	if (p == NULL)
		return;
	cidr_list_free(&p->mynetworks);
	for (int c = 0; c < CL_COUNT; c++) {
		for (size_t i = 0; i < p->lists[c].n; i++) {
			if (p->lists[c].r[i].map != NULL)
				map_close(p->lists[c].r[i].map);
			free(p->lists[c].r[i].svc);
		}
		free(p->lists[c].r);
	}
	if (p->virtual_maps != NULL)
		maplist_close(p->virtual_maps);
	domain_list_free(p->relay_domains);
	if (p->relay_rcpt_maps != NULL)
		maplist_close(p->relay_rcpt_maps);
	free(p);
}

bool smtp_policy_changed(const struct smtp_policy *p)
{
	for (int c = 0; c < CL_COUNT; c++)
		for (size_t i = 0; i < p->lists[c].n; i++)
			if (p->lists[c].r[i].map != NULL && map_changed(p->lists[c].r[i].map))
				return true;
	if (domain_list_changed(p->relay_domains))
		return true;
	if (p->relay_rcpt_maps != NULL && maplist_changed(p->relay_rcpt_maps))
		return true;
	return p->virtual_maps != NULL && maplist_changed(p->virtual_maps);
}

bool smtp_policy_mynetworks(const struct smtp_policy *p, const char *addr)
{
	return addr != NULL && *addr != '\0' && cidr_list_match(&p->mynetworks, addr);
}

/* The local part and domain of addr (domain "" when there is none). */
static void split_addr(const char *addr, struct buf *local, struct buf *domain)
{
	const char *at = NULL;
	bool quoted = false;
	for (const char *s = addr; *s; s++) {
		if (quoted && *s == '\\' && s[1]) {
			s++;
			continue;
		}
		if (*s == '"')
			quoted = !quoted;
		else if (*s == '@' && !quoted)
			at = s;
	}
	buf_reset(local);
	buf_reset(domain);
	if (at == NULL) {
		buf_adds(local, addr);
		return;
	}
	buf_add(local, addr, (size_t)(at - addr));
	buf_adds(domain, at + 1);
	for (size_t i = 0; i < domain->len; i++)
		domain->data[i] = (char)tolower((unsigned char)domain->data[i]);
}

bool smtp_policy_has_routing(const char *addr)
{
	struct buf local = BUF_INIT, domain = BUF_INIT;
	split_addr(addr, &local, &domain);
	/* Quotes hide nothing: "user@other"@here routes as much as user%other@here. */
	bool routed = strpbrk(buf_str(&local), "@%!") != NULL;
	buf_free(&local);
	buf_free(&domain);
	return routed;
}

/* Is rcpt one of our final destinations (local or virtual), reachable without relaying? */
static bool final_destination(const char *rcpt)
{
	struct resolved r;
	resolved_init(&r);
	bool ours = resolve_address(rcpt, &r) == 0
		    && (r.class == RESOLVE_LOCAL || r.class == RESOLVE_VIRTUAL)
		    && !smtp_policy_has_routing(rcpt);
	resolved_free(&r);
	return ours;
}

/*
 * Is domain (of an address that resolved to RESOLVE_RELAY) in
 * relay_domains? 1 yes, 0 no, -1 a table failed (logged).
 */
static int relay_domain(struct smtp_policy *p, const char *domain)
{
	struct buf err = BUF_INIT;
	int rc = domain_list_match(p->relay_domains, domain, &err);
	if (rc < 0)
		msg_warn("relay_domains: %s", buf_str(&err));
	buf_free(&err);
	return rc;
}

/*
 * May mail for rcpt be accepted from anyone (permit_auth_destination,
 * reject_unauth_destination)? Our final destinations, and relay_domains
 * with their subdomains; never an address with routing in its local
 * part (user%other@relay.example would go on elsewhere). 1 yes, 0 no,
 * -1 a table lookup failed.
 */
static int auth_destination(struct smtp_policy *p, const char *rcpt)
{
	if (final_destination(rcpt))
		return 1;
	if (domain_list_empty(p->relay_domains) || smtp_policy_has_routing(rcpt))
		return 0;
	struct resolved r;
	resolved_init(&r);
	int rc = 0;
	if (resolve_address(rcpt, &r) == 0 && r.class == RESOLVE_RELAY && r.domain.len > 0
	    && r.domain.data[0] != '[')
		rc = relay_domain(p, buf_str(&r.domain));
	resolved_free(&r);
	return rc;
}

static const char *class_label(int cls)
{
	switch (cls) {
	case CL_CLIENT:
		return "Client host rejected";
	case CL_HELO:
		return "Helo command rejected";
	case CL_SENDER:
		return "Sender address rejected";
	case CL_DATA:
		return "Data command rejected";
	case CL_EOD:
		return "End-of-data rejected";
	default:
		return "Recipient address rejected";
	}
}

/* "<what>" for the reply of a class: client name[addr], helo, sender or recipient. */
static void class_subject(int cls, const struct subject *s, struct buf *out)
{
	buf_reset(out);
	switch (cls) {
	case CL_CLIENT:
		buf_printf(out, "%s[%s]", s->si->client_name, s->si->client_addr);
		break;
	case CL_HELO:
		buf_adds(out, s->si->helo ? s->si->helo : "");
		break;
	case CL_SENDER:
		buf_adds(out, s->si->sender ? s->si->sender : "");
		break;
	case CL_DATA:
		buf_adds(out, "DATA");
		break;
	case CL_EOD:
		buf_adds(out, "END-OF-MESSAGE");
		break;
	default:
		buf_adds(out, s->rcpt ? s->rcpt : "");
		break;
	}
}

static void set_reply(struct buf *reply, int code, const char *dsn, int cls,
		const struct subject *s, const char *text)
{
	struct buf what = BUF_INIT;
	class_subject(cls, s, &what);
	buf_reset(reply);
	buf_printf(reply, "%d %s <%s>: %s: %s", code, dsn, buf_str(&what), class_label(cls), text);
	buf_free(&what);
}

/* Turn an access map value into a result (Postfix access(5)). */
static enum result access_action(struct smtp_policy *p, int cls, const struct subject *s,
		const char *value, struct buf *reply, int depth);

static enum result eval_one(struct smtp_policy *p, int cls, const struct restriction *r,
		const struct subject *s, struct buf *reply, int depth);

/* Look up keys in order; first hit decides. */
static int lookup_keys(struct map *map, char **keys, size_t n, struct buf *value)
{
	for (size_t i = 0; i < n; i++) {
		if (keys[i] == NULL || *keys[i] == '\0')
			continue;
		int r = map_lookup(map, keys[i], value);
		if (r != 0)
			return r;
	}
	return 0;
}

/* Keys for a domain: itself, then each parent ("a.b.c", "b.c", "c"). */
static size_t domain_keys(const char *domain, char **keys, size_t max)
{
	size_t n = 0;
	const char *d = domain;
	while (d != NULL && *d != '\0' && n < max) {
		keys[n++] = xstrdup(d);
		d = strchr(d, '.');
		if (d != NULL)
			d++;
	}
	return n;
}

static enum result check_access(struct smtp_policy *p, const struct restriction *r,
		const struct subject *s, struct buf *reply, int depth)
{
	char *keys[40] = {0};
	size_t n = 0;
	struct buf value = BUF_INIT, local = BUF_INIT, domain = BUF_INIT;
	enum result res = RES_DUNNO;
	const char *addr = NULL;
	/* A pattern table (regexp:) sees whole keys only, as in Postfix: no parents, no prefixes. */
	int whole = map_is_pattern(r->map);
	size_t parents = whole ? 1 : 20;

	switch (r->kind) {
	case R_CHECK_CLIENT: {
		const char *ip = s->si->client_addr;
		/* As Postfix: the name and its parent domains first, then the address. */
		if (strcmp(s->si->client_name, "unknown") != 0)
			n += domain_keys(s->si->client_name, keys + n, parents);
		keys[n++] = xstrdup(ip);
		/* Postfix's IPv4 network keys: 1.2.3.4, 1.2.3, 1.2, 1. */
		if (strchr(ip, ':') == NULL && !whole) {
			char tmp[64];
			strlcpy(tmp, ip, sizeof(tmp));
			char *dot;
			while ((dot = strrchr(tmp, '.')) != NULL && n < 8) {
				*dot = '\0';
				keys[n++] = xstrdup(tmp);
			}
		}
		break;
	}
	case R_CHECK_HELO:
		if (s->si->helo == NULL)
			goto out;
		n += domain_keys(s->si->helo, keys, parents);
		break;
	case R_CHECK_SENDER:
	case R_CHECK_RCPT:
		addr = r->kind == R_CHECK_SENDER ? s->si->sender : s->rcpt;
		if (addr == NULL)
			goto out;
		if (*addr == '\0') {
			/* The null sender is looked up as smtpd_null_access_lookup_key (<>). */
			keys[n++] = xstrdup("<>");
			break;
		}
		keys[n++] = xstrdup(addr);
		if (whole)
			break;
		split_addr(addr, &local, &domain);
		n += domain_keys(buf_str(&domain), keys + n, 20);
		keys[n++] = xasprintf("%s@", buf_str(&local));
		break;
	default:
		goto out;
	}
	int found = lookup_keys(r->map, keys, n, &value);
	if (found < 0) {
		msg_warn("%s: %s lookup error: %s", r->name, map_name(r->map), map_error(r->map));
		buf_reset(reply);
		buf_adds(reply, "451 4.3.5 Server configuration error");
		res = RES_REJECT;
	} else if (found > 0) {
		/*
		 * As Postfix, the reply names what was looked up ("Sender
		 * address rejected" for check_sender_access), whichever list
		 * the lookup is in.
		 */
		int what = r->kind == R_CHECK_CLIENT ? CL_CLIENT
			   : r->kind == R_CHECK_HELO ? CL_HELO
			   : r->kind == R_CHECK_SENDER ? CL_SENDER : CL_RCPT;
		res = access_action(p, what, s, buf_str(&value), reply, depth + 1);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	buf_free(&value);
	buf_free(&local);
	buf_free(&domain);
	return res;
}

/*
 * "4.2.0 text" -> dsn "4.2.0", text "text" when the code's class is
 * digit; else dsn def and the text as it is.
 */
static const char *split_dsn(const char *text, char digit, const char *def, char *dsn, size_t dsz)
{
	size_t dl = strcspn(text, " \t");
	if (dl >= 5 && dl < dsz && text[0] == digit && text[1] == '.' && isdigit((unsigned char)text[2])
	    && strspn(text + 2, "0123456789.") == dl - 2) {
		memcpy(dsn, text, dl);
		dsn[dl] = '\0';
		text += dl;
		while (*text == ' ' || *text == '\t')
			text++;
		return text;
	}
	strlcpy(dsn, def, dsz);
	return text;
}

/* "Name: value" with a header name of printable characters and a printable value. */
static bool header_ok(const char *h)
{
	size_t nl = strcspn(h, ":");
	if (nl == 0 || h[nl] != ':' || strlen(h) > 990)
		return false;
	for (size_t i = 0; h[i] != '\0'; i++) {
		unsigned char c = (unsigned char)h[i];
		if ((i < nl && (c <= ' ' || c >= 127)) || (c < ' ' && c != '\t') || c == 127)
			return false;
	}
	return true;
}

static enum result access_action(struct smtp_policy *p, int cls, const struct subject *s,
		const char *value, struct buf *reply, int depth)
{
	char word[64], dsn[16];
	size_t wl = strcspn(value, " \t");
	const char *text = value + wl;
	while (*text == ' ' || *text == '\t')
		text++;
	if (wl >= sizeof(word))
		wl = sizeof(word) - 1;
	memcpy(word, value, wl);
	word[wl] = '\0';

	if (strcasecmp(word, "OK") == 0 || strcasecmp(word, "PERMIT") == 0
	    || (wl > 0 && strspn(word, "0123456789") == wl && wl != 3))
		return RES_PERMIT;
	if (strcasecmp(word, "DUNNO") == 0)
		return RES_DUNNO;
	if (strcasecmp(word, "REJECT") == 0) {
		const char *t = split_dsn(text, '5', "5.7.1", dsn, sizeof(dsn));
		set_reply(reply, 554, dsn, cls, s, *t ? t : "Access denied");
		return RES_REJECT;
	}
	if (strcasecmp(word, "DEFER") == 0) {
		const char *t = split_dsn(text, '4', "4.7.1", dsn, sizeof(dsn));
		set_reply(reply, 450, dsn, cls, s, *t ? t : "Access denied");
		return RES_REJECT;
	}
	/*
	 * DEFER_IF_PERMIT: defer unless something later rejects (then the
	 * rejection stands); DEFER_IF_REJECT: a later rejection becomes a
	 * deferral. Both let the evaluation go on, as in Postfix.
	 */
	if (strcasecmp(word, "DEFER_IF_PERMIT") == 0 || strcasecmp(word, "DEFER_IF_REJECT") == 0) {
		bool if_permit = word[9] == 'P' || word[9] == 'p';
		struct buf *keep = if_permit ? s->dip : s->dir;
		const char *t = split_dsn(text, '4', "4.7.1", dsn, sizeof(dsn));
		if (keep == NULL) {
			/* Nowhere to wait for the outcome: defer now. */
			set_reply(reply, 450, dsn, cls, s, *t ? t : "Service unavailable");
			return RES_REJECT;
		}
		if (keep->len == 0)
			set_reply(keep, 450, dsn, cls, s, *t ? t : "Service unavailable");
		return RES_DUNNO;
	}
	if (strcasecmp(word, "PREPEND") == 0) {
		if (!header_ok(text)) {
			msg_warn("PREPEND action without a valid header: \"%.200s\"", text);
		} else if (s->prepend == NULL) {
			msg_warn("PREPEND ignored in %s (no message yet or any more)", class_params[cls]);
		} else {
			buf_adds(s->prepend, text);
			buf_addc(s->prepend, '\n');
		}
		return RES_DUNNO;
	}
	if (strcasecmp(word, "WARN") == 0 || strcasecmp(word, "INFO") == 0) {
		if (word[0] == 'W' || word[0] == 'w')
			msg_warn("%s: %s[%s]: %.300s", class_params[cls], s->si->client_name,
					s->si->client_addr, text);
		else
			msg_info("%s: %s[%s]: %.300s", class_params[cls], s->si->client_name,
					s->si->client_addr, text);
		return RES_DUNNO;
	}
	/* "4NN text" or "5NN text", optionally with an enhanced code. */
	if (wl == 3 && (word[0] == '4' || word[0] == '5') && isdigit((unsigned char)word[1])
	    && isdigit((unsigned char)word[2])) {
		const char *t = split_dsn(text, word[0], word[0] == '4' ? "4.7.1" : "5.7.1", dsn, sizeof(dsn));
		/* NOLINTNEXTLINE(cert-err34-c): three digits, checked above */
		set_reply(reply, atoi(word), dsn, cls, s, *t ? t : "Access denied");
		return RES_REJECT;
	}
	/* A restriction name as the result, e.g. "permit_mynetworks". */
	for (size_t k = 0; k < sizeof(rnames) / sizeof(rnames[0]); k++)
		if (rnames[k].arg == A_NONE && strcasecmp(word, rnames[k].name) == 0 && depth < 5) {
			struct restriction r = {.kind = rnames[k].kind, .name = rnames[k].name};
			return eval_one(p, cls, &r, s, reply, depth);
		}
	msg_warn("access map or policy result \"%.100s\" not understood", word);
	buf_reset(reply);
	buf_adds(reply, "451 4.3.5 Server configuration error");
	return RES_REJECT;
}

/* The request of check_policy_service: every attribute Postfix sends that Tern knows. */
static void policy_request(const struct subject *s, const struct policy_target *t, struct buf *req)
{
	const struct smtp_session_info *si = s->si;
	char num[64];
	bool data = strcmp(s->state, "DATA") == 0 || strcmp(s->state, "END-OF-MESSAGE") == 0;

	policy_request_add(req, "request", "smtpd_access_policy");
	policy_request_add(req, "protocol_state", s->state);
	policy_request_add(req, "protocol_name", si->esmtp ? "ESMTP" : "SMTP");
	policy_request_add(req, "helo_name", si->helo);
	policy_request_add(req, "queue_id", "");
	policy_request_add(req, "sender", si->sender);
	policy_request_add(req, "recipient", s->rcpt);
	snprintf(num, sizeof(num), "%zu", data ? s->nrcpt : (size_t)0);
	policy_request_add(req, "recipient_count", num);
	policy_request_add(req, "client_address", si->client_addr);
	policy_request_add(req, "client_name", si->client_name);
	policy_request_add(req, "reverse_client_name", si->client_name);
	/* One value per message transaction of this process (postgrey adds X-Greylist once per instance). */
	snprintf(num, sizeof(num), "%lx.%lx.%x", (unsigned long)getpid(),
			(unsigned long)(uintptr_t)si, si->transaction);
	policy_request_add(req, "instance", num);
	policy_request_add(req, "sasl_method", si->sasl_username ? si->sasl_method : "");
	policy_request_add(req, "sasl_username", si->sasl_username);
	policy_request_add(req, "sasl_sender", "");
	snprintf(num, sizeof(num), "%lld", si->size);
	policy_request_add(req, "size", num);
	policy_request_add(req, "ccert_subject", "");
	policy_request_add(req, "ccert_issuer", "");
	policy_request_add(req, "ccert_fingerprint", "");
	policy_request_add(req, "ccert_pubkey_fingerprint", "");
	policy_request_add(req, "encryption_protocol", si->tls ? si->tls_version : "");
	policy_request_add(req, "encryption_cipher", si->tls ? si->tls_cipher : "");
	if (!si->tls)
		policy_request_add(req, "encryption_keysize", "0");
	policy_request_add(req, "etrn_domain", "");
	policy_request_add(req, "stress", "");
	policy_request_add(req, "policy_context", t->context);
	buf_addc(req, '\n');
}

static enum result check_policy(struct smtp_policy *p, int cls, const struct restriction *r,
		const struct subject *s, struct buf *reply, int depth)
{
	struct buf req = BUF_INIT, got = BUF_INIT, err = BUF_INIT;
	const char *action = NULL;
	enum result res;

	if (s->dns != NULL) {
		struct smtp_policy_dns *d = s->dns;
		for (size_t i = 0; i < d->nanswers; i++)
			if (d->answers[i].key == r->key)
				action = d->answers[i].action;
		if (action == NULL) {
			if (d->nanswers == SMTP_POLICY_SVC_MAX) {
				msg_warn("more than %d check_policy_service per command", SMTP_POLICY_SVC_MAX);
				buf_reset(reply);
				buf_adds(reply, "451 4.3.5 Server configuration error");
				return RES_REJECT;
			}
			/* Asked on a worker thread; the evaluation starts over with the answer. */
			policy_request(s, r->svc, &req);
			free(d->request);
			d->request = buf_steal(&req);
			d->request_key = r->key;
			d->svc = *r->svc;
			return RES_PENDING;
		}
	} else {
		policy_request(s, r->svc, &req);
		if (policy_query(r->svc, buf_str(&req), &got, &err) < 0 || got.len == 0) {
			msg_warn("check_policy_service %s: %s; using \"%s\"", r->svc->endpoint,
					err.len ? buf_str(&err) : "answer without an action", r->svc->default_action);
			buf_reset(&got);
			buf_adds(&got, r->svc->default_action);
		}
		action = buf_str(&got);
	}
	res = access_action(p, cls, s, action, reply, depth + 1);
	buf_free(&req);
	buf_free(&got);
	buf_free(&err);
	return res;
}

static bool fqdn(const char *domain)
{
	return *domain != '\0' && (strchr(domain, '.') != NULL || domain[0] == '[');
}

/*
 * Does the domain exist in the DNS (MX, A or AAAA)? 1 yes, 0 no, -1
 * temporary failure. Through the process's DNS context, which worker
 * threads share (dns_lookup is thread-safe).
 */
static int domain_exists(const char *domain)
{
	static const enum dns_type types[] = {DNS_MX, DNS_A, DNS_AAAA};
	struct dns_answer a;
	bool tempfail = false;
	int result = -2;

	dns_answer_init(&a);
	for (size_t i = 0; i < 3 && result == -2; i++) {
		switch (dns_lookup(domain, types[i], &a)) {
		case DNS_OK:
			result = 1;
			break;
		case DNS_NXDOMAIN:
			result = 0;
			break;
		case DNS_NODATA:
			break;
		case DNS_TEMPFAIL:
		case DNS_BOGUS:
			tempfail = true;
			break;
		}
	}
	dns_answer_free(&a);
	if (result == -2)
		result = tempfail ? -1 : 0;
	return result;
}

void smtp_policy_dns_init(struct smtp_policy_dns *d)
{
	memset(d, 0, sizeof(*d));
}

void smtp_policy_dns_command(struct smtp_policy_dns *d)
{
	free(d->request);
	d->request = NULL;
	d->nanswers = 0;
}

void smtp_policy_dns_release(struct smtp_policy_dns *d)
{
	free(d->request);
	d->request = NULL;
}

/* Ask the policy server of d->request; its action (or the default action) for request_key. */
static void policy_lookup(struct smtp_policy_dns *d)
{
	struct buf action = BUF_INIT, err = BUF_INIT;
	if (policy_query(&d->svc, d->request, &action, &err) < 0 || action.len == 0) {
		msg_warn("check_policy_service %s: %s; using \"%s\"", d->svc.endpoint,
				err.len ? buf_str(&err) : "answer without an action", d->svc.default_action);
		buf_reset(&action);
		buf_adds(&action, d->svc.default_action);
	}
	if (d->nanswers < SMTP_POLICY_SVC_MAX) {
		d->answers[d->nanswers].key = d->request_key;
		strlcpy(d->answers[d->nanswers].action, buf_str(&action), sizeof(d->answers[0].action));
		d->nanswers++;
	}
	free(d->request);
	d->request = NULL;
	buf_free(&action);
	buf_free(&err);
}

void smtp_policy_dns_lookup(struct smtp_policy_dns *d)
{
	if (d->request != NULL) {
		policy_lookup(d);
		return;
	}
	if (d->need[0] == '\0')
		return;
	int e = domain_exists(d->need);
	/* Full (a decision never needs that many): the oldest answer goes. */
	if (d->n == SMTP_POLICY_DNS_MAX) {
		memmove(&d->known[0], &d->known[1], sizeof(d->known[0]) * (SMTP_POLICY_DNS_MAX - 1));
		d->n--;
	}
	strlcpy(d->known[d->n].domain, d->need, sizeof(d->known[d->n].domain));
	d->known[d->n].exists = e;
	d->n++;
	d->need[0] = '\0';
}

int smtp_policy_dns_servers(const char *value, struct sockaddr_in *out, size_t *n, struct buf *err)
{
	char copy[512];
	*n = 0;
	if (value == NULL)
		return 0;
	if (strlcpy(copy, value, sizeof(copy)) >= sizeof(copy)) {
		buf_adds(err, "smtpd_dns_servers: too long");
		return -1;
	}
	char *save = NULL;
	for (char *w = strtok_r(copy, " \t,", &save); w != NULL; w = strtok_r(NULL, " \t,", &save)) {
		unsigned long port = 53;
		char *colon = strchr(w, ':');
		if (colon != NULL) {
			char *end;
			*colon = '\0';
			port = strtoul(colon + 1, &end, 10);
			if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535) {
				buf_printf(err, "smtpd_dns_servers: bad port in \"%s:%s\"", w, colon + 1);
				return -1;
			}
		}
		if (*n == SMTP_POLICY_DNS_SERVERS) {
			buf_printf(err, "smtpd_dns_servers: at most %d servers", SMTP_POLICY_DNS_SERVERS);
			return -1;
		}
		struct sockaddr_in *sin = &out[*n];
		memset(sin, 0, sizeof(*sin));
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, w, &sin->sin_addr) != 1) {
			buf_printf(err, "smtpd_dns_servers: \"%s\" is not an IPv4 address", w);
			return -1;
		}
		(*n)++;
	}
	return 0;
}

/*
 * Does domain exist, for the restriction being evaluated? With a DNS
 * context only from its answers: 2 when the answer is missing (then
 * need names the domain).
 */
static int domain_known(const struct subject *s, const char *domain)
{
	struct smtp_policy_dns *d = s->dns;
	if (d == NULL)
		return domain_exists(domain);
	for (size_t i = 0; i < d->n; i++)
		if (strcasecmp(d->known[i].domain, domain) == 0)
			return d->known[i].exists;
	if (strlen(domain) >= sizeof(d->need))
		return 0;	/* longer than any DNS name */
	strlcpy(d->need, domain, sizeof(d->need));
	return 2;
}

/*
 * relay_recipient_maps for an address in relay_domains: the whole
 * address, the address without its extension (user+tag), then @domain,
 * as Postfix looks them up. 1 listed, 0 not, -1 a table failed (logged).
 */
static int relay_rcpt_listed(struct smtp_policy *p, const struct resolved *r)
{
	struct buf local = BUF_INIT, domain = BUF_INIT, base = BUF_INIT, ext = BUF_INIT;
	struct buf key = BUF_INIT, value = BUF_INIT;
	split_addr(buf_str(&r->address), &local, &domain);
	int rc = maplist_lookup(p->relay_rcpt_maps, buf_str(&r->address), &value);
	if (rc == 0 && resolve_split_extension(buf_str(&local), cfg_str(P_recipient_delimiter), &base, &ext)) {
		buf_printf(&key, "%s@%s", buf_str(&base), buf_str(&domain));
		rc = maplist_lookup(p->relay_rcpt_maps, buf_str(&key), &value);
	}
	if (rc == 0) {
		buf_reset(&key);
		buf_printf(&key, "@%s", buf_str(&domain));
		rc = maplist_lookup(p->relay_rcpt_maps, buf_str(&key), &value);
	}
	if (rc < 0)
		msg_warn("relay_recipient_maps: %s", maplist_error(p->relay_rcpt_maps));
	buf_free(&local);
	buf_free(&domain);
	buf_free(&base);
	buf_free(&ext);
	buf_free(&key);
	buf_free(&value);
	return rc;
}

/* A refusal of an unlisted address: code with the DSN of its class (450 4.1.1, 550 5.1.1). */
static void unlisted_reply(struct buf *reply, int code, const char *dsn, const char *addr,
		const char *label, const char *table)
{
	buf_reset(reply);
	buf_printf(reply, "%d %c%s <%s>: %s: User unknown in %s", code, code / 100 == 4 ? '4' : '5',
		   dsn + 1, addr, label, table);
}

/*
 * The check behind reject_unlisted_recipient (cls CL_RCPT, 5.1.1) and
 * reject_unlisted_sender (CL_SENDER, 5.1.0): true when the address
 * is in one of our domains (local, virtual, or relay_domains with
 * relay_recipient_maps set) but nobody there has it. Unknown local
 * users get unknown_local_recipient_reject_code, the others 550.
 */
static bool unlisted_as(struct smtp_policy *p, const char *rcpt, int cls, struct buf *reply)
{
	const char *label = cls == CL_SENDER ? "Sender address rejected" : "Recipient address rejected";
	const char *dsn = cls == CL_SENDER ? "5.1.0" : "5.1.1";
	struct resolved r;
	struct buf value = BUF_INIT, local = BUF_INIT, domain = BUF_INIT;
	bool refuse = false;

	resolved_init(&r);
	if (resolve_address(rcpt, &r) != 0) {
		resolved_free(&r);
		return false;	/* syntax was checked before; nothing to say here */
	}
	/* An address with a virtual alias is known, whatever its domain. */
	if (p->virtual_maps != NULL) {
		split_addr(buf_str(&r.address), &local, &domain);
		if (maplist_lookup(p->virtual_maps, buf_str(&r.address), &value) > 0)
			goto out;
		struct buf catchall = BUF_INIT;
		buf_printf(&catchall, "@%s", buf_str(&domain));
		int found = r.class == RESOLVE_VIRTUAL
			    && maplist_lookup(p->virtual_maps, buf_str(&catchall), &value) > 0;
		buf_free(&catchall);
		if (found)
			goto out;
	}
	if (r.class == RESOLVE_LOCAL && r.local_bad_name) {
		/* Local delivery would bounce it (resolve_mailbox_name_ok): refuse it now. */
		buf_reset(reply);
		buf_printf(reply, "550 %s <%s>: %s: Bad local part for a mailbox",
			   cls == CL_SENDER ? "5.1.7" : "5.1.3", rcpt, label);
		refuse = true;
	} else if (r.class == RESOLVE_LOCAL && !r.local_user_known) {
		unlisted_reply(reply, p->local_rcpt_code, dsn, rcpt, label, "local recipient table");
		refuse = true;
	} else if (r.class == RESOLVE_VIRTUAL) {
		unlisted_reply(reply, 550, dsn, rcpt, label, "virtual alias table");
		refuse = true;
	} else if (r.class == RESOLVE_RELAY && p->relay_rcpt_maps != NULL && r.domain.len > 0
		   && r.domain.data[0] != '[' && !smtp_policy_has_routing(rcpt)) {
		int in_relay = relay_domain(p, buf_str(&r.domain));
		int listed = in_relay > 0 ? relay_rcpt_listed(p, &r) : 1;
		if (in_relay < 0 || listed < 0) {
			buf_reset(reply);
			buf_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure", rcpt);
			refuse = true;
		} else if (listed == 0) {
			unlisted_reply(reply, 550, dsn, rcpt, label, "relay recipient table");
			refuse = true;
		}
	}
out:
	resolved_free(&r);
	buf_free(&value);
	buf_free(&local);
	buf_free(&domain);
	return refuse;
}

static bool unlisted(struct smtp_policy *p, const char *rcpt, struct buf *reply)
{
	return unlisted_as(p, rcpt, CL_RCPT, reply);
}

/* reject_unlisted_sender; the null sender is never unlisted. */
static bool unlisted_sender(struct smtp_policy *p, const struct subject *s, struct buf *reply)
{
	const char *sender = s->si->sender;
	return sender != NULL && *sender != '\0' && unlisted_as(p, sender, CL_SENDER, reply);
}

static enum result eval_one(struct smtp_policy *p, int cls, const struct restriction *r,
		const struct subject *s, struct buf *reply, int depth)
{
	struct buf local = BUF_INIT, domain = BUF_INIT;
	enum result res = RES_DUNNO;

	switch (r->kind) {
	case R_PERMIT:
		return RES_PERMIT;
	case R_REJECT:
		set_reply(reply, 554, "5.7.1", cls, s, "Access denied");
		return RES_REJECT;
	case R_DEFER:
		set_reply(reply, 450, "4.7.1", cls, s, "Try again later");
		return RES_REJECT;
	case R_PERMIT_MYNETWORKS:
		return smtp_policy_mynetworks(p, s->si->client_addr) ? RES_PERMIT : RES_DUNNO;
	case R_PERMIT_SASL:
		return s->si->sasl_username != NULL ? RES_PERMIT : RES_DUNNO;
	case R_PERMIT_AUTH_DEST:
	case R_REJECT_UNAUTH_DEST:
	case R_DEFER_UNAUTH_DEST: {
		if (s->rcpt == NULL)
			return RES_DUNNO;
		int auth = auth_destination(p, s->rcpt);
		if (auth < 0) {
			buf_reset(reply);
			buf_printf(reply, "451 4.3.0 <%s>: Temporary lookup failure", s->rcpt);
			return RES_REJECT;
		}
		if (r->kind == R_PERMIT_AUTH_DEST)
			return auth ? RES_PERMIT : RES_DUNNO;
		if (auth)
			return RES_DUNNO;
		buf_reset(reply);
		if (r->kind == R_REJECT_UNAUTH_DEST)
			buf_printf(reply, "554 5.7.1 <%s>: Relay access denied", s->rcpt);
		else
			buf_printf(reply, "454 4.7.1 <%s>: Relay access denied", s->rcpt);
		return RES_REJECT;
	}
	case R_REJECT_UNKNOWN_RCPT_DOMAIN:
		/* As in Postfix, relay_domains are looked up too: we are not their final destination. */
		if (s->rcpt == NULL || final_destination(s->rcpt))
			return RES_DUNNO;
		split_addr(s->rcpt, &local, &domain);
		if (domain.len > 0 && domain.data[0] != '[') {
			int e = domain_known(s, buf_str(&domain));
			if (e == 2) {
				res = RES_PENDING;
			} else if (e <= 0) {
				set_reply(reply, 450, "4.1.2", CL_RCPT, s,
						e < 0 ? "Domain not found (temporary DNS failure)" : "Domain not found");
				res = RES_REJECT;
			}
		}
		break;
	case R_REJECT_UNKNOWN_SENDER_DOMAIN:
		/* Postfix's unknown_address_reject_code (450); our own domains need no DNS. */
		if (s->si->sender == NULL || *s->si->sender == '\0' || final_destination(s->si->sender))
			return RES_DUNNO;
		split_addr(s->si->sender, &local, &domain);
		if (domain.len > 0 && domain.data[0] != '[') {
			int e = domain_known(s, buf_str(&domain));
			if (e == 2) {
				res = RES_PENDING;
			} else if (e <= 0) {
				set_reply(reply, 450, "4.1.8", CL_SENDER, s,
						e < 0 ? "Domain not found (temporary DNS failure)" : "Domain not found");
				res = RES_REJECT;
			}
		}
		break;
	case R_REJECT_UNLISTED_SENDER:
		if (unlisted_sender(p, s, reply))
			res = RES_REJECT;
		break;
	case R_REJECT_NON_FQDN_SENDER:
		if (s->si->sender == NULL || *s->si->sender == '\0')
			return RES_DUNNO;
		split_addr(s->si->sender, &local, &domain);
		if (!fqdn(buf_str(&domain))) {
			set_reply(reply, 504, "5.5.2", CL_SENDER, s, "need fully-qualified address");
			res = RES_REJECT;
		}
		break;
	case R_REJECT_NON_FQDN_RCPT:
		if (s->rcpt == NULL)
			return RES_DUNNO;
		split_addr(s->rcpt, &local, &domain);
		if (!fqdn(buf_str(&domain))) {
			set_reply(reply, 504, "5.5.2", CL_RCPT, s, "need fully-qualified address");
			res = RES_REJECT;
		}
		break;
	case R_REJECT_NON_FQDN_HELO:
		if (s->si->helo != NULL && !fqdn(s->si->helo)) {
			set_reply(reply, 504, "5.5.2", CL_HELO, s, "need fully-qualified hostname");
			res = RES_REJECT;
		}
		break;
	case R_REJECT_UNLISTED_RCPT:
		if (s->rcpt != NULL && unlisted(p, s->rcpt, reply))
			res = RES_REJECT;
		break;
	case R_CHECK_CLIENT:
	case R_CHECK_HELO:
	case R_CHECK_SENDER:
	case R_CHECK_RCPT:
		res = check_access(p, r, s, reply, depth);
		break;
	case R_CHECK_POLICY:
		res = check_policy(p, cls, r, s, reply, depth);
		break;
	case R_REJECT_MULTI_RCPT_BOUNCE:
		/* A bounce goes to one recipient; a null sender with more is spam. */
		if (s->si->sender != NULL && *s->si->sender == '\0' && s->nrcpt > 1) {
			set_reply(reply, 550, "5.5.3", cls, s, "Multi-recipient bounce");
			res = RES_REJECT;
		}
		break;
	case R_NOOP:
		break;
	}
	buf_free(&local);
	buf_free(&domain);
	return res;
}

static enum result eval_list(struct smtp_policy *p, int cls, const struct subject *s, struct buf *reply)
{
	const struct rlist *l = &p->lists[cls];
	for (size_t i = 0; i < l->n; i++) {
		enum result r = eval_one(p, cls, &l->r[i], s, reply, 0);
		if (r != RES_DUNNO)
			return r;
	}
	return RES_DUNNO;
}

static enum smtp_verdict verdict(const struct buf *reply)
{
	/* A 421 ends the session, anything else answers this command only. */
	return strncmp(buf_str(reply), "421", 3) == 0 ? SMTP_DISCONNECT : SMTP_REJECT;
}

/* What one evaluation collects besides its reply (see struct subject). */
struct outcome {
	struct buf prepend, dip, dir;
};

static void outcome_start(struct outcome *o, struct subject *s, bool prepends)
{
	buf_init(&o->prepend);
	buf_init(&o->dip);
	buf_init(&o->dir);
	s->prepend = prepends ? &o->prepend : NULL;
	s->dip = &o->dip;
	s->dir = &o->dir;
}

/*
 * The end of an evaluation: a DEFER_IF_PERMIT answers what would have
 * been accepted, a DEFER_IF_REJECT turns a 5xx rejection into its
 * deferral, and an acceptance carries the PREPEND lines in reply.
 */
static enum smtp_verdict outcome_finish(struct outcome *o, enum smtp_verdict v, struct buf *reply)
{
	if (v == SMTP_ACCEPT && o->dip.len > 0) {
		buf_reset(reply);
		buf_adds(reply, buf_str(&o->dip));
		v = SMTP_REJECT;
	} else if (v == SMTP_REJECT && o->dir.len > 0 && buf_str(reply)[0] == '5') {
		buf_reset(reply);
		buf_adds(reply, buf_str(&o->dir));
	}
	if (v == SMTP_ACCEPT) {
		buf_reset(reply);
		buf_adds(reply, buf_str(&o->prepend));
	}
	buf_free(&o->prepend);
	buf_free(&o->dip);
	buf_free(&o->dir);
	return v;
}

enum smtp_verdict smtp_policy_connect(struct smtp_policy *p, const struct smtp_session_info *si,
		struct buf *reply)
{
	struct subject s = {.si = si, .state = "CONNECT"};	/* no DNS context: lookups here and now */
	struct outcome o;
	if (p->delay_reject)
		return SMTP_ACCEPT;
	outcome_start(&o, &s, false);
	enum smtp_verdict v = SMTP_ACCEPT;
	if (eval_list(p, CL_CLIENT, &s, reply) == RES_REJECT)
		v = verdict(reply);
	return outcome_finish(&o, v, reply);
}

/* A list's result as a verdict (SMTP_ACCEPT: go on to the next list). */
static enum smtp_verdict list_verdict(enum result r, struct buf *reply)
{
	if (r == RES_PENDING)
		return SMTP_PENDING;
	if (r == RES_REJECT)
		return verdict(reply);
	return SMTP_ACCEPT;
}

enum smtp_verdict smtp_policy_helo_dns(struct smtp_policy *p, const struct smtp_session_info *si,
		struct smtp_policy_dns *dns, struct buf *reply)
{
	struct subject s = {.si = si, .dns = dns, .state = si->esmtp ? "EHLO" : "HELO"};
	struct outcome o;
	if (p->delay_reject)
		return SMTP_ACCEPT;
	/* Headers belong to a message; a HELO has none yet. */
	outcome_start(&o, &s, false);
	enum smtp_verdict v = list_verdict(eval_list(p, CL_HELO, &s, reply), reply);
	if (v == SMTP_PENDING) {
		outcome_finish(&o, SMTP_REJECT, reply);
		return v;
	}
	return outcome_finish(&o, v, reply);
}

enum smtp_verdict smtp_policy_helo(struct smtp_policy *p, const struct smtp_session_info *si,
		struct buf *reply)
{
	return smtp_policy_helo_dns(p, si, NULL, reply);
}

enum smtp_verdict smtp_policy_mail_dns(struct smtp_policy *p, const struct smtp_session_info *si,
		struct smtp_policy_dns *dns, struct buf *reply)
{
	struct subject s = {.si = si, .dns = dns, .state = "MAIL"};
	struct outcome o;
	if (p->delay_reject) {
		buf_reset(reply);
		return SMTP_ACCEPT;
	}
	outcome_start(&o, &s, true);
	enum smtp_verdict v = list_verdict(eval_list(p, CL_SENDER, &s, reply), reply);
	if (v == SMTP_PENDING) {
		outcome_finish(&o, SMTP_REJECT, reply);
		return v;
	}
	if (v == SMTP_ACCEPT && p->reject_unlisted_sender && unlisted_sender(p, &s, reply))
		v = SMTP_REJECT;
	return outcome_finish(&o, v, reply);
}

enum smtp_verdict smtp_policy_mail(struct smtp_policy *p, const struct smtp_session_info *si,
		struct buf *reply)
{
	return smtp_policy_mail_dns(p, si, NULL, reply);
}

enum smtp_verdict smtp_policy_rcpt(struct smtp_policy *p, const struct smtp_session_info *si,
		const char *rcpt, struct buf *reply)
{
	return smtp_policy_rcpt_dns(p, si, rcpt, NULL, reply);
}

/*
 * A recipient that is well formed (UTF-8 already checked by the engine)
 * but that the resolver cannot route: today a domain that is not ASCII,
 * not one of ours, and not sent to an ASCII next hop (relayhost,
 * transport_maps). Refused before any restriction, as a syntax error
 * is, whatever the restrictions and smtpd_reject_unlisted_recipient say:
 * accepted, it could only bounce, to a sender that may be forged.
 */
static bool unroutable(const char *rcpt, struct buf *reply)
{
	char dsn[16];
	struct buf text = BUF_INIT;
	bool refuse = resolve_unroutable(rcpt, dsn, sizeof(dsn), &text);

	if (refuse) {
		buf_reset(reply);
		buf_printf(reply, "553 %s <%s>: Recipient address rejected: %s", dsn, rcpt, buf_str(&text));
	}
	buf_free(&text);
	return refuse;
}

static enum smtp_verdict rcpt_lists(struct smtp_policy *p, struct subject *s, const char *rcpt,
		struct buf *reply)
{
	if (unroutable(rcpt, reply))
		return SMTP_REJECT;
	/* Without delay, client, HELO and sender were judged at connect, HELO and MAIL. */
	int first = p->delay_reject ? CL_CLIENT : CL_RELAY;
	for (int c = first; c <= CL_RCPT; c++) {
		enum smtp_verdict v = list_verdict(eval_list(p, c, s, reply), reply);
		if (v != SMTP_ACCEPT)
			return v;
		/* smtpd_reject_unlisted_sender goes with the sender restrictions. */
		if (c == CL_SENDER && p->reject_unlisted_sender && unlisted_sender(p, s, reply))
			return SMTP_REJECT;
	}
	if (p->reject_unlisted && unlisted(p, rcpt, reply))
		return SMTP_REJECT;
	return SMTP_ACCEPT;
}

enum smtp_verdict smtp_policy_rcpt_dns(struct smtp_policy *p, const struct smtp_session_info *si,
		const char *rcpt, struct smtp_policy_dns *dns, struct buf *reply)
{
	struct subject s = {.si = si, .rcpt = rcpt, .dns = dns, .state = "RCPT"};
	struct outcome o;
	outcome_start(&o, &s, true);
	enum smtp_verdict v = rcpt_lists(p, &s, rcpt, reply);
	if (v == SMTP_PENDING) {
		outcome_finish(&o, SMTP_REJECT, reply);
		return v;
	}
	return outcome_finish(&o, v, reply);
}

enum smtp_verdict smtp_policy_data(struct smtp_policy *p, const struct smtp_session_info *si,
		size_t nrcpt, bool end, struct buf *reply)
{
	struct subject s = {.si = si, .nrcpt = nrcpt, .state = end ? "END-OF-MESSAGE" : "DATA"};
	struct outcome o;
	outcome_start(&o, &s, false);
	enum smtp_verdict v = SMTP_ACCEPT;
	if (eval_list(p, end ? CL_EOD : CL_DATA, &s, reply) == RES_REJECT)
		v = verdict(reply);
	return outcome_finish(&o, v, reply);
}

void smtp_policy_vrfy(struct smtp_policy *p, const struct smtp_session_info *si,
		const char *addr, struct buf *reply)
{
	(void)si;
	buf_reset(reply);
	if (unroutable(addr, reply) || unlisted(p, addr, reply))
		return;
	/* Like Postfix: 252, the address looks deliverable but is not promised. */
	buf_printf(reply, "252 2.0.0 %s", addr);
}
