/*
 * config.c - main.cf: reading, validation and typed access (config.h).
 *
 * Mail layer; runs with the privileges of whichever program links it,
 * including the setgid terndrop, so main.cf is treated as untrusted
 * text: its size is capped, NUL bytes and malformed lines are errors,
 * and expansion is bounded (config_expand.c).
 *
 * Syntax as Postfix reads it (checked against postconf): a logical line
 * starts in column one; lines that start with white space continue it
 * (joined with one space); lines whose first non-blank is '#' and blank
 * lines are skipped, also inside a continued line; "name = value" with
 * white space around both trimmed. A later setting overrides an earlier
 * one. Values are stored as written and expanded when read.
 *
 * Every known parameter is expanded and checked against its type when
 * main.cf is loaded, so a bad value fails at start-up with one line
 * (FILE, line N: parameter NAME: bad value "V": expected ...), never
 * later in the middle of a delivery. (With config_set_lazy_defaults, a
 * default that is a constant is checked when first read instead: every
 * such default passes its own check, tests/unit/test_params.c.)
 */
#include "compat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/config_expand.h"
#include "mail/config_impl.h"
#include "util/log.h"
#include "util/mem.h"

#ifndef TERN_CONF_DIR
#define TERN_CONF_DIR "/etc/tern"
#endif

#define MAIN_CF_MAX (16u << 20)		/* bytes; main.cf is a few KB */

/* Expanded values of parameters not in the table (user-defined names). */
struct extra {
	char *name;
	char *value;
	char **list;
};

static struct {
	char dir[4096];
	char file[4200];
	struct setting *set;	/* sorted by name, unique */
	size_t nset;
	const char **names;	/* cfg_set_names() */
	/* Per table row, filled lazily. */
	char **str;
	char ***list;
	/*
	 * cfg_bool/cfg_int's parsed value of str[i] (num_kind: 0 none yet,
	 * NUM_BOOL, NUM_INT): a daemon reads some of them several times a
	 * message, and parsing each time cost thousands of instructions.
	 * Dropped with str[i] (drop_caches), so a cfg_set or a new load is seen.
	 */
	long long *num;
	unsigned char *num_kind;
	/* Pointers handed out before a cfg_set(): kept valid until the next load. */
	char **retired;
	size_t nretired;
	struct extra *extra;
	size_t nextra;
	/* Computed defaults that depend on main.cf (myhostname, mydomain). */
	char *def_myhostname;
	char *def_mydomain;
	unsigned warnings;
} C;

const char *config_builtin_dir(void)
{
	return TERN_CONF_DIR;
}

const char *config_default_dir(void)
{
	const char *env = getenv("TERN_CONFIG_DIR");
	return env != NULL && *env != '\0' ? env : TERN_CONF_DIR;
}

const char *config_dir(void)
{
	return C.dir[0] ? C.dir : config_default_dir();
}

const char *config_file(void)
{
	if (C.file[0] == '\0') {
		strlcpy(C.file, config_dir(), sizeof(C.file));
		strlcat(C.file, "/main.cf", sizeof(C.file));
	}
	return C.file;
}

static size_t pindex(const struct param_def *p)
{
	return (size_t)(p - param_table);
}

static void ensure_init(void)
{
	if (C.str == NULL) {
		C.str = xcalloc(param_count, sizeof(*C.str));
		C.list = xcalloc(param_count, sizeof(*C.list));
		C.num = xcalloc(param_count, sizeof(*C.num));
		C.num_kind = xcalloc(param_count, sizeof(*C.num_kind));
	}
}

static void retire(char *s)
{
	if (s == NULL)
		return;
	C.retired = xreallocarray(C.retired, C.nretired + 1, sizeof(*C.retired));
	C.retired[C.nretired++] = s;
}

