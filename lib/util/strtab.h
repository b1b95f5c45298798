/*
 * strtab.h - an in-memory table of string keys and values that keeps
 * insertion order (for iteration) and finds keys by hashing.
 *
 * Generic utility layer; no privileges of its own. Used by the in-memory
 * map types (texthash:, inline:) and by the map source reader to spot
 * duplicate keys. Each entry also carries one unsigned number for the
 * caller (the source line where the key was first seen).
 */
#ifndef TERN_UTIL_STRTAB_H
#define TERN_UTIL_STRTAB_H

#include <stddef.h>

struct strtab_entry {
	char *key;
	char *value;
	unsigned aux;
	int deleted;
};

struct strtab {
	struct strtab_entry *entries;	/* in insertion order */
	size_t count, cap;
	size_t *slots;			/* index + 1 into entries; 0 = empty */
	size_t nslots;			/* power of two */
};

void strtab_init(struct strtab *t);
void strtab_free(struct strtab *t);
/* The live entry for key, or NULL. */
struct strtab_entry *strtab_find(const struct strtab *t, const char *key);
/*
 * Add key -> value (both copied). When the key is present already the
 * existing entry is returned unchanged unless replace is set, in which
 * case its value (and aux) is replaced. *added tells which happened.
 */
struct strtab_entry *strtab_put(struct strtab *t, const char *key, const char *value,
				unsigned aux, int replace, int *added);
/* Remove key; returns 1 when it was there. */
int strtab_delete(struct strtab *t, const char *key);
/* The entry at position *pos or later that is live (advances *pos), or NULL. */
struct strtab_entry *strtab_next(const struct strtab *t, size_t *pos);

#endif
