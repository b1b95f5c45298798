/*
 * config.h - Tern's configuration: main.cf read through the one
 * parameter table (params.def, params.c).
 *
 * Mail layer. main.cf has Postfix's syntax: "name = value", continuation
 * lines start with white space, '#' starts a comment line; values may
 * refer to other parameters as $name, ${name}, $(name), ${name?text}
 * (text if name is non-empty) and ${name:text} (text if name is empty),
 * ${name?{a}:{b}} and Postfix 3's ${{a} == {b} ? {x} : {y}} relations.
 * Values are expanded when read, as Postfix does.
 *
 * Which config directory: the -c/-C option a program got, else
 * $TERN_CONFIG_DIR, else the compiled-in default (/etc/tern).
 */
#ifndef TERN_MAIL_CONFIG_H
#define TERN_MAIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/param_names.h"
#include "util/buf.h"

enum param_type {
	PARAM_STRING,
	PARAM_BOOL,	/* yes / no */
	PARAM_INT,	/* integer within [min, max] */
	PARAM_TIME,	/* number with unit s m h d w (default unit in .unit) */
	PARAM_SIZE,	/* bytes */
	PARAM_LIST,	/* items separated by commas and/or white space */
	PARAM_MAPS,	/* list of type:name maps */
};

/*
 * A row of the table (params.def). Its texts are read through the
 * functions below: the row holds only where they are (the table has no
 * pointer for the dynamic loader to relocate, see params.c).
 */
struct param_def {
	enum param_type type;
	unsigned flags;		/* PARAM_F_* */
	long long min, max;	/* bounds for INT, TIME (seconds), SIZE */
	char unit;		/* default time unit: 's', 'm', 'h', 'd', 'w' */
	unsigned text;		/* where its texts are in params.c's block */
};

/* The value is read unexpanded: the program expands it with its own
 * $names (forward_path: $home, $user, ...). */
#define PARAM_F_RAW	0x01
/* The default is computed at run time (myhostname, mydomain, config_directory). */
#define PARAM_F_COMPUTED 0x02
/* The row ends in NOT_IMPLEMENTED / NOT_IMPLEMENTED_WORDS (param_unimplemented*()). */
#define PARAM_F_UNIMPLEMENTED 0x04
#define PARAM_F_UNIMPLEMENTED_WORDS 0x08

/* The table, sorted by name. */
extern const struct param_def param_table[];
extern const unsigned param_count;
const struct param_def *param_find(const char *name);
/* The name: its P_name slot (param_find(param_name(p)) == p without a search). */
const char *param_name(const struct param_def *p);
/* The default as written (may hold $name); NULL when computed (PARAM_F_COMPUTED). */
const char *param_default_text(const struct param_def *p);
/* One sentence for the man page. */
const char *param_doc(const struct param_def *p);
/* STRING/LIST: the allowed words, space separated; NULL when any value goes. */
const char *param_choices(const struct param_def *p);
/*
 * NULL when Tern does what the row says. Otherwise the row is accepted
 * for compatibility but nothing acts on it, and this says what happens
 * instead; every program that is told to check says so where the
 * parameter is set (config_warn_unimplemented).
 */
const char *param_unimplemented(const struct param_def *p);
/*
 * LIST with choices: the words Tern accepts but does not act on (space
 * separated), and what happens instead; listing one draws the same
 * warnings as an unimplemented row. NULL when there are none.
 */
const char *param_unimplemented_choices(const struct param_def *p);
const char *param_unimplemented_choices_why(const struct param_def *p);
/* The default: param_default_text(), the computed ones filled in. */
const char *param_default(const struct param_def *p);
/* Printable name of a type ("boolean", "time", ...). */
const char *param_type_name(enum param_type type);

/*
 * Warn, with file and line, about each parameter that main.cf sets and
 * that Tern does not implement (param_unimplemented()). ternd does it
 * at every start and reload, tern check and ternconf -n too. Returns
 * how many there were.
 */
unsigned config_warn_unimplemented(void);

/* The directory in effect (argument, $TERN_CONFIG_DIR, or default). */
const char *config_default_dir(void);

/*
 * Read DIR/main.cf (dir NULL = config_default_dir()). Unknown names are
 * warnings with file and line. A bad value fails with one line in err
 * naming file, line, parameter and what is allowed; callers exit 78.
 * A missing main.cf is an error unless missing_ok.
 */
