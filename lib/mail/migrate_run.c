/*
 * migrate_run.c - read a sendmail host's /etc/mail and decide Tern's
 * main.cf settings, maps and the report (tern migrate-sendmail). The
 * per-line translations are migrate_parse.c; this file walks the files,
 * keeps file:line for the report and puts the pieces together. The
 * master.cf part (DAEMON_OPTIONS) and the tables are migrate_tables.c.
 *
 * Mail layer; runs as the administrator, only reads the source directory.
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "mail/migrate.h"
#include "mail/migrate_int.h"
#include "mail/config.h"
#include "util/mem.h"

#define SRC_MAX (16u << 20)

void mig_set(struct mig_result *r, const char *name, const char *value)
{
	for (size_t i = 0; i < r->nset; i++)
		if (strcmp(r->set[i].name, name) == 0) {
			free(r->set[i].value);
			r->set[i].value = xstrdup(value);
			return;
		}
	r->set = xreallocarray(r->set, r->nset + 1, sizeof(*r->set));
	r->set[r->nset].name = xstrdup(name);
	r->set[r->nset].value = xstrdup(value);
	r->nset++;
}

const char *mig_get(const struct mig_result *r, const char *name)
{
	for (size_t i = 0; i < r->nset; i++)
		if (strcmp(r->set[i].name, name) == 0)
			return r->set[i].value;
	return NULL;
}

struct buf *mig_map(struct mig_result *r, const char *name)
{
	for (size_t i = 0; i < r->nmaps; i++)
		if (strcmp(r->maps[i].name, name) == 0)
			return &r->maps[i].text;
	r->maps = xreallocarray(r->maps, r->nmaps + 1, sizeof(*r->maps));
	r->maps[r->nmaps].name = xstrdup(name);
	buf_init(&r->maps[r->nmaps].text);
	return &r->maps[r->nmaps++].text;
}

void mig_result_free(struct mig_result *r)
{
	for (size_t i = 0; i < r->nset; i++) {
		free(r->set[i].name);
		free(r->set[i].value);
	}
	free(r->set);
	for (size_t i = 0; i < r->nmaps; i++) {
		free(r->maps[i].name);
		buf_free(&r->maps[i].text);
	}
	free(r->maps);
	buf_free(&r->master_cf);
	buf_free(&r->report);
	buf_free(&r->notes);
	free(r->aliases_in_place);
	memset(r, 0, sizeof(*r));
}

void mig_untranslated(struct mig_result *r, const char *file, unsigned line, const char *text,
		      const char *why)
{
	buf_printf(&r->report, "  %s:%u: %.200s\n      %s\n", file, line, text, why);
	r->untranslated++;
}

void mig_note(struct mig_result *r, const char *fmt, ...)
{
	va_list ap;
	buf_adds(&r->notes, "  ");
	va_start(ap, fmt);
	buf_vprintf(&r->notes, fmt, ap);
	va_end(ap);
	buf_addc(&r->notes, '\n');
}

/* A list of names (class w, relay_domains), kept unique and in order. */
void mig_list_add(struct mig_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], s) == 0)
			return;
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = xstrdup(s);
}

bool mig_list_has(const struct mig_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], s) == 0)
			return true;
	return false;
}

void mig_list_del(struct mig_list *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], s) == 0) {
			free(l->v[i]);
			memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
			l->n--;
			return;
		}
}

