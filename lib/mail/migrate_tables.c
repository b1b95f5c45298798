/*
 * migrate_tables.c - tern migrate-sendmail: sendmail's tables (access,
 * virtusertable, mailertable, genericstable, domaintable, relay-domains,
 * trusted-users, aliases, and .db files without a text source) into Tern
 * maps, and the settings that follow from them and from the .mc/.cf
 * (host name, smarthost, masquerading, listeners, mydestination,
 * networks, restrictions).
 *
 * Mail layer; runs as the administrator and only reads the source tree.
 */
#include "compat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/migrate.h"
#include "mail/migrate_int.h"
#include "mail/config.h"
#include "util/map.h"
#include "util/mapsource.h"
#include "util/mem.h"

static const char *const acc_names[MIG_ACC_COUNT] = {
	[MIG_ACC_CLIENT] = "access_client",
	[MIG_ACC_SENDER] = "access_sender",
	[MIG_ACC_RECIPIENT] = "access_recipient",
	[MIG_ACC_RELAY_CLIENT] = "access_relay_client",
	[MIG_ACC_RELAY_RCPT] = "access_relay_recipient",
};

/* ---- listeners ---- */

void mig_daemon_add(struct mig_state *st, const char *opts, const char *file, unsigned line,
		    const char *text)
{
	struct buf why = BUF_INIT;
	if (st->ndaemons == MIG_MAX_DAEMONS) {
		mig_untranslated(st->r, file, line, text, "too many DAEMON_OPTIONS");
		return;
	}
	if (!mig_daemon_options(opts, &st->daemons[st->ndaemons], &why))
		mig_untranslated(st->r, file, line, text, buf_str(&why));
	else
		st->ndaemons++;
	buf_free(&why);
}

static int port_number(const char *p)
{
	if (strcmp(p, "smtp") == 0)
		return 25;
	if (strcmp(p, "submission") == 0)
		return 587;
	if (strcmp(p, "smtps") == 0 || strcmp(p, "submissions") == 0)
		return 465;
	if (p[0] && strspn(p, "0123456789") == strlen(p) && strlen(p) < 6)
		return (int)strtol(p, NULL, 10);	/* at most 5 digits, checked */
	return -1;
}

static void listeners(struct mig_state *st)
{
	if (st->ndaemons == 0)
		return;
	/* One address for every daemon: that is inet_interfaces; else HOST:PORT per service. */
	bool same = true;
	for (size_t i = 1; i < st->ndaemons; i++)
		same = same && strcmp(st->daemons[i].addr, st->daemons[0].addr) == 0;
	const char *a0 = st->daemons[0].addr;
	if (same)
		mig_set(st->r, P_inet_interfaces, a0[0] ? a0 : "all");
	struct buf *m = &st->r->master_cf;
	buf_adds(m, "# service     type    listen  tls       auth      user  procs  command\n");
	for (size_t i = 0; i < st->ndaemons; i++) {
		const struct mig_daemon *d = &st->daemons[i];
		int port = port_number(d->port);
		if (port <= 0 || port > 65535) {
			mig_note(st->r, "DAEMON_OPTIONS Port=%s: not a port Tern knows; not translated", d->port);
			continue;
		}
		const char *name = port == 25 ? "smtp" : port == 587 ? "submission" : port == 465 ? "submissions" : NULL;
		char *listen = same || d->addr[0] == '\0' ? xasprintf("%d", port)
			       : strchr(d->addr, ':') ? xasprintf("[%s]:%d", d->addr, port)
						      : xasprintf("%s:%d", d->addr, port);
		char *svc = name ? xstrdup(name) : xasprintf("smtp%d", port);
		bool auth = d->modifiers && strchr(d->modifiers, 'a') != NULL;
		buf_printf(m, "%-13s inet    %-7s %-9s %-9s -     1      smtpd\n", svc, listen,
			   port == 465 ? "implicit" : "-", auth ? "required" : "-");
		free(listen);
		free(svc);
	}
}

/* ---- settings from the .mc/.cf ---- */

