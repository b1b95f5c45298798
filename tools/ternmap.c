/*
 * ternmap - build, query, list and change Tern's lookup tables, like
 * Postfix's postmap(1).
 *
 * SYNOPSIS
 *	ternmap [-Nfnrvw] [-c dir] [type:]file ...
 *	ternmap [-Nfn] [-c dir] -i [type:]file
 *	ternmap [-f] [-c dir] -q key|- [type:]name ...
 *	ternmap [-f] [-c dir] -d key|- [type:]file ...
 *	ternmap [-c dir] -s [type:]name ...
 *
 * DESCRIPTION
 *	Without -q, -d, -s or -i, each file is a "key value" source (see
 *	mapsource.h) and ternmap builds file.db from it atomically (written
 *	to a temporary file, synced and renamed). type is hash or btree; a
 *	file without a type gets default_database_type (hash) from main.cf
 *	in the -c directory, $TERN_CONFIG_DIR or /etc/tern (a missing
 *	main.cf means the defaults). Keys and values are stored
 *	NUL-terminated unless -n, as postmap does, so Postfix, sendmail and
 *	Tern all read the result.
 *
 *	-q key prints the value of key from the first map that has it and
 *	exits 1 when none has; -q - reads keys from standard input and prints
 *	"key<TAB>value" for each one found. -s prints every entry, -d deletes
 *	a key (exit 1 when it was nowhere), -i adds "key value" lines from
 *	standard input to an existing table. A duplicate key keeps its first
 *	value with a warning (-w: silently; -r: the last value wins).
 *	-f keeps the case of keys; -N and -n force and forbid the NUL.
 *
 * SECURITY
 *	Runs with the privileges of whoever calls it; it is not set-id and
 *	opens only the files named on its command line.
 *
 * CONFIGURATION PARAMETERS
 *	default_database_type
 *
 * EXIT STATUS
 *	0 success; 1 key not found (-q, -d); 64 usage; 66 a map or source
 *	cannot be read; 73 a table cannot be written; 78 a bad main.cf.
 *
 * SEE ALSO
 *	postmap(1), makemap(8), newaliases(1), map.h
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/config.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/map.h"
#include "util/mapsource.h"
#include "util/mem.h"

struct opts {
	int fold;		/* !-f */
	int nonul;		/* -n */
	int replace;		/* -r */
	int quiet_dups;		/* -w */
};

static void usage(void)
{
	fprintf(stderr, "usage: ternmap [-Nfinrsvw] [-c dir] [-d key] [-q key] [type:]file ...\n");
	exit(EX_USAGE);
}

static int map_flags(const struct opts *o)
{
	return (o->fold ? 0 : MAP_NOFOLD) | (o->nonul ? MAP_NO_NUL : 0);
}

struct load {
	struct map *map;
	const struct opts *o;
	int failed;
};

/* One source entry into the table; a key already there keeps its value unless -r. */
static int load_entry(void *ctx, const struct mapsrc_entry *e)
{
	struct load *l = ctx;
	if (!l->o->replace) {
		struct buf old = BUF_INIT;
		int r = map_lookup(l->map, e->key, &old);
		buf_free(&old);
		if (r < 0) {
			msg_error("%s", map_error(l->map));
			l->failed = 1;
			return -1;
		}
		if (r == 1) {
			if (!l->o->quiet_dups)
				msg_warn("%s:%u: duplicate key \"%s\", first value kept", e->file, e->line,
					 e->key);
			return 0;
		}
	}
	if (map_update(l->map, e->key, e->value) < 0) {
		msg_error("%s", map_error(l->map));
		l->failed = 1;
		return -1;
	}
	return 0;
}

