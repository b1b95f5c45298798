/*
 * param_value.c - typed parameter values: booleans, integers, times,
 * sizes, lists and lists of maps, parsed and checked against the
 * bounds of the parameter table.
 *
 * Mail layer; no privileges of its own. Values come from main.cf, which
 * may be hostile: every parser here is bounded and overflow-checked.
 */
#include "compat.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/config.h"
#include "mail/tls_proto.h"
#include "util/mem.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int param_parse_bool(const char *text, bool *value)
{
	if (strcasecmp(text, "yes") == 0) {
		*value = true;
		return 0;
	}
	if (strcasecmp(text, "no") == 0) {
		*value = false;
		return 0;
	}
	return -1;
}

/* Decimal digits with an optional leading '-'; the end is returned. */
static const char *parse_number(const char *s, long long *value)
{
	bool neg = false;
	long long v = 0;

	if (*s == '-') {
		neg = true;
		s++;
	}
	if (*s < '0' || *s > '9')
		return NULL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, *s - '0', &v))
			return NULL;
	}
	*value = neg ? -v : v;
	return s;
}

int param_parse_int(const char *text, long long *value)
{
	const char *end = parse_number(text, value);
	return end != NULL && *end == '\0' ? 0 : -1;
}

static long long unit_seconds(char unit)
{
	switch (unit) {
	case 's': return 1;
	case 'm': return 60;
	case 'h': return 3600;
	case 'd': return 86400;
	case 'w': return 7 * 86400;
	}
	return 0;
}

int param_parse_time(const char *text, char unit, long long *seconds)
{
	long long n, mul;
	const char *end = parse_number(text, &n);

	if (end == NULL || n < 0)
		return -1;
	if (*end == '\0')
		mul = unit_seconds(unit ? unit : 's');
	else if (end[1] == '\0')
		mul = unit_seconds(*end);
	else
		return -1;
	if (mul == 0 || __builtin_mul_overflow(n, mul, seconds))
		return -1;
	return 0;
}

bool config_map_type_known(const char *type, size_t len)
{
	static const char *const types[] = { "hash", "btree", "texthash", "inline", "static", "regexp" };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == len && memcmp(types[i], type, len) == 0)
			return true;
	return false;
}

/*
 * Items are separated by commas and/or white space; a {...} group
 * (balanced) stays inside its item, so "inline:{ a=b, c=d }" and
 * "check_client_access inline:{...}" split as Postfix splits them.
 */
char **config_split_list(const char *value)
{
	size_t n = 0, cap = 8;
	char **list = xreallocarray(NULL, cap, sizeof(*list));
	const char *s = value;

	for (;;) {
		while (*s == ',' || is_space(*s))
			s++;
		if (*s == '\0')
			break;
		const char *start = s;
		int level = 0;
		for (; *s != '\0'; s++) {
			if (*s == '{')
				level++;
			else if (*s == '}' && level > 0)
				level--;
			else if (level == 0 && (*s == ',' || is_space(*s)))
				break;
		}
		if (n + 1 >= cap) {
			cap *= 2;
			list = xreallocarray(list, cap, sizeof(*list));
		}
		list[n++] = xstrndup(start, (size_t)(s - start));
	}
	list[n] = NULL;
	return list;
}

void config_free_list(char **list)
{
	if (list == NULL)
		return;
	for (char **p = list; *p != NULL; p++)
		free(*p);
	free(list);
}

/* Is word one of the space-separated choices? */
static bool is_choice(const char *choices, const char *word)
{
	size_t wlen = strlen(word);
	const char *c = choices;
	while (*c != '\0') {
		while (*c == ' ')
			c++;
		size_t n = strcspn(c, " ");
		if (n == wlen && n > 0 && strncasecmp(c, word, n) == 0)
			return true;
		c += n;
	}
	return false;
}

/* "90s" -> "90s", 86400 -> "1d": bounds in the unit an admin reads. */
static void add_time(struct buf *b, long long secs)
{
	static const char units[] = "wdhm";
	for (const char *u = units; *u; u++) {
		long long m = unit_seconds(*u);
		if (secs != 0 && secs % m == 0) {
			buf_printf(b, "%lld%c", secs / m, *u);
			return;
		}
	}
	buf_printf(b, "%llds", secs);
}

/*
 * The file a map spec names when it is not an absolute path: daemons run
 * in queue_directory, so "hash:run/maps" would be looked for there and
 * every lookup would fail (451 for every message). NULL when the map is
 * not a file (inline:, static:, regexp:{...}, types Tern does not know)
 * or absolute.
 */
const char *config_map_relative(const char *spec)
{
	const char *colon = strchr(spec, ':');
	const char *name = spec;
	if (colon != NULL && colon != spec && spec[0] != '/') {
		size_t n = (size_t)(colon - spec);
		if (!(n == 4 && memcmp(spec, "hash", 4) == 0) && !(n == 5 && memcmp(spec, "btree", 5) == 0)
		    && !(n == 8 && memcmp(spec, "texthash", 8) == 0)
		    && !(n == 6 && memcmp(spec, "regexp", 6) == 0))
			return NULL;
		name = colon + 1;
	}
	/* regexp:{ ... } holds its rules, not a file name. */
	return *name != '\0' && *name != '/' && *name != '{' ? name : NULL;
}