void mig_settings(struct mig_state *st)
{
	struct mig_result *r = st->r;
	if (st->hostname && st->hostname[0])
		mig_set(r, P_myhostname, st->hostname);
	if (st->smarthost && st->smarthost[0]) {
		/* "relay:[host]": sendmail's mailer is Tern's smtp; "[host]" means no MX lookup in both. */
		const char *h = st->smarthost;
		size_t ml = strcspn(h, ":[");
		if (h[ml] == ':')
			h += ml + 1;
		mig_set(r, P_relayhost, h);
		if (h[0] != '[')
			mig_note(r, "relayhost = %s: without brackets Tern looks up its MX records, as sendmail did", h);
	}
	if (st->masquerade && st->masquerade[0]) {
		mig_set(r, P_myorigin, st->masquerade);
		struct buf *c = NULL;
		for (size_t i = 0; i < st->class_w.n; i++) {
			const char *w = st->class_w.v[i];
			if (strcasecmp(w, "localhost") == 0 || strcasecmp(w, st->masquerade) == 0 ||
			    strncasecmp(w, "localhost.", 10) == 0)
				continue;
			c = mig_map(r, "sender_canonical");
			buf_printf(c, "@%s @%s\n", w, st->masquerade);
		}
		st->canonical = c != NULL;
		mig_note(r, "MASQUERADE_AS(%s): myorigin = %s (bare local names get @%s)%s; Tern has no "
			    "masquerade_domains: header recipients (To, Cc) are not rewritten, "
			    "and EXPOSED_USER has no equivalent", st->masquerade, st->masquerade,
			 st->masquerade, c ? ", and sender_canonical_maps rewrites the envelope and "
					      "header senders @<each local host name> to it" : "");
	}
	listeners(st);
}

/* ---- the tables ---- */

struct tab_ctx {
	struct mig_state *st;
	void (*each)(struct mig_state *, const struct mapsrc_entry *);
};

static int tab_entry(void *ctx, const struct mapsrc_entry *e)
{
	struct tab_ctx *t = ctx;
	t->each(t->st, e);
	return 0;
}

static void tab_warn(void *ctx, const char *file, unsigned line, const char *text)
{
	struct tab_ctx *t = ctx;
	mig_untranslated(t->st->r, file, line, "", text);
}

static void shown(const struct mapsrc_entry *e, struct buf *b)
{
	buf_reset(b);
	buf_printf(b, "%s %s", e->key, e->value);
}

/*
 * Read table name from the tree: its text source, or (none) its .db
 * dumped with Tern's map code, said in the notes. 0 when neither exists.
 */
static int read_table(struct mig_state *st, const char *name,
		      void (*each)(struct mig_state *, const struct mapsrc_entry *))
{
	struct tab_ctx t = {.st = st, .each = each};
	struct mapsrc_opts o = {.flags = MAPSRC_NOFOLD, .entry = tab_entry, .warn = tab_warn, .ctx = &t};
	char *path = xasprintf("%s/%s", st->from, name);
	char *db = xasprintf("%s.db", path);
	struct buf err = BUF_INIT, text = BUF_INIT;
	int rc = 0;
	if (access(path, F_OK) == 0) {
		if (mapsrc_read_file(path, &o, &err) < 0)
			mig_note(st->r, "%s: %s", path, buf_str(&err));
		rc = 1;
	} else if (access(db, F_OK) == 0) {
		char *spec = xasprintf("hash:%s", path);
		struct map *m = map_open(spec, 0, &err);
		if (m == NULL)
			mig_note(st->r, "%s has no text source and cannot be read: %s", db, buf_str(&err));
		else {
			struct buf k = BUF_INIT, v = BUF_INIT;
			int r;
			for (r = map_iterate(m, 1, &k, &v); r == 1; r = map_iterate(m, 0, &k, &v))
				buf_printf(&text, "%s %s\n", buf_str(&k), buf_str(&v));
			if (r < 0)
				mig_note(st->r, "%s: %s", db, map_error(m));
			map_close(m);
			buf_free(&k);
			buf_free(&v);
			mig_note(st->r, "%s has no text source: its entries were read from the .db "
				    "(the report's line numbers count them in that order)", db);
			mapsrc_parse(buf_str(&text), text.len, db, &o);
			rc = 1;
		}
		free(spec);
	}
	free(path);
	free(db);
	buf_free(&err);
	buf_free(&text);
	return rc;
}

