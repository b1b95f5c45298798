/*
 * domain_list.c - domain lists of main.cf (relay_domains): names,
 * /file names and type:table maps (see domain_list.h).
 *
 * Mail layer; no privileges of its own: it reads what the list names
 * with the caller's (smtpd's mail_owner). The files are read once, at
 * open, as Postfix reads them at process start; a reload opens the list
 * again. Tables stay open and are looked up on each match.
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/domain_list.h"
#include "util/map.h"
#include "util/mem.h"

/* How deep a /file may name another /file. */
#define FILE_DEPTH	4

struct item {
	char *pattern;		/* lower case, no trailing dot; NULL for a table */
	struct map *map;
	bool negate;
};

struct domain_list {
	struct item *items;
	size_t n;
};

static void add_item(struct domain_list *l, char *pattern, struct map *map, bool negate)
{
	l->items = xreallocarray(l->items, l->n + 1, sizeof(*l->items));
	l->items[l->n++] = (struct item){.pattern = pattern, .map = map, .negate = negate};
}

static int add_words(struct domain_list *l, const char *text, int depth, struct buf *err);

/* The words of a file, each an item; "#" to the end of a line is a comment. */
static int add_file(struct domain_list *l, const char *path, bool negate, int depth, struct buf *err)
{
	if (negate) {
		buf_printf(err, "!%s: a file cannot be negated, negate its entries", path);
		return -1;
	}
	if (depth >= FILE_DEPTH) {
		buf_printf(err, "%s: files nested too deep", path);
		return -1;
	}
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		buf_printf(err, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct buf text = BUF_INIT;
	char line[4096];
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "#")] = '\0';
		buf_adds(&text, line);
		buf_addc(&text, ' ');
	}
	int bad = ferror(f);
	fclose(f);
	int rc = bad ? -1 : add_words(l, buf_str(&text), depth + 1, err);
	if (bad)
		buf_printf(err, "%s: read error", path);
	buf_free(&text);
	return rc;
}

static int add_one(struct domain_list *l, const char *word, int depth, struct buf *err)
{
	bool negate = false;
	while (*word == '!') {
		negate = !negate;
		word++;
	}
	if (*word == '\0') {
		buf_adds(err, "\"!\" without a pattern");
		return -1;
	}
	if (*word == '/')
		return add_file(l, word, negate, depth, err);
	if (map_spec_has_type(word)) {
		struct buf merr = BUF_INIT;
		struct map *m = map_open(word, 0, &merr);
		if (m == NULL) {
			buf_printf(err, "%s: %s", word, buf_str(&merr));
			buf_free(&merr);
			return -1;
		}
		buf_free(&merr);
		add_item(l, NULL, m, negate);
		return 0;
	}
	char *p = xstrdup(word);
	size_t n = strlen(p);
	while (n > 0 && p[n - 1] == '.')
		p[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		p[i] = (char)tolower((unsigned char)p[i]);
	if (n == 0) {
		free(p);
		return 0;	/* "." alone names nothing */
	}
	add_item(l, p, NULL, negate);
	return 0;
}

static int add_words(struct domain_list *l, const char *text, int depth, struct buf *err)
{
	char **words = NULL;
	int n = map_split_list(text, &words, err);
	int rc = n < 0 ? -1 : 0;
	for (int i = 0; i < n; i++) {
		if (rc == 0)
			rc = add_one(l, words[i], depth, err);
		free(words[i]);
	}
	free(words);
	return rc;
}

struct domain_list *domain_list_open(const char *value, struct buf *err)
{
	struct domain_list *l = xcalloc(1, sizeof(*l));
	if (value != NULL && add_words(l, value, 0, err) < 0) {
		domain_list_free(l);
		return NULL;
	}
	return l;
}

void domain_list_free(struct domain_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].pattern);
		if (l->items[i].map != NULL)
			map_close(l->items[i].map);
	}
	free(l->items);
	free(l);
}

bool domain_list_empty(const struct domain_list *l)
{
	return l == NULL || l->n == 0;
}

bool domain_list_changed(struct domain_list *l)
{
	for (size_t i = 0; l != NULL && i < l->n; i++)
		if (l->items[i].map != NULL && map_changed(l->items[i].map) > 0)
			return true;
	return false;
}

/* Does d (lower case, no trailing dot, length dn) match the pattern? */
static bool pattern_match(const char *p, const char *d, size_t dn)
{
	size_t pn = strlen(p);
	if (p[0] == '.')	/* subdomains only */
		return dn > pn && memcmp(d + dn - pn, p, pn) == 0;
	if (dn == pn)
		return memcmp(d, p, pn) == 0;
	/* The domain itself or a subdomain (parent_domain_matches_subdomains). */
	return dn > pn && d[dn - pn - 1] == '.' && memcmp(d + dn - pn, p, pn) == 0;
}

/* d, then each parent domain, in the table: 1 found, 0 not, -1 lookup failure. */
static int table_match(struct map *m, const char *d, struct buf *err)
{
	struct buf value = BUF_INIT;
	int rc = 0;
	for (const char *k = d; k != NULL && *k != '\0' && rc == 0;) {
		rc = map_lookup(m, k, &value);
		if (rc < 0)
			buf_printf(err, "%s:%s: %s", map_type(m), map_name(m), map_error(m));
		k = strchr(k, '.');
		if (k != NULL)
			k++;
	}
	buf_free(&value);
	return rc;
}

int domain_list_match(struct domain_list *l, const char *domain, struct buf *err)
{
	if (domain_list_empty(l) || domain == NULL)
		return 0;
	char *d = xstrdup(domain);
	size_t dn = strlen(d);
	while (dn > 0 && d[dn - 1] == '.')
		d[--dn] = '\0';
	for (size_t i = 0; i < dn; i++)
		d[i] = (char)tolower((unsigned char)d[i]);
	int rc = 0;
	for (size_t i = 0; dn > 0 && i < l->n; i++) {
		const struct item *it = &l->items[i];
		int m = it->map != NULL ? table_match(it->map, d, err) : pattern_match(it->pattern, d, dn);
		if (m < 0) {
			rc = -1;
			break;
		}
		if (m > 0) {
			rc = it->negate ? 0 : 1;
			break;
		}
	}
	free(d);
	return rc;
}