/* Forget cached expansions; the strings stay valid until the next load. */
static void drop_caches(void)
{
	ensure_init();
	for (unsigned i = 0; i < param_count; i++) {
		retire(C.str[i]);
		C.str[i] = NULL;
		C.num_kind[i] = 0;
		if (C.list[i] != NULL) {
			for (char **p = C.list[i]; *p; p++)
				retire(*p);
			retire((char *)C.list[i]);
			C.list[i] = NULL;
		}
	}
	for (size_t i = 0; i < C.nextra; i++) {
		retire(C.extra[i].name);
		retire(C.extra[i].value);
		if (C.extra[i].list != NULL) {
			for (char **p = C.extra[i].list; *p; p++)
				retire(*p);
			retire((char *)C.extra[i].list);
		}
	}
	free(C.extra);
	C.extra = NULL;
	C.nextra = 0;
	free(C.names);
	C.names = NULL;
}

/* Back to defaults only; every pointer handed out becomes invalid. */
static void reset_all(void)
{
	drop_caches();
	for (size_t i = 0; i < C.nretired; i++)
		free(C.retired[i]);
	free(C.retired);
	C.retired = NULL;
	C.nretired = 0;
	for (size_t i = 0; i < C.nset; i++) {
		free(C.set[i].name);
		free(C.set[i].value);
	}
	free(C.set);
	C.set = NULL;
	C.nset = 0;
	free(C.def_myhostname);
	free(C.def_mydomain);
	C.def_myhostname = C.def_mydomain = NULL;
	C.warnings = 0;
}