static void relative_why(struct buf *why, const char *name)
{
	buf_adds(why, "expected an absolute file name in each type:name map (");
	buf_adds(why, name);
	buf_adds(why, " is relative, and the daemons run in queue_directory)");
}

static int check_maps(const char *value, struct buf *why)
{
	char **items = config_split_list(value);
	const char *relative = NULL;
	int rc = 0, pcre = 0;
	for (char **it = items; *it != NULL; it++) {
		const char *colon = strchr(*it, ':');
		if (colon == NULL || colon == *it || colon[1] == '\0' ||
		    !config_map_type_known(*it, (size_t)(colon - *it)) ||
		    (strncmp(*it, "inline:", 7) == 0 &&
		     (colon[1] != '{' || (*it)[strlen(*it) - 1] != '}'))) {
			/* A table copied from Postfix: say what to use instead. */
			pcre = strncmp(*it, "pcre:", 5) == 0;
			rc = -1;
			break;
		}
		if ((relative = config_map_relative(*it)) != NULL) {
			relative_why(why, relative);
			rc = -2;
			break;
		}
	}
	config_free_list(items);
	if (rc == -1 && pcre)
		buf_adds(why, "expected regexp: instead of pcre: (Tern has no PCRE; regexp: "
			 "reads the same file format with POSIX regular expressions)");
	else if (rc == -1)
		buf_adds(why, "expected a list of type:name maps, types hash, btree, "
			 "texthash, regexp, inline:{...} or static");
	return rc < 0 ? -1 : 0;
}

/*
 * Restriction lists (smtpd_*_restrictions) name maps after the
 * check_*_access words: those must be absolute files too.
 */
static int check_restriction_maps(const char *value, struct buf *why)
{
	char **items = config_split_list(value);
	int rc = 0;
	for (char **it = items; *it != NULL && it[1] != NULL && rc == 0; it++) {
		size_t n = strlen(*it);
		if (strncasecmp(*it, "check_", 6) != 0 || n < 13 || strcasecmp(*it + n - 7, "_access") != 0)
			continue;
		/* A bare name is smtp_policy_list_check()'s to refuse ("needs a type:table"). */
		const char *relative = strchr(it[1], ':') ? config_map_relative(it[1]) : NULL;
		if (relative != NULL) {
			relative_why(why, relative);
			rc = -1;
		}
		it++;
	}
	config_free_list(items);
	return rc;
}

static int check_choices(const struct param_def *p, const char *value, struct buf *why)
{
	const char *choices = param_choices(p), *def = param_default_text(p);
	int rc = 0;
	if (p->type == PARAM_STRING) {
		if (*value == '\0' && def != NULL && *def == '\0')
			return 0;
		if (!is_choice(choices, value))
			rc = -1;
	} else {
		char **items = config_split_list(value);
		for (char **it = items; *it != NULL && rc == 0; it++)
			if (!is_choice(choices, *it))
				rc = -1;
		config_free_list(items);
	}
	if (rc < 0)
		buf_printf(why, "expected %s of: %s",
			   p->type == PARAM_STRING ? "one" : "a list", choices);
	return rc;
}

/* Does name end with suffix? */
static bool ends_with(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);
	return n >= k && strcmp(name + n - k, suffix) == 0;
}

int param_check(const struct param_def *p, const char *value, struct buf *why)
{
	const char *name = param_name(p);
	long long n;
	bool b;

	switch (p->type) {
	case PARAM_STRING:
	case PARAM_LIST:
		if (p->type == PARAM_LIST && ends_with(name, "_restrictions"))
			return check_restriction_maps(value, why);
		if (param_choices(p) != NULL)
			return check_choices(p, value, why);
		if (ends_with(name, "tls_protocols") || ends_with(name, "tls_mandatory_protocols")) {
			unsigned allowed;
			return tls_protocols_parse(value, &allowed, why);
		}
		return 0;
	case PARAM_MAPS:
		return check_maps(value, why);
	case PARAM_BOOL:
		if (param_parse_bool(value, &b) == 0)
			return 0;
		buf_adds(why, "expected yes or no");
		return -1;
	case PARAM_INT:
	case PARAM_SIZE:
		if (param_parse_int(value, &n) == 0 && n >= p->min && n <= p->max)
			return 0;
		buf_printf(why, "expected %s from %lld to %lld",
			   p->type == PARAM_INT ? "an integer" : "a size in bytes",
			   p->min, p->max);
		return -1;
	case PARAM_TIME:
		if (param_parse_time(value, p->unit, &n) == 0 && n >= p->min && n <= p->max)
			return 0;
		buf_adds(why, "expected a time (a number with unit s, m, h, d or w; default ");
		buf_printf(why, "%c) from ", p->unit ? p->unit : 's');
		add_time(why, p->min);
		buf_adds(why, " to ");
		add_time(why, p->max);
		return -1;
	}
	return 0;
}
