/*
 * ternconf - print and edit Tern's main.cf, as postconf(1) does.
 *
 * SYNOPSIS
 *	ternconf [-c DIR] [-d | -n] [-h | -H] [-x] [name ...]
 *	ternconf [-c DIR] -e 'name = value' ...
 *	ternconf [-c DIR] -X name ...
 *	ternconf [-c DIR] -# name ...
 *
 * DESCRIPTION
 *	Without an edit option, prints every parameter (or those named) as
 *	"name = value", the value as written in main.cf or the default:
 *	-d defaults only, -n only what main.cf sets, -x with $name
 *	references expanded, -h values only, -H names only. -e sets
 *	parameters, -X removes them, -# comments them out, keeping every
 *	other line, comment and the order of main.cf; the file is replaced
 *	atomically. The hidden option --man-page prints tern-params(5),
 *	generated from the parameter table.
 *
 * SECURITY
 *	Runs with the privileges of whoever calls it (an administrator);
 *	no set-id bits. It writes only DIR/main.cf.
 *
 * EXIT STATUS
 *	0 done; 64 usage; 78 (EX_CONFIG) main.cf is missing or has a bad
 *	value, reported in one line with file, line and parameter; 73 the
 *	file could not be written.
 *
 * SEE ALSO
 *	ternconf(1), tern-params(5), postconf(1)
 */
#include "compat.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "mail/conf_edit.h"
#include "mail/smtp_policy.h"
#include "mail/config.h"
#include "util/log.h"
#include "util/mem.h"

void ternconf_man_page(void);

enum mode { M_PRINT, M_EDIT, M_REMOVE, M_COMMENT };

struct opts {
	enum mode mode;
	bool defaults;	/* -d */
	bool nondef;	/* -n */
	bool values;	/* -h */
	bool names;	/* -H */
	bool expand;	/* -x */
	const char *dir;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: ternconf [-c DIR] [-d | -n] [-h | -H] [-x] [name ...]\n"
		"       ternconf [-c DIR] -e 'name = value' ...\n"
		"       ternconf [-c DIR] -X name ...\n"
		"       ternconf [-c DIR] -# name ...\n");
	exit(EX_USAGE);
}

static void print_one(const struct opts *o, const char *name, const char *value)
{
	if (o->names)
		printf("%s\n", name);
	else if (o->values)
		printf("%s\n", value);
	else if (*value == '\0')
		printf("%s =\n", name);
	else
		printf("%s = %s\n", name, value);
}

/* The value to show for name under the options; NULL when it has none. */
static const char *value_of(const struct opts *o, const char *name)
{
	const struct param_def *p = param_find(name);

	if (o->defaults) {
		if (p == NULL)
			return NULL;
		return o->expand ? cfg_str(name) : param_default(p);
	}
	if (o->nondef && !cfg_is_set(name))
		return NULL;
	if (p == NULL && !cfg_is_set(name))
		return NULL;
	return o->expand ? cfg_str(name) : cfg_raw(name);
}

static void load(const struct opts *o)
{
	struct buf err = BUF_INIT;
	int rc;

	if (o->defaults)	/* defaults only: main.cf plays no part */
		rc = config_load_buffer("(defaults)", "", 0, &err);
	else
		rc = config_load(o->dir, false, &err);
	if (rc < 0)
		msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));
	buf_free(&err);
}

static int print_params(const struct opts *o, char **names, int n)
{
	load(o);
	if (n > 0) {
		for (int i = 0; i < n; i++) {
			const char *v = value_of(o, names[i]);
			if (v != NULL)
				print_one(o, names[i], v);
			else if (param_find(names[i]) == NULL && !cfg_is_set(names[i]))
				msg_warn("%s: unknown parameter", names[i]);
		}
		return 0;
	}
	/* Every table row, merged in order with the names only main.cf has. */
	static const char *const no_names[] = { NULL };
	const char *const *set = o->defaults ? no_names : cfg_set_names();
	unsigned t = 0;
	while (t < param_count || *set != NULL) {
		const char *name;
		if (*set == NULL || (t < param_count && strcmp(param_name(&param_table[t]), *set) <= 0)) {
			name = param_name(&param_table[t]);
			if (*set != NULL && strcmp(name, *set) == 0)
				set++;
			t++;
		} else {
			name = *set++;
		}
		const char *v = value_of(o, name);
		if (v != NULL)
			print_one(o, name, v);
	}
	/* On standard error, so that the output stays a valid main.cf. */
	if (o->nondef) {
		fflush(stdout);
		config_warn_unimplemented();
	}
	return 0;
}

/* Does the load error name one of the parameters that -e sets? */
static bool error_is_about(const char *err, const struct conf_edit *edits, int n)
{
	for (int i = 0; i < n; i++) {
		char *needle = xasprintf("parameter %s:", edits[i].name);
		bool hit = strstr(err, needle) != NULL;
		free(needle);
		if (hit)
			return true;
	}
	return false;
}