/* Build [type:]file.db from file (or add standard input to it, with -i). */
static int build(const char *spec, int incremental, const struct opts *o)
{
	char *type, *name;
	int status = EX_OK;
	if (map_spec_parse(spec, &type, &name) < 0 ||
	    (strcmp(type, "hash") != 0 && strcmp(type, "btree") != 0)) {
		msg_error("%s: cannot build a table of type \"%s\" (use hash or btree)", spec, type);
		free(type);
		free(name);
		return EX_USAGE;
	}
	int fd = incremental ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		msg_error("open %s: %s", name, strerror(errno));
		free(type);
		free(name);
		return EX_NOINPUT;
	}
	struct buf err = BUF_INIT;
	char *dbspec = xasprintf("%s:%s", type, name);
	int flags = MAP_WRITE | MAP_CREATE | (incremental ? 0 : MAP_TRUNC) | map_flags(o);
	struct map *m = map_open(dbspec, flags, &err);
	if (m == NULL) {
		msg_error("%s", buf_str(&err));
		status = EX_CANTCREAT;
		goto out;
	}
	struct load l = {.map = m, .o = o};
	struct mapsrc_opts so = {
		.flags = (o->fold ? 0 : MAPSRC_NOFOLD) | MAPSRC_NO_DUP_CHECK,
		.entry = load_entry,
		.ctx = &l,
	};
	if (mapsrc_read_fd(fd, incremental ? "-" : name, &so, &err) < 0 || l.failed) {
		if (!l.failed)
			msg_error("%s", buf_str(&err));
		map_discard(m);
		status = l.failed ? EX_CANTCREAT : EX_NOINPUT;
		goto out;
	}
	if (map_close(m) < 0)
		status = EX_CANTCREAT;	/* map_close() logged why */
out:
	if (!incremental)
		close(fd);
	buf_free(&err);
	free(dbspec);
	free(type);
	free(name);
	return status;
}

static struct map *open_or_die(const char *spec, int flags)
{
	struct buf err = BUF_INIT;
	struct map *m = map_open(spec, flags, &err);
	if (m == NULL)
		msg_fatal_status(EX_NOINPUT, "%s", buf_str(&err));
	buf_free(&err);
	return m;
}

/* Look key up in the maps in order; 1 found (value printed), 0 not. */
static int query_one(struct map **maps, int n, const char *key, struct buf *value)
{
	for (int i = 0; i < n; i++) {
		int r = map_lookup(maps[i], key, value);
		if (r < 0)
			msg_fatal_status(EX_NOINPUT, "%s", map_error(maps[i]));
		if (r == 1)
			return 1;
	}
	return 0;
}

