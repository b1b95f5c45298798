/*
 * makemap - sendmail's table builder, on Tern's map API.
 *
 * SYNOPSIS
 *	makemap [-C file] [-N] [-c size] [-D char] [-e] [-f] [-i type] [-l]
 *		[-o] [-r] [-s] [-t delim] [-u] [-v] hash|btree|implicit NAME
 *
 * DESCRIPTION
 *	Reads "key value" lines from standard input and stores them in
 *	NAME.db, with sendmail's rules: keys are folded to lower case unless
 *	-f; values never are; keys and values are stored WITHOUT their
 *	terminating NUL unless -N (sendmail's default, to match K lines
 *	without -N); a repeated key is an error and keeps its first value
 *	unless -r; a line without a value is an error unless -e; lines
 *	starting with '#' (or the -D character) and empty lines are skipped;
 *	a line starting with white space is an error (makemap has no
 *	continuation lines); -t sets the key/value delimiter. -o adds to an
 *	existing table; without it the table is rebuilt. -u prints the table
 *	as "key<TAB>value" (or the -t delimiter). -l lists the types.
 *
 *	Where Tern differs on purpose: a rebuild is atomic (a temporary file
 *	renamed over NAME.db) where sendmail truncates NAME.db in place; -d
 *	(duplicate keys in btree maps) and the dbm and cdb types are not
 *	supported; -C, -c and -s are accepted and ignored.
 *
 * SECURITY
 *	Runs with the privileges of its caller; not set-id. It writes only
 *	NAME.db (and a temporary file beside it).
 *
 * EXIT STATUS
 *	0 success; 64 usage; 65 bad input lines (the good ones are stored);
 *	66 the table cannot be read (-u); 73 the table cannot be written.
 *
 * SEE ALSO
 *	makemap(8), ternmap(1), newaliases(1)
 */
#include "compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/map.h"
#include "util/mapsource.h"
#include "util/mem.h"

struct run {
	const char *name;	/* the map name, as in sendmail's messages */
	struct map *map;
	int replace, allow_empty, verbose;
	int data_errors;	/* bad lines: exit 65 at the end */
	int write_failed;
};

static void usage(void)
{
	fprintf(stderr, "usage: makemap [-C cffile] [-N] [-c cachesize] [-D commentchar] [-e] [-f] "
		"[-i type] [-l] [-o] [-r] [-s] [-t delimiter] [-u] [-v] type mapname\n");
	exit(EX_USAGE);
}

static void on_warn(void *ctx, const char *file, unsigned line, const char *text)
{
	struct run *r = ctx;
	(void)file;
	fprintf(stderr, "makemap: %s: line %u: %s\n", r->name, line, text);
	r->data_errors++;
}

static int on_entry(void *ctx, const struct mapsrc_entry *e)
{
	struct run *r = ctx;
	if (*e->value == '\0' && !r->allow_empty) {
		fprintf(stderr, "makemap: %s: line %u: no RHS for LHS %s\n", r->name, e->line, e->key);
		r->data_errors++;
		return 0;
	}
	if (r->verbose)
		fprintf(stderr, "key=`%s', val=`%s'\n", e->key, e->value);
	if (!r->replace) {
		struct buf old = BUF_INIT;
		int found = map_lookup(r->map, e->key, &old);
		buf_free(&old);
		if (found == 1) {
			fprintf(stderr, "makemap: %s: line %u: key %s: duplicate key\n", r->name, e->line,
				e->key);
			r->data_errors++;
			return 0;
		}
		if (found < 0)
			goto fail;
	}
	if (map_update(r->map, e->key, e->value) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "makemap: %s\n", map_error(r->map));
	r->write_failed = 1;
	return -1;
}

/* -u: print every entry with the delimiter (tab by default). */
static int unmap(const char *spec, char delim, int mapflags)
{
	struct buf err = BUF_INIT, k = BUF_INIT, v = BUF_INIT;
	struct map *m = map_open(spec, MAP_NOFOLD | mapflags, &err);
	if (m == NULL) {
		fprintf(stderr, "makemap: %s\n", buf_str(&err));
		buf_free(&err);
		return EX_NOINPUT;
	}
	int r;
	for (r = map_iterate(m, 1, &k, &v); r == 1; r = map_iterate(m, 0, &k, &v))
		printf("%s%c%s\n", buf_str(&k), delim ? delim : '\t', buf_str(&v));
	int status = EX_OK;
	if (r < 0) {
		fprintf(stderr, "makemap: %s\n", map_error(m));
		status = EX_NOINPUT;
	}
	map_close(m);
	buf_free(&err);
	buf_free(&k);
	buf_free(&v);
	return status;
}