static int edit(const struct opts *o, char **args, int n)
{
	struct conf_edit *edits = xcalloc((size_t)n + 1, sizeof(*edits));
	char **names = xcalloc((size_t)n + 1, sizeof(char *));
	char **values = xcalloc((size_t)n + 1, sizeof(char *));
	struct buf err = BUF_INIT;
	const char *dir = o->dir != NULL ? o->dir : config_default_dir();
	char *path = xasprintf("%s/main.cf", dir);

	for (int i = 0; i < n; i++) {
		if (o->mode == M_EDIT) {
			if (conf_edit_parse(args[i], &names[i], &values[i], &err) < 0)
				msg_fatal_status(EX_USAGE, "%s", buf_str(&err));
			edits[i] = (struct conf_edit){ CONF_SET, names[i], values[i] };
		} else {
			edits[i] = (struct conf_edit){
				o->mode == M_REMOVE ? CONF_REMOVE : CONF_COMMENT, args[i], NULL };
		}
	}
	if (o->mode == M_EDIT) {
		/*
		 * Refuse to write a value its type does not allow: check the
		 * edited text as it would be loaded, with its $references.
		 * Other errors already in main.cf do not stop an edit (it may
		 * be the fix).
		 */
		struct buf old = BUF_INIT, neu = BUF_INIT;
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			char chunk[8192];
			size_t r;
			while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0 && old.len < (16u << 20))
				buf_add(&old, chunk, r);
			fclose(f);
		}
		conf_edit_text(buf_str(&old), old.len, edits, (size_t)n, &neu);
		int dest = log_get_dest();
		log_set_dest(0);	/* unknown-parameter warnings are not news here */
		int rc = config_load_buffer(path, buf_str(&neu), neu.len, &err);
		log_set_dest(dest);
		if (rc < 0 && !error_is_about(buf_str(&err), edits, n)) {
			/* main.cf stops earlier on an old error: check the new lines alone. */
			buf_reset(&err);
			buf_reset(&neu);
			conf_edit_text("", 0, edits, (size_t)n, &neu);
			log_set_dest(0);
			rc = config_load_buffer("-e", buf_str(&neu), neu.len, &err);
			log_set_dest(dest);
		}
		if (rc < 0 && error_is_about(buf_str(&err), edits, n))
			msg_fatal_status(EX_CONFIG, "%s", buf_str(&err));
		buf_reset(&err);
		/* A restriction list smtpd could not use is refused here, not found at the first RCPT. */
		for (int i = 0; i < n && rc == 0; i++) {
			if (!smtp_policy_is_list(edits[i].name))
				continue;
			if (smtp_policy_list_check(edits[i].name, cfg_str(edits[i].name), &err) < 0)
				msg_fatal_status(EX_CONFIG, "%s: %s", path, buf_str(&err));
		}
		buf_free(&old);
		buf_free(&neu);
	}
	if (conf_edit_file(path, edits, (size_t)n, &err) < 0)
		msg_fatal_status(EX_CANTCREAT, "%s", buf_str(&err));
	for (int i = 0; i < n && o->mode == M_EDIT; i++) {
		const struct param_def *p = param_find(names[i]);
		const char *why = p != NULL ? param_unimplemented(p) : NULL;
		if (why != NULL)
			msg_warn("%s is set, but Tern does not implement it: %s", names[i], why);
	}
	for (int i = 0; i < n; i++) {
		free(names[i]);
		free(values[i]);
	}
	free(names);
	free(values);
	free(edits);
	free(path);
	buf_free(&err);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .mode = M_PRINT };
	int c;

	log_init("ternconf", LOG_TO_STDERR);
	if (argc == 2 && strcmp(argv[1], "--man-page") == 0) {
		ternconf_man_page();
		return 0;
	}
	while ((c = getopt(argc, argv, "c:dnhHxeX#")) != -1) {
		switch (c) {
		case 'c':
			o.dir = optarg;
			break;
		case 'd':
			o.defaults = true;
			break;
		case 'n':
			o.nondef = true;
			break;
		case 'h':
			o.values = true;
			break;
		case 'H':
			o.names = true;
			break;
		case 'x':
			o.expand = true;
			break;
		case 'e':
			o.mode = M_EDIT;
			break;
		case 'X':
			o.mode = M_REMOVE;
			break;
		case '#':
			o.mode = M_COMMENT;
			break;
		default:
			usage();
		}
	}
	if (o.defaults && o.nondef)
		usage();
	if (o.dir != NULL) {
		if (*o.dir == '\0')
			usage();
		/* As postconf exports MAIL_CONFIG: config_directory and children see it. */
		setenv("TERN_CONFIG_DIR", o.dir, 1);
	}
	if (o.mode == M_PRINT)
		return print_params(&o, argv + optind, argc - optind);
	if (optind >= argc) {
		fprintf(stderr, "ternconf: -%c needs at least one %s\n",
			o.mode == M_EDIT ? 'e' : o.mode == M_REMOVE ? 'X' : '#',
			o.mode == M_EDIT ? "name=value argument" : "parameter name");
		return EX_USAGE;
	}
	return edit(&o, argv + optind, argc - optind);
}