static struct setting *find_setting(const char *name)
{
	size_t lo = 0, hi = C.nset;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, C.set[mid].name);
		if (c == 0)
			return &C.set[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The value of an unset parameter as written (computed ones filled in). */
static const char *default_text(const struct param_def *p)
{
	if (p == param_find(P_myhostname) && C.def_myhostname != NULL)
		return C.def_myhostname;
	if (p == param_find(P_mydomain) && C.def_mydomain != NULL)
		return C.def_mydomain;
	if (p == param_find(P_config_directory))
		return config_dir();
	return param_default(p);
}

/* Value as written: main.cf, else the default; NULL when unknown and unset. */
static const char *raw_value(const char *name)
{
	struct setting *s = find_setting(name);
	if (s != NULL)
		return s->value;
	const struct param_def *p = param_find(name);
	return p != NULL ? default_text(p) : NULL;
}

/* Names a value refers to that nothing defines (probably typing errors). */
struct undefined {
	char *names[8];
	unsigned n;
};

static int conf_lookup(void *ctx, const char *name, const char **value, bool *literal)
{
	struct undefined *u = ctx;
	*literal = false;
	struct setting *s = find_setting(name);
	if (s != NULL) {
		s->used = true;
		*value = s->value;
		return 1;
	}
	const struct param_def *p = param_find(name);
	if (p == NULL) {
		if (u != NULL && u->n < sizeof(u->names) / sizeof(u->names[0])) {
			for (unsigned i = 0; i < u->n; i++)
				if (strcmp(u->names[i], name) == 0)
					return 0;
			u->names[u->n++] = xstrdup(name);
		}
		return 0;
	}
	*value = default_text(p);
	return 1;
}

int config_expand_checked(const char *text, struct buf *out, struct buf *err)
{
	return expand_macros(NULL, text, conf_lookup, NULL, out, err);
}

void config_expand(const char *text, struct buf *out)
{
	struct buf err = BUF_INIT;
	size_t start = out->len;
	if (expand_macros(NULL, text, conf_lookup, NULL, out, &err) < 0) {
		/* Load-time checks make this rare; keep the text as written. */
		buf_truncate(out, start);
		buf_adds(out, text);
	}
	buf_free(&err);
}

struct var_ctx {
	config_var_fn fn;
	void *ctx;
};

static int var_lookup(void *ctx, const char *name, const char **value, bool *literal)
{
	struct var_ctx *v = ctx;
	if (v->fn != NULL && v->fn(v->ctx, name, value) > 0) {
		*literal = true;
		return *value != NULL;
	}
	return conf_lookup(NULL, name, value, literal);
}

int config_expand_vars(const char *text, config_var_fn lookup, void *ctx,
		       struct buf *out, struct buf *err)
{
	struct var_ctx v = { lookup, ctx };
	return expand_macros(NULL, text, var_lookup, &v, out, err);
}

/*
 * myhostname without a dot gets .$mydomain when main.cf sets mydomain
 * (else .localdomain); an unset mydomain follows a set myhostname.
 */
static void compute_defaults(void)
{
	free(C.def_myhostname);
	free(C.def_mydomain);
	C.def_myhostname = C.def_mydomain = NULL;
	const char *sys = param_default(param_find(P_myhostname));
	bool host_set = find_setting(P_myhostname) != NULL;
	bool dom_set = find_setting(P_mydomain) != NULL;

	if (!host_set && dom_set) {
		const char *dot = strstr(sys, ".localdomain");
		if (dot != NULL && dot[12] == '\0')
			C.def_myhostname = xasprintf("%.*s.$mydomain", (int)(dot - sys), sys);
	}
	if (host_set && !dom_set) {
		struct buf host = BUF_INIT, err = BUF_INIT;
		if (config_expand_checked(find_setting(P_myhostname)->value, &host, &err) == 0) {
			const char *dot = strchr(buf_str(&host), '.');
			C.def_mydomain = xstrdup(dot != NULL && dot[1] != '\0' ? dot + 1 : "localdomain");
		}
		buf_free(&host);
		buf_free(&err);
	}
}

static void bad_value(struct buf *err, const char *label, unsigned line, const char *name,
		      const char *value, bool is_default, const char *why)
{
	config_where(err, label, line);
	buf_printf(err, "parameter %s: bad %s ", name, is_default ? "default" : "value");
	config_add_value(err, value);
	buf_printf(err, ": %s", why);
}

static unsigned checked_count;	/* config_checked_count */

/* Expand and check one known parameter; fills its cache. */
static int validate(const struct param_def *p, const char *label, struct buf *err)
{
	size_t i = pindex(p);
	const char *name = param_name(p);
	struct setting *s = find_setting(name);
	const char *raw = s != NULL ? s->value : default_text(p);
	unsigned line = s != NULL ? s->line : 0;
	struct buf val = BUF_INIT, why = BUF_INIT;
	int rc = 0;

	struct undefined u = { .n = 0 };
	checked_count++;
	if (p->flags & PARAM_F_RAW) {
		buf_adds(&val, raw);
	} else if (expand_macros(name, raw, conf_lookup, &u, &val, &why) < 0) {
		bad_value(err, label, line, name, raw, s == NULL, buf_str(&why));
		rc = -1;
	}
	for (unsigned k = 0; k < u.n; k++) {
		if (rc == 0) {
			char *what = xasprintf("parameter %s: undefined parameter: %s", name, u.names[k]);
			config_warn_line(&C.warnings, label, line, "%s", what);
			free(what);
		}
		free(u.names[k]);
	}
	if (rc == 0 && param_check(p, buf_str(&val), &why) < 0) {
		bad_value(err, label, line, name, raw, s == NULL, buf_str(&why));
		rc = -1;
	}
	/*
	 * A copy of its own size, not the buffer (64 bytes at least): a load
	 * keeps hundreds of these, and every page of heap they fill is a page
	 * fault in each process that loads main.cf (sendmail -t's among them).
	 */
	if (rc == 0 && C.str[i] == NULL)
		C.str[i] = xstrdup(buf_str(&val));
	buf_free(&val);
	buf_free(&why);
	return rc;
}

static bool lazy_defaults;

void config_set_lazy_defaults(bool lazy)
{
	lazy_defaults = lazy;
}

unsigned config_checked_count(void)
{
	return checked_count;
}

/* Left to cfg_str (config_set_lazy_defaults): unset, and its default constant. */
static bool lazy_default(const struct param_def *p)
{
	const char *def = param_default_text(p);	/* NULL when computed */
	return lazy_defaults && def != NULL && strchr(def, '$') == NULL &&
	       find_setting(param_name(p)) == NULL && default_text(p) == def;
}

int config_load_buffer(const char *label, const char *data, size_t len, struct buf *err)
{
	struct buf tmp = BUF_INIT;
	struct buf *e = err != NULL ? err : &tmp;
	int rc;

	reset_all();
	ensure_init();
	checked_count = 0;
	rc = config_parse(label, data, len, &C.set, &C.nset, &C.warnings, e);
	if (rc == 0) {
		compute_defaults();
		/* Set parameters first, in file order, so the first error is the first bad line. */
		const struct setting **byline = xreallocarray(NULL, C.nset + 1, sizeof(*byline));
		size_t n = 0;
		for (size_t i = 0; i < C.nset; i++)
			if (param_find(C.set[i].name) != NULL)
				byline[n++] = &C.set[i];
		for (size_t a = 1; a < n; a++) {	/* insertion sort by line: n is small */
			const struct setting *t = byline[a];
			size_t b = a;
			for (; b > 0 && byline[b - 1]->line > t->line; b--)
				byline[b] = byline[b - 1];
			byline[b] = t;
		}
		for (size_t k = 0; k < n && rc == 0; k++)
			rc = validate(param_find(byline[k]->name), label, e);
		free(byline);
		for (unsigned i = 0; i < param_count && rc == 0; i++)
			if (C.str[i] == NULL && !lazy_default(&param_table[i]))
				rc = validate(&param_table[i], label, e);
	}
	if (rc == 0) {
		/* Names no parameter uses are probably typing errors. */
		for (size_t i = 0; i < C.nset; i++)
			if (!C.set[i].used && param_find(C.set[i].name) == NULL)
				config_warn_line(&C.warnings, label, C.set[i].line, "unknown parameter: %s",
					 C.set[i].name);
		if (C.warnings > CONFIG_MAX_WARNINGS)
			msg_warn("%s: %u more warnings not shown", label, C.warnings - CONFIG_MAX_WARNINGS);
	}
	buf_free(&tmp);
	return rc;
}

int config_load(const char *dir, bool missing_ok, struct buf *err)
{
	struct buf tmp = BUF_INIT, data = BUF_INIT;
	struct buf *e = err != NULL ? err : &tmp;
	int rc = -1;

	if (dir == NULL || *dir == '\0')
		dir = config_default_dir();
	if (strlen(dir) >= sizeof(C.dir)) {
		buf_printf(e, "configuration directory name too long");
		goto out;
	}
	strlcpy(C.dir, dir, sizeof(C.dir));
	strlcpy(C.file, dir, sizeof(C.file));
	strlcat(C.file, "/main.cf", sizeof(C.file));

	int fd = open(C.file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && missing_ok) {
			rc = config_load_buffer(C.file, "", 0, e);
			goto out;
		}
		buf_printf(e, "open %s: %s", C.file, strerror(errno));
		reset_all();
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		buf_printf(e, "%s: not a regular file", C.file);
		close(fd);
		reset_all();
		goto out;
	}
	if (st.st_size > (off_t)MAIN_CF_MAX) {
		buf_printf(e, "%s: larger than %u bytes", C.file, MAIN_CF_MAX);
		close(fd);
		reset_all();
		goto out;
	}
	if (buf_read_fd(&data, fd, MAIN_CF_MAX) < 0) {
		if (errno == EFBIG)
			buf_printf(e, "%s: larger than %u bytes", C.file, MAIN_CF_MAX);
		else
			buf_printf(e, "read %s: %s", C.file, strerror(errno));
		close(fd);
		reset_all();
		goto out;
	}
	close(fd);
	rc = config_load_buffer(C.file, buf_str(&data), data.len, e);
out:
	buf_free(&data);
	buf_free(&tmp);
	return rc;
}