/* sendmail's "implicit" is the first available of hash, dbm, cdb: hash. */
static const char *db_type(const char *type)
{
	if (strcmp(type, "hash") == 0 || strcmp(type, "implicit") == 0)
		return "hash";
	if (strcmp(type, "btree") == 0)
		return "btree";
	return NULL;
}

int main(int argc, char **argv)
{
	int c, nul = 0, fold = 1, append = 0, dump = 0, dups = 0;
	char delim = '\0', comment = '#';
	const char *fallback = NULL;
	struct run r = {0};
	log_init("makemap", LOG_TO_STDERR);
	while ((c = getopt(argc, argv, "C:Nc:D:defi:lorst:uv")) != -1) {
		switch (c) {
		case 'C': case 'c': case 's':
			/* sendmail.cf (TrustedUser), cache size, safety checks: no effect here. */
			break;
		case 'N': nul = 1; break;
		case 'D': comment = optarg[0]; break;
		case 'd': dups = 1; break;
		case 'e': r.allow_empty = 1; break;
		case 'f': fold = 0; break;
		case 'i': fallback = optarg; break;
		case 'l':
			printf("hash\nbtree\nimplicit\n");
			return EX_OK;
		case 'o': append = 1; break;
		case 'r': r.replace = 1; break;
		case 't':
			if (optarg[0] == '\0' || optarg[1] != '\0')
				usage();
			delim = optarg[0];
			break;
		case 'u': dump = 1; break;
		case 'v': r.verbose = 1; break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		usage();
	const char *type = db_type(argv[0]);
	if (type == NULL && fallback != NULL)
		type = db_type(fallback);
	if (type == NULL) {
		fprintf(stderr, "makemap: Unknown database type %s\n", argv[0]);
		return EX_USAGE;
	}
	if (dups) {
		fprintf(stderr, "makemap: -d (duplicate keys) is not supported\n");
		return EX_USAGE;
	}
	r.name = argv[1];
	/* The map name may already end in .db, as sendmail allows. */
	size_t n = strlen(r.name);
	char *base = (n > 3 && strcmp(r.name + n - 3, ".db") == 0) ? xstrndup(r.name, n - 3) : xstrdup(r.name);
	char *spec = xasprintf("%s:%s", type, base);
	int mapflags = (fold ? 0 : MAP_NOFOLD) | (nul ? 0 : MAP_NO_NUL);
	int status;
	if (dump) {
		status = unmap(spec, delim, mapflags);
		goto out;
	}
	struct buf err = BUF_INIT;
	r.map = map_open(spec, MAP_WRITE | MAP_CREATE | (append ? 0 : MAP_TRUNC) | mapflags, &err);
	if (r.map == NULL) {
		fprintf(stderr, "makemap: error opening type %s map %s: %s\n", type, r.name, buf_str(&err));
		buf_free(&err);
		status = EX_CANTCREAT;
		goto out;
	}
	struct mapsrc_opts so = {
		.flags = (fold ? 0 : MAPSRC_NOFOLD) | MAPSRC_EMPTY_VALUE | MAPSRC_NO_DUP_CHECK |
			 MAPSRC_NO_CONTINUATION | MAPSRC_KEEP_TRAILING,
		.delim = delim,
		.comment = comment,
		.entry = on_entry,
		.warn = on_warn,
		.ctx = &r,
	};
	if (mapsrc_read_fd(STDIN_FILENO, r.name, &so, &err) < 0 && !r.write_failed) {
		fprintf(stderr, "makemap: %s\n", buf_str(&err));
		r.write_failed = 1;
	}
	buf_free(&err);
	if (r.write_failed) {
		map_discard(r.map);
		status = EX_CANTCREAT;
	} else if (map_close(r.map) < 0) {
		status = EX_CANTCREAT;
	} else {
		status = r.data_errors ? EX_DATAERR : EX_OK;
	}
out:
	free(base);
	free(spec);
	return status;
}