int config_load(const char *dir, bool missing_ok, struct buf *err);
/*
 * For a single-threaded program that reads a few parameters and starts
 * often (sendmail -t): from the next load on, a parameter main.cf does
 * not set and whose default is constant (no $name in it, not computed)
 * is neither checked nor copied at load but at its first cfg_* read
 * (cfg_str fills it in without a lock: never in a threaded program).
 * Such a default is the same in every load and every one passes its
 * own check (tests/unit/test_params.c); everything main.cf sets, and
 * every default that refers to other parameters, is checked at load as
 * before, so the errors and warnings of a load do not change.
 */
void config_set_lazy_defaults(bool lazy);
/* How many values the last load checked (for tests: every parameter, unless lazy). */
unsigned config_checked_count(void);
const char *config_dir(void);		/* directory loaded */
const char *config_file(void);		/* its main.cf path */

/*
 * Values after $name expansion. Code names a parameter as P_name
 * (param_names.h, generated from the table), never as a string. Names must be in the table (others give
 * the value main.cf sets, or ""). Returned strings and lists belong to
 * the configuration and stay valid until the next config_load(), also
 * across cfg_set(). Not thread-safe: read what threads need before
 * starting them (values are computed and cached on first use).
 */
const char *cfg_str(const char *name);
bool cfg_bool(const char *name);
long long cfg_int(const char *name);	/* INT, TIME (seconds), SIZE (bytes) */
/* A LIST or MAPS value split into items; NULL-terminated, owned by config. */
char **cfg_list(const char *name);
/* Value as written in main.cf (or the default), unexpanded. */
const char *cfg_raw(const char *name);
bool cfg_is_set(const char *name);	/* set in main.cf */
/* Override a value in memory (command-line -o name=value). */
int cfg_set(const char *name, const char *value, struct buf *err);

/* Expand $name references in text using the loaded configuration. */
void config_expand(const char *text, struct buf *out);

/*
 * Additions (compatible with the interface above).
 */

/* The compiled-in directory, ignoring $TERN_CONFIG_DIR (for terndrop,
 * which must check alternate_config_directories before trusting it). */
const char *config_builtin_dir(void);

/* Parse main.cf text from memory; label names it in messages. Same
 * rules and results as config_load() (which calls it). */
int config_load_buffer(const char *label, const char *data, size_t len, struct buf *err);

/* config_expand() that reports errors (syntax, loops, size): 0 or -1. */
int config_expand_checked(const char *text, struct buf *out, struct buf *err);

/*
 * Expand text with program variables first: lookup() returns 1 and
 * sets *value for a name it knows (inserted literally, never expanded
 * again), 0 to fall back to the configuration. For forward_path,
 * mailbox_command and other PARAM_F_RAW parameters.
 */
typedef int (*config_var_fn)(void *ctx, const char *name, const char **value);
int config_expand_vars(const char *text, config_var_fn lookup, void *ctx,
		       struct buf *out, struct buf *err);

/*
 * Where log lines go, from the loaded configuration: maillog_file (empty:
 * syslog), syslog_name (the "tern" of "tern/smtpd") and syslog_facility.
 */
void config_apply_logging(void);

/* Set in main.cf or by cfg_set(), with the main.cf line (0 = cfg_set). */
unsigned cfg_line(const char *name);

/* Every name set in main.cf (known or not), sorted, NULL-terminated;
 * owned by config, valid until the next config_load(). */
const char *const *cfg_set_names(void);

/*
 * Typed values (also for ternconf and tests). Each returns 0, or -1
 * with the "expected ..." text in why.
 */
int param_check(const struct param_def *p, const char *value, struct buf *why);
int param_parse_bool(const char *text, bool *value);
int param_parse_int(const char *text, long long *value);
/* A number with an optional unit s m h d w (unit when none): seconds. */
int param_parse_time(const char *text, char unit, long long *seconds);

/* Split a list value on commas and white space, keeping {...} groups
 * whole (inline:{ a=b, c=d } is one item). Free with config_free_list(). */
char **config_split_list(const char *value);
void config_free_list(char **list);

/* A map type Tern knows (hash btree texthash inline static). */
bool config_map_type_known(const char *type, size_t len);
/*
 * The file name of a hash:, btree: or texthash: spec (a bare name is
 * hash:) when it is relative, else NULL: such a table is refused, since
 * the daemons run in queue_directory and would never find it.
 */
const char *config_map_relative(const char *spec);

#endif