void mig_list_free(struct mig_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void mig_list_join(const struct mig_list *l, struct buf *out)
{
	for (size_t i = 0; i < l->n; i++)
		buf_printf(out, "%s%s", out->len ? ", " : "", l->v[i]);
}

/* Read path whole; 0, or -1 (errno) when it cannot be read. */
int mig_slurp(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	int rc = buf_read_fd(b, fileno(f), SRC_MAX);
	int e = errno;
	fclose(f);
	errno = e;
	return rc < 0 ? -1 : 0;
}

/* ---- sendmail.mc ---- */

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* Debian's boilerplate and what the tables' own handling covers: nothing to say. */
static const char *const quiet_calls[] = {
	"divert", "VERSIONID", "OSTYPE", "DOMAIN", "MAILER_DEFINITIONS", "GENERICS_DOMAIN", NULL,
};
static const char *const quiet_features[] = {
	"use_cw_file", "access_db", "virtusertable", "mailertable", "genericstable", "domaintable",
	"no_default_msa", "masquerade_envelope", "always_add_domain", "nouucp", "delay_checks", NULL,
};

static void mc_call(struct mig_state *st, const struct mig_mc_call *c, const char *file,
		    unsigned line, const char *text)
{
	const char *a0 = c->argc > 0 ? c->argv[0] : "";
	const char *a1 = c->argc > 1 ? c->argv[1] : "";
	if (one_of(c->name, quiet_calls))
		return;
	if (strcmp(c->name, "include") == 0) {
		if (strstr(a0, "/cf.m4") == NULL)
			mig_untranslated(st->r, file, line, text,
					 "an included m4 file: translate what it defines by hand");
		return;
	}
	if (strcmp(c->name, "MAILER") == 0) {
		if (strcmp(a0, "local") != 0 && strcmp(a0, "smtp") != 0)
			mig_untranslated(st->r, file, line, text,
					 "Tern delivers with its local and smtp programs only "
					 "(a command in aliases or mailbox_command runs others)");
		return;
	}
	if (strcmp(c->name, "FEATURE") == 0) {
		if (one_of(a0, quiet_features)) {
			if (strcmp(a0, "use_cw_file") == 0)
				st->use_cw = true;
			return;
		}
		if (strcmp(a0, "smrsh") == 0)
			mig_untranslated(st->r, file, line, text,
					 "Tern runs alias and .forward commands with /bin/sh as the user, "
					 "without smrsh's list of allowed programs");
		else if (strcmp(a0, "relay_entire_domain") == 0)
			mig_untranslated(st->r, file, line, text,
					 "relaying for clients by their host name: list their networks "
					 "in mynetworks");
		else
			mig_untranslated(st->r, file, line, text, "this FEATURE has no Tern equivalent");
		return;
	}
	if (strcmp(c->name, "MASQUERADE_AS") == 0) {
		free(st->masquerade);
		st->masquerade = xstrdup(a0);
		return;
	}
	if (strcmp(c->name, "LOCAL_DOMAIN") == 0) {
		mig_list_add(&st->class_w, a0);
		return;
	}
	if (strcmp(c->name, "DAEMON_OPTIONS") == 0) {
		mig_daemon_add(st, a0, file, line, text);
		st->mc_daemons = true;
		return;
	}
	if (strcmp(c->name, "define") == 0) {
		if (strcmp(a0, "SMART_HOST") == 0) {
			free(st->smarthost);
			st->smarthost = xstrdup(a1);
		} else if (strcmp(a0, "confMAX_MESSAGE_SIZE") == 0) {
			if (a1[0] != '\0' && strspn(a1, "0123456789") == strlen(a1))
				mig_set(st->r, P_message_size_limit, a1);
			else
				mig_untranslated(st->r, file, line, text, "not a number of bytes");
		} else if (strcmp(a0, "confDOMAIN_NAME") == 0) {
			free(st->hostname);
			st->hostname = xstrdup(a1);
		} else if (strcmp(a0, "confCW_FILE") == 0) {
			free(st->cw_file);
			st->cw_file = xstrdup(a1);
		} else if (strcmp(a0, "_USE_ETC_MAIL_") != 0 && strcmp(a0, "confCF_VERSION") != 0)
			mig_untranslated(st->r, file, line, text, "no Tern setting corresponds to this define");
		return;
	}
	if (strcmp(c->name, "EXPOSED_USER") == 0 || strcmp(c->name, "MASQUERADE_DOMAIN") == 0 ||
	    strcmp(c->name, "MASQUERADE_EXCEPTION") == 0) {
		mig_untranslated(st->r, file, line, text,
				 "Tern masquerades only through myorigin and sender_canonical_maps "
				 "(see the note on MASQUERADE_AS)");
		return;
	}
	mig_untranslated(st->r, file, line, text, "a macro Tern does not translate");
}

static void read_mc(struct mig_state *st, const char *path)
{
	struct buf text = BUF_INIT, stmt = BUF_INIT, why = BUF_INIT;
	if (mig_slurp(path, &text) < 0) {
		buf_free(&text);
		return;
	}
	st->have_mc = true;
	unsigned lineno = 0, first = 0;
	bool diverted = false;	/* inside divert(-1): m4 output is thrown away, comments too */
	for (char *l = text.data, *next; l && *l; l = next) {
		lineno++;
		next = strchr(l, '\n');
		if (next)
			*next++ = '\0';
		if (stmt.len == 0)
			first = lineno;
		buf_adds(&stmt, l);
		buf_addc(&stmt, '\n');
		if (!mig_mc_complete(buf_str(&stmt)) && next != NULL && stmt.len < 8192)
			continue;
		struct mig_mc_call c;
		buf_reset(&why);
		char *shown = xstrdup(buf_str(&stmt));
		for (char *p = shown; *p; p++)
			if (*p == '\n')
				*p = ' ';
		for (size_t n = strlen(shown); n > 0 && shown[n - 1] == ' ';)
			shown[--n] = '\0';
		int rc = mig_mc_line(buf_str(&stmt), &c, &why);
		if (rc > 0) {
			if (strcmp(c.name, "divert") == 0)
				diverted = c.argc > 0 && strcmp(c.argv[0], "-1") == 0;
			mc_call(st, &c, path, first, shown);
			mig_mc_call_free(&c);
		} else if (rc < 0 && !diverted)
			mig_untranslated(st->r, path, first, shown, buf_str(&why));
		free(shown);
		buf_reset(&stmt);
	}
	buf_free(&text);
	buf_free(&stmt);
	buf_free(&why);
}

/* ---- sendmail.cf: what the .mc did not say ---- */

/*
 * A .cf macro the .mc may also set: the .cf fills in what the .mc left
 * out (a hand-edited .cf is what sendmail ran); when both say something
 * different, the .mc wins and the report says so.
 */
static void cf_value(struct mig_state *st, const char *path, unsigned lineno, char **slot,
		     const char *value)
{
	if (value[0] == '\0' || strchr(value, '$') != NULL)
		return;
	if (*slot == NULL)
		*slot = xstrdup(value);
	else if (strcmp(*slot, value) != 0)
		mig_note(st->r, "%s:%u: \"%s\" differs from sendmail.mc's \"%s\": the .mc's was used "
			    "(sendmail.cf was edited by hand or not rebuilt)", path, lineno, value, *slot);
}

static void read_cf(struct mig_state *st, const char *path)
{
	struct buf text = BUF_INIT;
	if (mig_slurp(path, &text) < 0) {
		buf_free(&text);
		return;
	}
	st->have_cf = true;
	unsigned lineno = 0;
	for (char *l = text.data, *next; l && *l; l = next) {
		lineno++;
		next = strchr(l, '\n');
		if (next)
			*next++ = '\0';
		char kind, *name, *value;
		if (!mig_cf_line(l, &kind, &name, &value))
			continue;
		if (kind == 'C' && strcmp(name, "w") == 0) {
			for (char *w = strtok(value, " \t"); w; w = strtok(NULL, " \t"))
				mig_list_add(&st->class_w, w);
		} else if (kind == 'F' && strcmp(name, "w") == 0) {
			st->use_cw = true;
			if (st->cw_file == NULL)
				st->cw_file = xstrndup(value, strcspn(value, " \t"));
		} else if (kind == 'D' && (strcmp(name, "S") == 0 || strcmp(name, "M") == 0)) {
			cf_value(st, path, lineno, name[0] == 'S' ? &st->smarthost : &st->masquerade, value);
		} else if (kind == 'D' && (strcmp(name, "j") == 0) && st->hostname == NULL && value[0] &&
			   strchr(value, '$') == NULL) {
			st->hostname = xstrdup(value);
		} else if (kind == 'D' && strcmp(name, "w") == 0 && value[0] && strchr(value, '$') == NULL) {
			mig_list_add(&st->class_w, value);
		} else if (kind == 'O' && strcmp(name, "MaxMessageSize") == 0 &&
			   mig_get(st->r, P_message_size_limit) == NULL) {
			if (value[0] && strspn(value, "0123456789") == strlen(value))
				mig_set(st->r, P_message_size_limit, value);
		} else if (kind == 'O' && strcmp(name, "DaemonPortOptions") == 0 && !st->mc_daemons) {
			mig_daemon_add(st, value, path, lineno, l);
		}
		free(name);
		free(value);
	}
	buf_free(&text);
}

/* A file of one name per line (local-host-names, relay-domains), '#' comments. */
void mig_read_names(struct mig_state *st, const char *path,
		    void (*each)(struct mig_state *, const char *, const char *, unsigned))
{
	struct buf text = BUF_INIT;
	if (mig_slurp(path, &text) < 0) {
		buf_free(&text);
		return;
	}
	unsigned lineno = 0;
	for (char *l = text.data, *next; l && *l; l = next) {
		lineno++;
		next = strchr(l, '\n');
		if (next)
			*next++ = '\0';
		l[strcspn(l, "#")] = '\0';
		char *w = l + strspn(l, " \t\r");
		w[strcspn(w, " \t\r")] = '\0';
		if (*w)
			each(st, w, path, lineno);
	}
	buf_free(&text);
}

static void add_w(struct mig_state *st, const char *name, const char *file, unsigned line)
{
	(void)file;
	(void)line;
	mig_list_add(&st->class_w, name);
}

int mig_run(const char *from, const char *to, struct mig_result *r, struct buf *err)
{
	struct stat sb;
	if (stat(from, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		buf_printf(err, "%s: %s", from, errno ? strerror(errno) : "not a directory");
		return -1;
	}
	memset(r, 0, sizeof(*r));
	struct mig_state st = {.r = r, .from = from, .to = to};
	char *p = xasprintf("%s/sendmail.mc", from);
	read_mc(&st, p);
	free(p);
	p = xasprintf("%s/sendmail.cf", from);
	read_cf(&st, p);
	free(p);
	if (!st.have_mc && !st.have_cf)
		mig_note(r, "%s has neither sendmail.mc nor sendmail.cf: only the tables are translated",
			 from);
	if (st.use_cw || st.cw_file) {
		/* Debian's .cf names /etc/mail/local-host-names: read it from the tree given. */
		p = xasprintf("%s/local-host-names", from);
		mig_read_names(&st, p, add_w);
		free(p);
	}
	mig_settings(&st);
	mig_tables(&st);
	mig_finish(&st);
	mig_state_free(&st);
	return 0;
}
