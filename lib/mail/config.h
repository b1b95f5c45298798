/*
 * config.h - Tern's configuration: main.cf read through the one
 * parameter table (params.c).
 *
 * Mail layer. main.cf has Postfix's syntax: "name = value", continuation
 * lines start with white space, '#' starts a comment line; values may
 * refer to other parameters as $name, ${name}, $(name), ${name?text}
 * (text if name is non-empty) and ${name:text} (text if name is empty).
 * Values are expanded when read, as Postfix does.
 *
 * Which config directory: the -c/-C option a program got, else
 * $TERN_CONFIG_DIR, else the compiled-in default (/etc/tern).
 */
#ifndef TERN_MAIL_CONFIG_H
#define TERN_MAIL_CONFIG_H

#include <stdbool.h>

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

struct param_def {
	const char *name;
	enum param_type type;
	const char *def;	/* default as written (may hold $name); NULL = computed */
	long long min, max;	/* bounds for INT, TIME (seconds), SIZE */
	char unit;		/* default time unit: 's', 'm', 'h', 'd', 'w' */
	const char *doc;	/* one sentence for the man page */
};

/* The table, sorted by name. */
extern const struct param_def param_table[];
extern const unsigned param_count;
const struct param_def *param_find(const char *name);

/* The directory in effect (argument, $TERN_CONFIG_DIR, or default). */
const char *config_default_dir(void);

/*
 * Read DIR/main.cf (dir NULL = config_default_dir()). Unknown names are
 * warnings with file and line. A bad value fails with one line in err
 * naming file, line, parameter and what is allowed; callers exit 78.
 * A missing main.cf is an error unless missing_ok.
 */
int config_load(const char *dir, bool missing_ok, struct buf *err);
const char *config_dir(void);		/* directory loaded */
const char *config_file(void);		/* its main.cf path */

/* Values after $name expansion. Names must be in the table. */
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

#endif