static void access_each(struct mig_state *st, const struct mapsrc_entry *e)
{
	struct mig_access a;
	struct buf why = BUF_INIT, b = BUF_INIT;
	if (mig_access_entry(e->key, e->value, &a, &why)) {
		for (size_t i = 0; i < a.n; i++) {
			buf_printf(mig_map(st->r, acc_names[a.e[i].map]), "%s %s\n", a.e[i].key, a.e[i].value);
			st->acc_used[a.e[i].map] = true;
		}
		mig_access_free(&a);
	} else {
		shown(e, &b);
		mig_untranslated(st->r, e->file, e->line, buf_str(&b), buf_str(&why));
	}
	buf_free(&why);
	buf_free(&b);
}

static void virtuser_each(struct mig_state *st, const struct mapsrc_entry *e)
{
	struct buf k = BUF_INIT, v = BUF_INIT, why = BUF_INIT, b = BUF_INIT;
	bool is_error;
	if (mig_virtuser_entry(e->key, e->value, &k, &v, &is_error, &why)) {
		const char *domain = strchr(buf_str(&k), '@') + 1;
		if (is_error && k.data[0] == '@') {
			/* Unlisted users of a virtual alias domain are refused: that is this catch-all. */
			mig_list_add(&st->error_domains, domain);
			mig_note(st->r, "%s:%u: %s %s: %s is a virtual alias domain, where Tern refuses "
				    "unlisted addresses itself (with its own 550 5.1.1 text)", e->file,
				 e->line, e->key, e->value, domain);
		} else if (is_error) {
			buf_printf(mig_map(st->r, "access_recipient"), "%s %s\n", buf_str(&k), buf_str(&v));
			st->acc_used[MIG_ACC_RECIPIENT] = true;
		} else
			buf_printf(mig_map(st->r, "virtual"), "%s %s\n", buf_str(&k), buf_str(&v));
		mig_list_add(&st->virtual_domains, domain);
	} else {
		shown(e, &b);
		mig_untranslated(st->r, e->file, e->line, buf_str(&b), buf_str(&why));
	}
	buf_free(&k);
	buf_free(&v);
	buf_free(&why);
	buf_free(&b);
}

static void mailertable_each(struct mig_state *st, const struct mapsrc_entry *e)
{
	struct buf k = BUF_INIT, v = BUF_INIT, why = BUF_INIT, b = BUF_INIT;
	if (mig_mailertable_entry(e->key, e->value, &k, &v, &why))
		buf_printf(mig_map(st->r, "transport"), "%s %s\n", buf_str(&k), buf_str(&v));
	else {
		shown(e, &b);
		mig_untranslated(st->r, e->file, e->line, buf_str(&b), buf_str(&why));
	}
	buf_free(&k);
	buf_free(&v);
	buf_free(&why);
	buf_free(&b);
}

static void generics_each(struct mig_state *st, const struct mapsrc_entry *e)
{
	struct buf b = BUF_INIT;
	if (strchr(e->value, '%') != NULL) {
		shown(e, &b);
		mig_untranslated(st->r, e->file, e->line, buf_str(&b),
				 "%1 cannot be expressed in sender_canonical_maps");
	} else {
		buf_printf(mig_map(st->r, "sender_canonical"), "%s %s\n", e->key, e->value);
		st->canonical = true;
	}
	buf_free(&b);
}

static void domaintable_each(struct mig_state *st, const struct mapsrc_entry *e)
{
	struct buf b = BUF_INIT, why = BUF_INIT;
	shown(e, &b);
	buf_printf(&why, "Tern has no domain table; canonical_maps with \"@%s @%s\" rewrites "
			 "addresses in the same way (also in headers): add it by hand if wanted",
		   e->key, e->value);
	mig_untranslated(st->r, e->file, e->line, buf_str(&b), buf_str(&why));
	buf_free(&b);
	buf_free(&why);
}

/* relay-domains holds domains (relay_domains) and networks (mynetworks). */
static void relay_each(struct mig_state *st, const char *w, const char *file, unsigned line)
{
	if (strncasecmp(w, "IPv6:", 5) == 0) {
		mig_untranslated(st->r, file, line, w,
				 "an IPv6 address or text prefix: write it as [net]/len in mynetworks");
		return;
	}
	if (strspn(w, "0123456789.") == strlen(w)) {
		/* sendmail's "192.168.10" is a prefix of whole octets. */
		int dots = 0, ok = w[0] != '.' && w[strlen(w) - 1] != '.' && strstr(w, "..") == NULL;
		for (const char *p = w; *p; p++)
			dots += *p == '.';
		if (!ok || dots > 3) {
			mig_untranslated(st->r, file, line, w, "not an address or prefix of whole octets");
			return;
		}
		struct buf net = BUF_INIT;
		buf_adds(&net, w);
		for (int i = dots; i < 3; i++)
			buf_adds(&net, ".0");
		buf_printf(&net, "/%d", 8 * (dots + 1));
		mig_list_add(&st->networks, buf_str(&net));
		buf_free(&net);
		return;
	}
	mig_list_add(&st->relay_domains, w);
}