/* Read keys, one a line, from standard input: "-q -" and "-d -". */
static char *next_key(FILE *in, struct buf *line)
{
	int c;
	buf_reset(line);
	while ((c = getc(in)) != EOF && c != '\n')
		buf_addc(line, (char)c);
	if (c == EOF && line->len == 0)
		return NULL;
	char *s = line->data ? line->data : (char *)"";
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static int query(const char *key, char **specs, int n, const struct opts *o)
{
	struct map **maps = xcalloc((size_t)n, sizeof(*maps));
	for (int i = 0; i < n; i++)
		maps[i] = open_or_die(specs[i], map_flags(o));
	struct buf value = BUF_INIT, line = BUF_INIT;
	int found = 0;
	if (strcmp(key, "-") == 0) {
		char *k;
		while ((k = next_key(stdin, &line)) != NULL) {
			if (*k && query_one(maps, n, k, &value)) {
				printf("%s\t%s\n", k, buf_str(&value));
				found = 1;
			}
		}
	} else if (query_one(maps, n, key, &value)) {
		printf("%s\n", buf_str(&value));
		found = 1;
	}
	for (int i = 0; i < n; i++)
		map_close(maps[i]);
	free(maps);
	buf_free(&value);
	buf_free(&line);
	return found ? EX_OK : 1;
}

static int delete_keys(const char *key, char **specs, int n, const struct opts *o)
{
	struct map **maps = xcalloc((size_t)n, sizeof(*maps));
	for (int i = 0; i < n; i++)
		maps[i] = open_or_die(specs[i], MAP_WRITE | map_flags(o));
	struct buf line = BUF_INIT;
	int found = 0, status = EX_OK;
	const char *k = key;
	int from_stdin = strcmp(key, "-") == 0;
	while (from_stdin ? (k = next_key(stdin, &line)) != NULL : k != NULL) {
		for (int i = 0; *k && i < n; i++) {
			int r = map_delete(maps[i], k);
			if (r < 0) {
				msg_error("%s", map_error(maps[i]));
				status = EX_CANTCREAT;
			} else if (r == 1) {
				found = 1;
			}
		}
		if (!from_stdin)
			k = NULL;
	}
	for (int i = 0; i < n; i++)
		if (map_close(maps[i]) < 0)
			status = EX_CANTCREAT;
	free(maps);
	buf_free(&line);
	if (status != EX_OK)
		return status;
	return found ? EX_OK : 1;
}

static int dump(char **specs, int n)
{
	struct buf k = BUF_INIT, v = BUF_INIT;
	int status = EX_OK;
	for (int i = 0; i < n; i++) {
		struct map *m = open_or_die(specs[i], MAP_NOFOLD);
		int r;
		for (r = map_iterate(m, 1, &k, &v); r == 1; r = map_iterate(m, 0, &k, &v))
			printf("%s\t%s\n", buf_str(&k), buf_str(&v));
		if (r < 0) {
			msg_error("%s", map_error(m));
			status = EX_NOINPUT;
		}
		map_close(m);
	}
	buf_free(&k);
	buf_free(&v);
	return status;
}

/* "name" alone means default_database_type:name, as in postmap. */
static char **with_default_type(char **specs, int n)
{
	const char *type = cfg_str(P_default_database_type);
	char **out = xcalloc((size_t)n + 1, sizeof(*out));
	for (int i = 0; i < n; i++)
		out[i] = map_spec_has_type(specs[i]) || type == NULL || *type == '\0'
			 ? xstrdup(specs[i]) : xasprintf("%s:%s", type, specs[i]);
	return out;
}

int main(int argc, char **argv)
{
	struct opts o = {.fold = 1};
	const char *qkey = NULL, *dkey = NULL, *confdir = NULL;
	int dump_mode = 0, incremental = 0, c;
	log_init("ternmap", LOG_TO_STDERR);
	while ((c = getopt(argc, argv, "Nbc:d:fhinopq:rsuvw")) != -1) {
		switch (c) {
		case 'N': o.nonul = 0; break;
		case 'n': o.nonul = 1; break;
		case 'f': o.fold = 0; break;
		case 'r': o.replace = 1; break;
		case 'w': o.quiet_dups = 1; break;
		case 'q': qkey = optarg; break;
		case 'd': dkey = optarg; break;
		case 's': dump_mode = 1; break;
		case 'i': incremental = 1; break;
		case 'c': confdir = optarg; break;
		case 'b': case 'h': case 'o': case 'p': case 'u': case 'v':
			/* postmap's header/ownership/verbose options: accepted, no effect. */
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (qkey != NULL) + (dkey != NULL) + dump_mode + incremental > 1)
		usage();
	struct buf err = BUF_INIT;
	if (config_load(confdir, true, &err) < 0)
		msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));
	buf_free(&err);
	char **specs = with_default_type(argv, argc);
	int status = EX_OK;
	if (qkey)
		status = query(qkey, specs, argc, &o);
	else if (dkey)
		status = delete_keys(dkey, specs, argc, &o);
	else if (dump_mode)
		status = dump(specs, argc);
	else if (incremental && argc != 1)
		usage();
	else if (incremental)
		status = build(specs[0], 1, &o);
	else
		for (int i = 0; i < argc; i++) {
			int r = build(specs[i], 0, &o);
			if (r != EX_OK)
				status = r;
		}
	for (int i = 0; i < argc; i++)
		free(specs[i]);
	free(specs);
	return status;
}
