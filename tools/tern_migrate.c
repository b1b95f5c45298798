/*
 * tern_migrate.c - `tern migrate-sendmail`: translate a sendmail host's
 * /etc/mail into main.cf settings and Tern maps in a directory, with a
 * report of what could not be translated; --apply installs them into a
 * configuration (main.cf edited in place, maps copied and built, the
 * aliases database rebuilt). See tern-migrate-sendmail(8).
 *
 * Runs as the administrator (root for the system's configuration, the
 * owner for an instance: tern.c's act_as_config_owner). The translation
 * is lib/mail/migrate_*.c; this file only writes its result.
 */
#include "compat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/conf_edit.h"
#include "mail/config.h"
#include "mail/migrate.h"
#include "mail/newaliases.h"
#include "tools/tern.h"
#include "util/buf.h"
#include "util/map.h"
#include "util/mapsource.h"
#include "util/mem.h"

static void migrate_usage(void)
{
	fprintf(stderr, "usage: tern [-c config_dir] migrate-sendmail [--from DIR] [--to DIR] [--apply]\n");
	exit(EX_USAGE);
}

static int write_file(const char *dir, const char *name, const struct buf *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	struct buf err = BUF_INIT;
	int rc = conf_file_replace(path, text->data ? text->data : "", text->len, &err);
	if (rc < 0)
		fprintf(stderr, "tern: migrate-sendmail: %s\n", buf_str(&err));
	buf_free(&err);
	free(path);
	return rc;
}

static void fragment(const struct mig_result *r, struct buf *out)
{
	buf_adds(out, "# main.cf settings translated from sendmail by tern migrate-sendmail\n");
	for (size_t i = 0; i < r->nset; i++)
		buf_printf(out, "%s = %s\n", r->set[i].name, r->set[i].value);
}

static void report(const struct mig_result *r, const char *from, const char *to, bool written,
		   struct buf *out)
{
	buf_printf(out, "tern migrate-sendmail: %s -> %s\n\n", from, to);
	buf_printf(out, "Lines not translated (%zu):\n", r->untranslated);
	if (r->report.len)
		buf_add(out, r->report.data, r->report.len);
	else
		buf_adds(out, "  none\n");
	buf_adds(out, "\nNotes:\n");
	if (r->notes.len)
		buf_add(out, r->notes.data, r->notes.len);
	else
		buf_adds(out, "  none\n");
	buf_adds(out, "\nmain.cf settings:\n");
	for (size_t i = 0; i < r->nset; i++)
		buf_printf(out, "  %s = %s\n", r->set[i].name, r->set[i].value);
	buf_adds(out, "\nMaps:");
	for (size_t i = 0; i < r->nmaps; i++)
		buf_printf(out, " %s", r->maps[i].name);
	buf_adds(out, r->nmaps ? "\n" : " none\n");
	if (r->master_cf.len) {
		buf_printf(out, "\nmaster.cf: the listeners of DAEMON_OPTIONS%s (not installed by "
				"--apply: compare them with master.cf):\n",
			   written ? ", also in master.cf.migrated" : "");
		buf_add(out, r->master_cf.data, r->master_cf.len);
	}
}

struct load {
	struct map *map;
	bool failed;
};

static int load_entry(void *ctx, const struct mapsrc_entry *e)
{
	struct load *l = ctx;
	struct buf old = BUF_INIT;
	int r = map_lookup(l->map, e->key, &old);
	buf_free(&old);
	if (r == 0 && map_update(l->map, e->key, e->value) < 0)
		r = -1;
	if (r < 0) {
		fprintf(stderr, "tern: migrate-sendmail: %s\n", map_error(l->map));
		l->failed = true;
		return -1;
	}
	return 0;	/* a repeated key keeps its first value, as ternmap does */
}