static void trusted_each(struct mig_state *st, const char *w, const char *file, unsigned line)
{
	(void)line;
	mig_note(st->r, "%s: %s: Tern needs no trusted users: any local user may set the sender with "
		    "sendmail -f, and the real user is logged with the message (as in Postfix; "
		    "local_login_sender_maps restricts it)", file, w);
}

static void db_files(struct mig_state *st)
{
	static const char *const known[] = {
		"access", "virtusertable", "mailertable", "genericstable", "domaintable", "aliases", NULL,
	};
	DIR *d = opendir(st->from);
	if (d == NULL)
		return;
	bool said = false;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t n = strlen(e->d_name);
		if (n < 4 || strcmp(e->d_name + n - 3, ".db") != 0)
			continue;
		char *base = xstrndup(e->d_name, n - 3);
		char *src = xasprintf("%s/%s", st->from, base);
		bool is_known = false;
		for (const char *const *k = known; *k; k++)
			is_known = is_known || strcmp(*k, base) == 0;
		if (access(src, F_OK) == 0) {
			if (!said)
				mig_note(st->r, "the .db files were ignored in favour of their text sources");
			said = true;
		} else if (!is_known)
			mig_note(st->r, "%s/%s: a table Tern does not translate; ignored", st->from, e->d_name);
		free(base);
		free(src);
	}
	closedir(d);
}

void mig_tables(struct mig_state *st)
{
	struct mig_result *r = st->r;
	read_table(st, "access", access_each);
	read_table(st, "virtusertable", virtuser_each);
	read_table(st, "mailertable", mailertable_each);
	if (read_table(st, "genericstable", generics_each))
		mig_note(r, "genericstable -> sender_canonical_maps (Tern has no smtp_generic_maps): it "
			    "rewrites sender addresses of all mail, also mail delivered here, where "
			    "sendmail rewrote only mail leaving by SMTP");
	read_table(st, "domaintable", domaintable_each);
	char *p = xasprintf("%s/relay-domains", st->from);
	mig_read_names(st, p, relay_each);
	free(p);
	p = xasprintf("%s/trusted-users", st->from);
	mig_read_names(st, p, trusted_each);
	free(p);
	/* The aliases file goes as it is: Tern reads aliases(5) as sendmail did. */
	struct buf a = BUF_INIT;
	p = xasprintf("%s/aliases", st->from);
	struct stat sb;
	char *real = lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode) ? realpath(p, NULL) : NULL;
	if (real != NULL) {
		r->aliases_in_place = real;
		mig_note(r, "%s is a link to %s: alias_maps names that file where it is", p, real);
	} else if (mig_slurp(p, &a) == 0) {
		struct buf *m = mig_map(r, "aliases");
		buf_add(m, a.data, a.len);
	}
	free(p);
	buf_free(&a);
	db_files(st);
}

/* ---- settings that follow from the tables ---- */