/* Expanded value of a name outside the table, kept until the next load. */
static struct extra *extra_value(const char *name)
{
	for (size_t i = 0; i < C.nextra; i++)
		if (strcmp(C.extra[i].name, name) == 0)
			return &C.extra[i];
	C.extra = xreallocarray(C.extra, C.nextra + 1, sizeof(*C.extra));
	struct extra *x = &C.extra[C.nextra++];
	struct buf v = BUF_INIT;
	const char *raw = raw_value(name);
	if (raw != NULL)
		config_expand(raw, &v);
	x->name = xstrdup(name);
	x->value = buf_steal(&v);
	if (x->value == NULL)
		x->value = xstrdup("");
	x->list = NULL;
	return x;
}

const char *cfg_str(const char *name)
{
	const struct param_def *p = param_find(name);
	ensure_init();
	if (p == NULL)
		return extra_value(name)->value;
	size_t i = pindex(p);
	if (C.str[i] == NULL) {
		const char *raw = raw_value(name);
		if (p->flags & PARAM_F_RAW) {
			C.str[i] = xstrdup(raw);
		} else {
			struct buf v = BUF_INIT;
			config_expand(raw, &v);
			C.str[i] = buf_steal(&v);
			if (C.str[i] == NULL)
				C.str[i] = xstrdup("");
		}
	}
	return C.str[i];
}

