/*
 * strtab.c - insertion-ordered string table with a hash index (see strtab.h).
 * Generic utility layer; no privileges of its own.
 *
 * Deleted entries stay in the array marked deleted (so positions held by
 * an iterator stay valid) and keep their slot, which find() skips.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"
#include "util/strtab.h"

void strtab_init(struct strtab *t)
{
	memset(t, 0, sizeof(*t));
}

void strtab_free(struct strtab *t)
{
	for (size_t i = 0; i < t->count; i++) {
		free(t->entries[i].key);
		free(t->entries[i].value);
	}
	free(t->entries);
	free(t->slots);
	strtab_init(t);
}

static size_t hash(const char *s)
{
	/* FNV-1a: short, and good enough for table keys. */
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t *slot_for(const struct strtab *t, const char *key, int live_only)
{
	size_t mask = t->nslots - 1;
	for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
		size_t *s = &t->slots[i];
		if (*s == 0)
			return s;
		const struct strtab_entry *e = &t->entries[*s - 1];
		if ((!live_only || !e->deleted) && strcmp(e->key, key) == 0)
			return s;
	}
}

static void grow_slots(struct strtab *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 16;
	free(t->slots);
	t->slots = xcalloc(n, sizeof(*t->slots));
	t->nslots = n;
	for (size_t i = 0; i < t->count; i++) {
		size_t *s = slot_for(t, t->entries[i].key, 0);
		*s = i + 1;
	}
}

struct strtab_entry *strtab_find(const struct strtab *t, const char *key)
{
	if (t->nslots == 0)
		return NULL;
	size_t *s = slot_for(t, key, 1);
	if (*s == 0)
		return NULL;
	struct strtab_entry *e = &t->entries[*s - 1];
	return e->deleted ? NULL : e;
}

struct strtab_entry *strtab_put(struct strtab *t, const char *key, const char *value,
				unsigned aux, int replace, int *added)
{
	struct strtab_entry *e = strtab_find(t, key);
	if (e) {
		if (replace) {
			free(e->value);
			e->value = xstrdup(value);
			e->aux = aux;
		}
		if (added)
			*added = 0;
		return e;
	}
	/* Keep the load factor at or below one half. */
	if ((t->count + 1) * 2 > t->nslots)
		grow_slots(t);
	if (t->count == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->entries = xreallocarray(t->entries, t->cap, sizeof(*t->entries));
	}
	e = &t->entries[t->count++];
	e->key = xstrdup(key);
	e->value = xstrdup(value);
	e->aux = aux;
	e->deleted = 0;
	/* A deleted entry with the same key may hold a slot; take a new one. */
	size_t mask = t->nslots - 1;
	for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
		if (t->slots[i] == 0) {
			t->slots[i] = t->count;
			break;
		}
	}
	if (added)
		*added = 1;
	return e;
}

int strtab_delete(struct strtab *t, const char *key)
{
	struct strtab_entry *e = strtab_find(t, key);
	if (e == NULL)
		return 0;
	e->deleted = 1;
	return 1;
}

struct strtab_entry *strtab_next(const struct strtab *t, size_t *pos)
{
	while (*pos < t->count) {
		struct strtab_entry *e = &t->entries[(*pos)++];
		if (!e->deleted)
			return e;
	}
	return NULL;
}