/* Build hash:path.db from path, as ternmap does. */
static int build_map(const char *path)
{
	struct buf err = BUF_INIT;
	char *spec = xasprintf("hash:%s", path);
	struct map *m = map_open(spec, MAP_WRITE | MAP_CREATE | MAP_TRUNC, &err);
	free(spec);
	if (m == NULL) {
		fprintf(stderr, "tern: migrate-sendmail: %s\n", buf_str(&err));
		buf_free(&err);
		return -1;
	}
	struct load l = {.map = m};
	struct mapsrc_opts o = {.flags = MAPSRC_NO_DUP_CHECK, .entry = load_entry, .ctx = &l};
	if (mapsrc_read_file(path, &o, &err) < 0 || l.failed) {
		if (!l.failed)
			fprintf(stderr, "tern: migrate-sendmail: %s\n", buf_str(&err));
		map_discard(m);
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	return map_close(m) < 0 ? -1 : 0;
}

static struct conf_edit *edits_of(const struct mig_result *r)
{
	struct conf_edit *edits = xcalloc(r->nset ? r->nset : 1, sizeof(*edits));
	for (size_t i = 0; i < r->nset; i++)
		edits[i] = (struct conf_edit){.op = CONF_SET, .name = r->set[i].name, .value = r->set[i].value};
	return edits;
}

/*
 * DIR/main.cf: the configuration's current main.cf with the settings put
 * in (as --apply would leave it), when there is one to read.
 */
static int write_full_main_cf(const struct mig_result *r, const char *dir, const char *to)
{
	char *path = xasprintf("%s/main.cf", dir ? dir : config_default_dir());
	struct buf old = BUF_INIT, out = BUF_INIT;
	FILE *f = fopen(path, "re");
	int rc = 0;
	if (f != NULL) {
		if (buf_read_fd(&old, fileno(f), 4u << 20) >= 0) {
			struct conf_edit *edits = edits_of(r);
			conf_edit_text(old.data ? old.data : "", old.len, edits, r->nset, &out);
			free(edits);
			rc = write_file(to, "main.cf", &out);
		}
		fclose(f);
	}
	free(path);
	buf_free(&old);
	buf_free(&out);
	return rc < 0 ? EX_CANTCREAT : 0;
}

static int apply(const struct mig_result *r, const char *confdir)
{
	/* The maps first: main.cf must not name a table that is not there yet. */
	for (size_t i = 0; i < r->nmaps; i++) {
		const char *name = r->maps[i].name;
		char *path = xasprintf("%s/%s", confdir, name);
		struct stat sb;
		if (stat(path, &sb) == 0) {
			char *keep = xasprintf("%s.before-migrate", path);
			if (rename(path, keep) == 0)
				printf("%s: the old file is now %s\n", path, keep);
			free(keep);
		}
		if (write_file(confdir, name, &r->maps[i].text) < 0) {
			free(path);
			return EX_CANTCREAT;
		}
		if (strcmp(name, "aliases") == 0) {
			struct buf out = BUF_INIT, diag = BUF_INIT;
			char *spec = xasprintf("hash:%s", path);
			int st = newaliases_build(spec, &out, &diag);
			fputs(buf_str(&diag), stderr);
			fputs(buf_str(&out), stdout);
			free(spec);
			buf_free(&out);
			buf_free(&diag);
			if (st != 0 && st != EX_DATAERR) {
				free(path);
				return st;
			}
		} else if (build_map(path) < 0) {
			free(path);
			return EX_CANTCREAT;
		}
		printf("%s: installed\n", path);
		free(path);
	}
	if (r->aliases_in_place) {
		struct buf out = BUF_INIT, diag = BUF_INIT;
		char *spec = xasprintf("hash:%s", r->aliases_in_place);
		int st = newaliases_build(spec, &out, &diag);
		fputs(buf_str(&diag), stderr);
		fputs(buf_str(&out), stdout);
		free(spec);
		buf_free(&out);
		buf_free(&diag);
		if (st != 0 && st != EX_DATAERR)
			return st;
	}
	struct conf_edit *edits = edits_of(r);
	struct buf err = BUF_INIT;
	int rc = conf_edit_file(config_file(), edits, r->nset, &err);
	if (rc < 0)
		fprintf(stderr, "tern: migrate-sendmail: %s\n", buf_str(&err));
	else
		printf("%s: %zu settings written\n", config_file(), r->nset);
	buf_free(&err);
	free(edits);
	return rc < 0 ? EX_CANTCREAT : 0;
}

int cmd_migrate(int argc, char **argv, const char *dir)
{
	const char *from = "/etc/mail", *to = NULL;
	bool do_apply = false;
	/* argv[0] is "migrate-sendmail". */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--apply") == 0)
			do_apply = true;
		else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			from = argv[++i];
		else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			dir = argv[++i];
		else
			migrate_usage();
	}
	if ((dir && *dir == '\0') || (to == NULL && !do_apply))
		migrate_usage();
	if (do_apply)
		act_as_config_owner(dir);
	struct buf err = BUF_INIT;
	if (do_apply && config_load(dir, false, &err) < 0) {
		fprintf(stderr, "tern: migrate-sendmail: %s\n", buf_str(&err));
		buf_free(&err);
		return EX_CONFIG;
	}
	/* With --apply the maps live in the configuration directory; settings name them there. */
	char *mapdir = NULL;
	if (do_apply)
		mapdir = xstrdup(config_dir());
	else {
		if (mkdir(to, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "tern: migrate-sendmail: %s: %s\n", to, strerror(errno));
			return EX_CANTCREAT;
		}
		mapdir = realpath(to, NULL);
		if (mapdir == NULL)
			mapdir = xstrdup(to);
	}
	struct mig_result r;
	if (mig_run(from, mapdir, &r, &err) < 0) {
		fprintf(stderr, "tern: migrate-sendmail: %s\n", buf_str(&err));
		free(mapdir);
		buf_free(&err);
		return EX_NOINPUT;
	}
	struct buf frag = BUF_INIT, rep = BUF_INIT;
	fragment(&r, &frag);
	report(&r, from, mapdir, to != NULL, &rep);
	int rc = 0;
	if (to != NULL) {
		if (mkdir(to, 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "tern: migrate-sendmail: %s: %s\n", to, strerror(errno));
			rc = EX_CANTCREAT;
		}
		for (size_t i = 0; rc == 0 && i < r.nmaps; i++)
			if (write_file(to, r.maps[i].name, &r.maps[i].text) < 0)
				rc = EX_CANTCREAT;
		if (rc == 0 && (write_file(to, "main.cf.migrated", &frag) < 0 ||
				write_file(to, "REPORT.txt", &rep) < 0 ||
				(r.master_cf.len && write_file(to, "master.cf.migrated", &r.master_cf) < 0)))
			rc = EX_CANTCREAT;
	}
	if (rc == 0 && to != NULL)
		rc = write_full_main_cf(&r, dir, to);
	fputs(buf_str(&rep), stdout);
	fflush(stdout);
	if (rc == 0 && do_apply)
		rc = apply(&r, mapdir);
	mig_result_free(&r);
	buf_free(&frag);
	buf_free(&rep);
	buf_free(&err);
	free(mapdir);
	return rc;
}