const char *cfg_raw(const char *name)
{
	const char *raw = raw_value(name);
	return raw != NULL ? raw : "";
}

bool cfg_is_set(const char *name)
{
	return find_setting(name) != NULL;
}

unsigned cfg_line(const char *name)
{
	struct setting *s = find_setting(name);
	return s != NULL ? s->line : 0;
}

enum { NUM_BOOL = 1, NUM_INT = 2 };

static bool parse_bool(const struct param_def *p, const char *v)
{
	bool b = false;
	const char *def = p != NULL ? param_default_text(p) : NULL;
	if (param_parse_bool(v, &b) < 0 && def != NULL)
		(void)param_parse_bool(def, &b);
	return b;
}

bool cfg_bool(const char *name)
{
	const struct param_def *p = param_find(name);
	if (p == NULL)
		return parse_bool(NULL, cfg_str(name));
	size_t i = pindex(p);
	if (C.num_kind == NULL || __atomic_load_n(&C.num_kind[i], __ATOMIC_ACQUIRE) != NUM_BOOL) {
		const char *v = cfg_str(name);	/* also ensure_init() */
		C.num[i] = parse_bool(p, v);
		/* The kind after the value (release): see cfg_int. */
		__atomic_store_n(&C.num_kind[i], NUM_BOOL, __ATOMIC_RELEASE);
	}
	return C.num[i] != 0;
}

static long long parse_int(const struct param_def *p, const char *v)
{
	long long n = 0;
	const char *def = p != NULL ? param_default_text(p) : NULL;

	if (p != NULL && p->type == PARAM_TIME) {
		if (param_parse_time(v, p->unit, &n) < 0 && def != NULL)
			(void)param_parse_time(def, p->unit, &n);
		return n;
	}
	if (param_parse_int(v, &n) < 0 && def != NULL)
		(void)param_parse_int(def, &n);
	return n;
}

long long cfg_int(const char *name)
{
	const struct param_def *p = param_find(name);
	if (p == NULL)
		return parse_int(NULL, cfg_str(name));
	size_t i = pindex(p);
	if (C.num_kind == NULL || __atomic_load_n(&C.num_kind[i], __ATOMIC_ACQUIRE) != NUM_INT) {
		const char *v = cfg_str(name);	/* also ensure_init() */
		C.num[i] = parse_int(p, v);
		/*
		 * The kind is stored after the value (release) and read before it
		 * (acquire), so a reader never takes a kind for a value not yet
		 * written. Config is read from the loop thread of each daemon;
		 * one row read as a boolean and as a number from two threads at
		 * once could still mix the two readings: do not.
		 */
		__atomic_store_n(&C.num_kind[i], NUM_INT, __ATOMIC_RELEASE);
	}
	return C.num[i];
}

char **cfg_list(const char *name)
{
	const struct param_def *p = param_find(name);
	ensure_init();
	if (p == NULL) {
		struct extra *x = extra_value(name);
		if (x->list == NULL)
			x->list = config_split_list(x->value);
		return x->list;
	}
	size_t i = pindex(p);
	if (C.list[i] == NULL)
		C.list[i] = config_split_list(cfg_str(name));
	return C.list[i];
}

