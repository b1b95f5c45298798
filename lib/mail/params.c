/*
 * params.c - THE parameter table: every main.cf parameter Tern knows,
 * with its type, default, bounds and one sentence of documentation,
 * made from the rows of params.def; param_find() and the accessors of a
 * row's texts.
 *
 * Mail layer; no privileges of its own. This one table drives the
 * defaults, load-time validation (config.c), ternconf -d/-n and the
 * generated parameter page tern-params(5).
 */
#include "compat.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The slots P_name points at (param_names.h): defined here, beside the table. */
#define PARAM_NAME_SLOTS_DEFINE
#include "mail/config.h"

/*
 * The table, made from the rows of params.def in three passes so that it
 * holds no pointer. Every program is a PIE: each pointer in static data
 * is a relocation the dynamic loader writes at each start, making a
 * private (copy-on-write) copy of the page it is in; the rows' 738
 * pointers filled six such pages at every start of every program,
 * sendmail -t included (doc/internals.md). A row holds instead the
 * offset of its texts in one block of read-only text, and its name is
 * its P_name slot (param_names.h, the same index).
 *
 * 1. struct param_text: a member per row, a char array for its texts.
 */
#define NOT_IMPLEMENTED(what) what "\0"
#define NOT_IMPLEMENTED_WORDS(words, what) words "\0" what "\0"
#define ROW(n, type_, flags_, d, ch, lo, hi, u, doc_, ...) \
	char s_##n[sizeof(d "\0" ch "\0" __VA_ARGS__ doc_)];
struct param_text {
#include "mail/params.def"
};
#undef ROW

/*
 * 2. The block: a row's texts one after another, each with its NUL:
 * default, choices ("" for none), then what NOT_IMPLEMENTED says (the
 * row has PARAM_F_UNIMPLEMENTED), NOT_IMPLEMENTED_WORDS's words and why
 * (PARAM_F_UNIMPLEMENTED_WORDS), and last the doc (row_text() below).
 */
#define ROW(n, type_, flags_, d, ch, lo, hi, u, doc_, ...) \
	d "\0" ch "\0" __VA_ARGS__ doc_,
static const struct param_text param_text = {
#include "mail/params.def"
};
#undef ROW
#undef NOT_IMPLEMENTED
#undef NOT_IMPLEMENTED_WORDS