void mig_finish(struct mig_state *st)
{
	struct mig_result *r = st->r;
	const char *to = st->to;
	struct buf b = BUF_INIT;

	/* mydestination: class w less the domains that became virtual alias domains. */
	buf_adds(&b, "$myhostname, localhost.$mydomain, localhost");
	for (size_t i = 0; i < st->class_w.n; i++) {
		const char *w = st->class_w.v[i];
		if (strcasecmp(w, "localhost") == 0 || mig_list_has(&st->error_domains, w) ||
		    (st->hostname && strcasecmp(w, st->hostname) == 0))
			continue;
		buf_printf(&b, ", %s", w);
	}
	mig_set(r, P_mydestination, buf_str(&b));

	struct mig_list vd = {0};
	for (size_t i = 0; i < st->virtual_domains.n; i++)
		if (!mig_list_has(&st->class_w, st->virtual_domains.v[i]) ||
		    mig_list_has(&st->error_domains, st->virtual_domains.v[i]))
			mig_list_add(&vd, st->virtual_domains.v[i]);
	for (size_t i = 0; i < r->nmaps; i++) {
		const char *n = r->maps[i].name;
		buf_reset(&b);
		if (strcmp(n, "virtual") == 0) {
			buf_printf(&b, "hash:%s/virtual", to);
			mig_set(r, P_virtual_alias_maps, buf_str(&b));
		} else if (strcmp(n, "transport") == 0) {
			buf_printf(&b, "hash:%s/transport", to);
			mig_set(r, P_transport_maps, buf_str(&b));
		} else if (strcmp(n, "sender_canonical") == 0) {
			buf_printf(&b, "hash:%s/sender_canonical", to);
			mig_set(r, P_sender_canonical_maps, buf_str(&b));
		} else if (strcmp(n, "aliases") == 0) {
			buf_printf(&b, "hash:%s/aliases", to);
			mig_set(r, P_alias_maps, buf_str(&b));
			mig_set(r, P_alias_database, buf_str(&b));
		}
	}
	if (r->aliases_in_place) {
		buf_reset(&b);
		buf_printf(&b, "hash:%s", r->aliases_in_place);
		mig_set(r, P_alias_maps, buf_str(&b));
		mig_set(r, P_alias_database, buf_str(&b));
	}
	if (vd.n > 0) {
		buf_reset(&b);
		mig_list_join(&vd, &b);
		mig_set(r, P_virtual_alias_domains, buf_str(&b));
	}
	mig_list_free(&vd);
	if (st->relay_domains.n > 0) {
		buf_reset(&b);
		mig_list_join(&st->relay_domains, &b);
		mig_set(r, P_relay_domains, buf_str(&b));
		mig_note(r, "relay-domains: sendmail also relayed for clients whose host name is in "
			    "these domains; Tern relays for networks (mynetworks) and SASL clients only");
	}
	if (st->networks.n > 0) {
		buf_reset(&b);
		buf_adds(&b, "127.0.0.0/8, [::1]/128");
		mig_list_join(&st->networks, &b);
		mig_set(r, P_mynetworks, buf_str(&b));
	}

	/* The access maps, in the places sendmail consults them. */
	struct { const char *param; enum mig_access_map m; const char *check; } where[] = {
		{P_smtpd_client_restrictions, MIG_ACC_CLIENT, "check_client_access"},
		{P_smtpd_sender_restrictions, MIG_ACC_SENDER, "check_sender_access"},
		{P_smtpd_recipient_restrictions, MIG_ACC_RECIPIENT, "check_recipient_access"},
	};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (st->acc_used[where[i].m]) {
			buf_reset(&b);
			buf_printf(&b, "%s hash:%s/%s", where[i].check, to, acc_names[where[i].m]);
			mig_set(r, where[i].param, buf_str(&b));
		}
	if (st->acc_used[MIG_ACC_RELAY_CLIENT] || st->acc_used[MIG_ACC_RELAY_RCPT]) {
		buf_reset(&b);
		buf_adds(&b, "permit_mynetworks, permit_sasl_authenticated");
		if (st->acc_used[MIG_ACC_RELAY_CLIENT])
			buf_printf(&b, ", check_client_access hash:%s/%s", to, acc_names[MIG_ACC_RELAY_CLIENT]);
		if (st->acc_used[MIG_ACC_RELAY_RCPT])
			buf_printf(&b, ", check_recipient_access hash:%s/%s", to, acc_names[MIG_ACC_RELAY_RCPT]);
		buf_adds(&b, ", reject_unauth_destination");
		mig_set(r, P_smtpd_relay_restrictions, buf_str(&b));
	}
	buf_free(&b);
}

void mig_state_free(struct mig_state *st)
{
	free(st->smarthost);
	free(st->masquerade);
	free(st->hostname);
	free(st->cw_file);
	mig_list_free(&st->class_w);
	mig_list_free(&st->relay_domains);
	mig_list_free(&st->networks);
	mig_list_free(&st->virtual_domains);
	mig_list_free(&st->error_domains);
	for (size_t i = 0; i < st->ndaemons; i++)
		mig_daemon_free(&st->daemons[i]);
}