int cfg_set(const char *name, const char *value, struct buf *err)
{
	struct buf tmp = BUF_INIT;
	struct buf *e = err != NULL ? err : &tmp;
	const struct param_def *p = param_find(name);
	int rc = 0;

	if (!config_valid_name(name, strlen(name))) {
		buf_printf(e, "bad parameter name: %s", name);
		buf_free(&tmp);
		return -1;
	}
	drop_caches();
	struct setting *s = find_setting(name);
	char *old = NULL;
	if (s != NULL) {
		old = s->value;
		s->value = xstrdup(value);
	} else {
		C.set = xreallocarray(C.set, C.nset + 1, sizeof(*C.set));
		size_t at = 0;
		while (at < C.nset && strcmp(C.set[at].name, name) < 0)
			at++;
		memmove(&C.set[at + 1], &C.set[at], (C.nset - at) * sizeof(*C.set));
		C.set[at] = (struct setting){ .name = xstrdup(name), .value = xstrdup(value) };
		C.nset++;
		s = &C.set[at];
	}
	s->line = 0;
	compute_defaults();
	if (p != NULL) {
		rc = validate(p, "-o", e);
		if (rc < 0) {
			/* Undo: keep the configuration valid. */
			drop_caches();
			if (old != NULL) {
				free(s->value);
				s->value = old;
				old = NULL;
			} else {
				size_t at = (size_t)(s - C.set);
				free(s->name);
				free(s->value);
				memmove(&C.set[at], &C.set[at + 1], (C.nset - at - 1) * sizeof(*C.set));
				C.nset--;
			}
			compute_defaults();
		}
	}
	retire(old);
	buf_free(&tmp);
	return rc;
}

const char *const *cfg_set_names(void)
{
	if (C.names == NULL) {
		C.names = xreallocarray(NULL, C.nset + 1, sizeof(*C.names));
		for (size_t i = 0; i < C.nset; i++)
			C.names[i] = C.set[i].name;
		C.names[C.nset] = NULL;
	}
	return C.names;
}

/* The words of p's value that Tern accepts but does not act on: one warning each. */
static unsigned warn_unimplemented_words(const struct param_def *p)
{
	const char *name = param_name(p), *why = param_unimplemented_choices_why(p);
	unsigned n = 0, line = cfg_line(name);

	for (char **w = cfg_list(name); w != NULL && *w != NULL; w++) {
		size_t len = strlen(*w);
		const char *c = param_unimplemented_choices(p);
		bool found = false;

		while (*c != '\0' && !found) {
			size_t k = strcspn(c, " ");
			found = k == len && strncasecmp(c, *w, len) == 0;
			c += k;
			c += strspn(c, " ");
		}
		if (!found)
			continue;
		if (line > 0)
			msg_warn("%s, line %u: %s lists %s, but Tern does not implement it: %s",
				 config_file(), line, name, *w, why);
		else
			msg_warn("%s lists %s, but Tern does not implement it: %s", name, *w, why);
		n++;
	}
	return n;
}

unsigned config_warn_unimplemented(void)
{
	unsigned n = 0;
	for (const char *const *name = cfg_set_names(); *name != NULL; name++) {
		const struct param_def *p = param_find(*name);
		const char *why = p != NULL ? param_unimplemented(p) : NULL;
		if (p != NULL && why == NULL && param_unimplemented_choices(p) != NULL)
			n += warn_unimplemented_words(p);
		if (why == NULL)
			continue;
		unsigned line = cfg_line(*name);
		if (line > 0)
			msg_warn("%s, line %u: %s is set, but Tern does not implement it: %s",
				 config_file(), line, *name, why);
		else
			msg_warn("%s is set, but Tern does not implement it: %s", *name, why);
		n++;
	}
	return n;
}

void config_apply_logging(void)
{
	log_set_file(cfg_str(P_maillog_file));
	log_set_syslog(cfg_str(P_syslog_name), log_facility_code(cfg_str(P_syslog_facility)));
}