/* 3. The rows: the offset of their texts; a NOT_IMPLEMENTED mark adds its flag to the row's. */
#define NOT_IMPLEMENTED(what) | PARAM_F_UNIMPLEMENTED
#define NOT_IMPLEMENTED_WORDS(words, what) | PARAM_F_UNIMPLEMENTED_WORDS
#define ROW(n, type_, flags_, d, ch, lo, hi, u, doc_, ...) \
	{ .type = (type_), .flags = (flags_) __VA_ARGS__, .min = (lo), .max = (hi), .unit = (u), \
	  .text = offsetof(struct param_text, s_##n) },
const struct param_def param_table[] = {
#include "mail/params.def"
};
#undef ROW
#undef NOT_IMPLEMENTED
#undef NOT_IMPLEMENTED_WORDS

const unsigned param_count = sizeof(param_table) / sizeof(param_table[0]);

/* One slot per row, in the table's order (param_names.awk makes both from the rows). */
_Static_assert(sizeof(param_name_slot) / sizeof(param_name_slot[0]) ==
	       sizeof(param_table) / sizeof(param_table[0]),
	       "param_names.h has a slot for every row of param_table");

static int slot_cmp(const void *key, const void *slot)
{
	return strcmp(key, slot);
}

/*
 * A P_name is the slot of its row's index: the row at once (the daemons
 * look up dozens of parameters per message). Any other name (from
 * main.cf, a $name in a value, ternconf's arguments) by binary search
 * of the slots, which are in the rows' order.
 */
const struct param_def *param_find(const char *name)
{
	if (name == NULL)
		return NULL;
	uintptr_t off = (uintptr_t)name - (uintptr_t)param_name_slot;
	if (off < sizeof(param_name_slot) && off % PARAM_NAME_SLOT == 0)
		return &param_table[off / PARAM_NAME_SLOT];
	const char(*slot)[PARAM_NAME_SLOT] =
		bsearch(name, param_name_slot, param_count, sizeof(param_name_slot[0]), slot_cmp);
	return slot != NULL ? &param_table[slot - param_name_slot] : NULL;
}

const char *param_name(const struct param_def *p)
{
	return param_name_slot[p - param_table];
}

/* The row's NTH text (0: the default), in the order of pass 2 above. */
static const char *row_text(const struct param_def *p, unsigned nth)
{
	const char *s = (const char *)&param_text + p->text;
	while (nth-- > 0)
		s += strlen(s) + 1;
	return s;
}

/* How many texts come before the doc: default, choices, then the marks' texts. */
static unsigned texts_before_doc(const struct param_def *p)
{
	return 2 + ((p->flags & PARAM_F_UNIMPLEMENTED) ? 1 : 0) +
	       ((p->flags & PARAM_F_UNIMPLEMENTED_WORDS) ? 2 : 0);
}

const char *param_default_text(const struct param_def *p)
{
	return (p->flags & PARAM_F_COMPUTED) ? NULL : row_text(p, 0);
}

const char *param_choices(const struct param_def *p)
{
	const char *choices = row_text(p, 1);
	return *choices != '\0' ? choices : NULL;
}

const char *param_doc(const struct param_def *p)
{
	return row_text(p, texts_before_doc(p));
}

const char *param_unimplemented(const struct param_def *p)
{
	return (p->flags & PARAM_F_UNIMPLEMENTED) ? row_text(p, 2) : NULL;
}

const char *param_unimplemented_choices(const struct param_def *p)
{
	return (p->flags & PARAM_F_UNIMPLEMENTED_WORDS) ? row_text(p, texts_before_doc(p) - 2) : NULL;
}

const char *param_unimplemented_choices_why(const struct param_def *p)
{
	return (p->flags & PARAM_F_UNIMPLEMENTED_WORDS) ? row_text(p, texts_before_doc(p) - 1) : NULL;
}

/*
 * The host name as the system knows it, without any DNS lookup (an
 * instance must never need DNS). gethostname() may truncate without a
 * NUL, hence the explicit terminator.
 */
static const char *system_host_name(void)
{
	static char host[256];
	if (host[0] == '\0') {
		if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
	}
	return host;
}

/*
 * As Postfix: a host name without a dot gets ".localdomain" (config.c
 * uses $mydomain instead when main.cf sets it); mydomain is myhostname
 * without its first label, or "localdomain".
 */
const char *param_default(const struct param_def *p)
{
	static char fqdn[300];

	if (p == NULL)
		return NULL;
	const char *def = param_default_text(p);
	if (def != NULL)
		return def;
	if (p == param_find(P_myhostname)) {
		const char *host = system_host_name();
		if (strchr(host, '.') != NULL)
			return host;
		strlcpy(fqdn, host, sizeof(fqdn));
		strlcat(fqdn, ".localdomain", sizeof(fqdn));
		return fqdn;
	}
	if (p == param_find(P_mydomain)) {
		const char *dot = strchr(system_host_name(), '.');
		return dot != NULL && dot[1] != '\0' ? dot + 1 : "localdomain";
	}
	if (p == param_find(P_config_directory))
		return config_default_dir();
	return "";
}

const char *param_type_name(enum param_type type)
{
	switch (type) {
	case PARAM_STRING: return "string";
	case PARAM_BOOL: return "boolean";
	case PARAM_INT: return "integer";
	case PARAM_TIME: return "time";
	case PARAM_SIZE: return "size";
	case PARAM_LIST: return "list";
	case PARAM_MAPS: return "maps";
	}
	return "string";
}
