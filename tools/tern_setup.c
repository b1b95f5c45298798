/*
 * tern_setup.c - `tern setup`: the install questions (the ones Debian's
 * Postfix package asks), asked on a terminal or taken from flags and a
 * preseed file, written into main.cf, /etc/mailname and the aliases file.
 *
 * Runs as the administrator (root for the system's configuration, the
 * owner for an instance; tern.c first becomes the owner of a
 * configuration that root does not own). The questions, their checks and
 * what they write are lib/mail/setup_answers.c; this file reads the
 * current values, asks, and writes. See tern-setup(8).
 */
#include "compat.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "mail/conf_edit.h"
#include "mail/config.h"
#include "mail/newaliases.h"
#include "mail/setup_answers.h"
#include "tools/tern.h"
#include "util/buf.h"
#include "util/mem.h"

#define MAILNAME_FILE "/etc/mailname"
#define FILE_MAX (4u << 20)

/* Debian's order of the questions. */
static const enum setup_q order[] = {
	SQ_TYPE, SQ_MAILNAME, SQ_RELAYHOST, SQ_ROOT, SQ_DESTINATIONS,
	SQ_NETWORKS, SQ_MAILBOX_LIMIT, SQ_DELIMITER, SQ_PROTOCOLS,
};

static void setup_usage(void)
{
	fprintf(stderr,
		"usage: tern [-c config_dir] setup [--non-interactive | --stdin] [--preseed FILE]\n"
		"       [--type TYPE] [--mailname NAME] [--root RECIPIENT] [--destinations LIST]\n"
		"       [--networks LIST] [--mailbox-limit BYTES] [--delimiter CHARS]\n"
		"       [--protocols all|ipv4|ipv6] [--relayhost HOST]\n");
	exit(EX_USAGE);
}

static char *trim(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

/* A type is kept as Debian's choice text; "none" stands for the blank answer where blank has a meaning (as Debian's root_address). */
static void normalize(enum setup_q q, char **v)
{
	enum setup_type t;
	if (q == SQ_TYPE && setup_type_parse(*v, &t)) {	/* shown as Debian's choice */
		free(*v);
		*v = xstrdup(setup_type_label(t));
	}
	if (q != SQ_TYPE && q != SQ_MAILNAME && strcasecmp(*v, "none") == 0)
		(*v)[0] = '\0';
}

static void give(struct setup_answers *a, enum setup_q q, const char *value)
{
	free(a->v[q]);
	a->v[q] = trim(value);
	normalize(q, &a->v[q]);
}

/* Read a whole small file; -1 (errno set) when it cannot be read. */
static int slurp(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	int rc = buf_read_fd(b, fileno(f), FILE_MAX);
	fclose(f);
	return rc < 0 ? -1 : 0;
}

/* The preseed file: "name = value" lines, '#' comments, blank lines. */
static void read_preseed(const char *path, struct setup_answers *a)
{
	struct buf text = BUF_INIT;
	if (slurp(path, &text) < 0) {
		fprintf(stderr, "tern: setup: cannot read %s: %s\n", path, strerror(errno));
		exit(EX_NOINPUT);
	}
	unsigned lineno = 0;
	for (char *line = text.data, *next; line && *line; line = next) {
		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *t = trim(line);
		if (t[0] == '\0' || t[0] == '#') {
			free(t);
			continue;
		}
		char *name, *value;
		struct buf err = BUF_INIT;
		if (conf_edit_parse(t, &name, &value, &err) < 0) {
			fprintf(stderr, "tern: setup: %s, line %u: %s\n", path, lineno, buf_str(&err));
			exit(EX_USAGE);
		}
		int q = setup_q_find(name);
		if (q < 0) {
			fprintf(stderr, "tern: setup: %s, line %u: unknown question \"%s\"\n", path, lineno,
				name);
			exit(EX_USAGE);
		}
		give(a, (enum setup_q)q, value);
		free(name);
		free(value);
		free(t);
		buf_free(&err);
	}
	buf_free(&text);
}

/* Is this the system's configuration (where /etc/mailname belongs)? */
static bool system_config(void)
{
	char a[PATH_MAX], b[PATH_MAX];
	if (realpath(config_dir(), a) == NULL || realpath(config_builtin_dir(), b) == NULL)
		return strcmp(config_dir(), config_builtin_dir()) == 0;
	return strcmp(a, b) == 0;
}

/* The aliases source file: the first hash/btree (or untyped) alias_database. */
static const char *aliases_file(void)
{
	char **dbs = cfg_list(P_alias_database);
	for (char **p = dbs; p && *p; p++) {
		const char *spec = *p, *colon = strchr(spec, ':');
		if (colon == NULL)
			return spec;
		if (strncmp(spec, "hash:", 5) == 0 || strncmp(spec, "btree:", 6) == 0)
			return colon + 1;
	}
	return NULL;
}

static const char *set_or_null(const char *param)
{
	return cfg_is_set(param) ? cfg_raw(param) : NULL;
}

/* The default of question q: main.cf's current value, else Debian's default. */
static char *current(enum setup_q q, const struct setup_answers *a, enum setup_type t, bool sys)
{
	struct buf b = BUF_INIT;
	switch (q) {
	case SQ_TYPE:
		return xstrdup(setup_type_label(setup_type_from_conf(set_or_null(P_default_transport),
								     set_or_null(P_inet_interfaces),
								     set_or_null(P_relayhost))));
	case SQ_MAILNAME:
		if (sys && slurp(MAILNAME_FILE, &b) == 0) {
			char *v = trim(buf_str(&b));
			char *nl = strchr(v, '\n');
			if (nl)
				*nl = '\0';
			buf_free(&b);
			if (setup_check_domain(v))
				return v;
			free(v);
		}
		buf_free(&b);
		if (setup_check_domain(cfg_str(P_myorigin)))
			return xstrdup(cfg_str(P_myorigin));
		return xstrdup(cfg_str(P_myhostname));
	case SQ_ROOT: {
		const char *file = aliases_file();
		struct buf text = BUF_INIT;
		if (file && slurp(file, &text) == 0)
			setup_aliases_root_get(buf_str(&text), text.len, &b);
		buf_free(&text);
		char *v = buf_steal(&b);
		return v != NULL ? v : xstrdup("");
	}
	case SQ_DESTINATIONS:
		if (cfg_is_set(P_mydestination))
			return xstrdup(cfg_raw(P_mydestination));
		setup_default_destinations(t, a->v[SQ_MAILNAME], cfg_str(P_myhostname), cfg_str(P_mydomain),
					   &b);
		return buf_steal(&b);
	case SQ_NETWORKS:
		return xstrdup(cfg_is_set(P_mynetworks) ? cfg_raw(P_mynetworks) : SETUP_DEFAULT_NETWORKS);
	case SQ_MAILBOX_LIMIT:
		return xstrdup(cfg_is_set(P_mailbox_size_limit) ? cfg_raw(P_mailbox_size_limit)
								 : SETUP_DEFAULT_MAILBOX_LIMIT);
	case SQ_DELIMITER:
		return xstrdup(cfg_is_set(P_recipient_delimiter) ? cfg_raw(P_recipient_delimiter)
								  : SETUP_DEFAULT_DELIMITER);
	case SQ_PROTOCOLS: {
		if (cfg_is_set(P_inet_protocols))
			return xstrdup(cfg_raw(P_inet_protocols));
		/* As Debian: what the kernel offers. */
		struct stat st;
		bool v4 = stat("/proc/sys/net/ipv4", &st) == 0, v6 = stat("/proc/sys/net/ipv6", &st) == 0;
		return xstrdup(v4 && v6 ? "all" : v6 ? "ipv6" : "ipv4");
	}
	case SQ_RELAYHOST:
		if (cfg_is_set(P_relayhost) && cfg_raw(P_relayhost)[0] != '\0')
			return xstrdup(cfg_raw(P_relayhost));
		return xasprintf("smtp.%s", cfg_str(P_mydomain));
	case SQ_COUNT:
		break;
	}
	return xstrdup("");
}

static void print_menu(void)
{
	printf("Mail configuration types:\n");
	for (int t = SETUP_NONE; t <= SETUP_LOCAL; t++)
		printf("  %d  %s\n", t + 1, setup_type_label((enum setup_type)t));
}

/* Ask until the answer passes its check; Enter keeps def. */
static char *ask(enum setup_q q, const char *def)
{
	if (q == SQ_TYPE)
		print_menu();
	for (;;) {
		printf("%s [%s]: ", setup_q_prompt(q), def);
		fflush(stdout);
		char *line = NULL;
		size_t cap = 0;
		if (getline(&line, &cap, stdin) < 0) {
			free(line);
			printf("\n");
			fprintf(stderr, "tern: setup: no answer to \"%s\": nothing was changed\n",
				setup_q_name(q));
			exit(EX_USAGE);
		}
		char *v = trim(line);
		free(line);
		if (v[0] == '\0') {
			free(v);
			v = xstrdup(def);
		}
		normalize(q, &v);
		struct buf why = BUF_INIT;
		if (setup_check(q, v, &why)) {
			buf_free(&why);
			return v;
		}
		printf("%s; try again.\n", buf_str(&why));
		buf_free(&why);
		free(v);
	}
}

/* Write path with text when its content differs; 1 written, 0 unchanged, -1 error. */
static int update_file(const char *path, const struct buf *text)
{
	struct buf old = BUF_INIT;
	bool same = slurp(path, &old) == 0 && old.len == text->len &&
		    memcmp(buf_str(&old), buf_str(text), text->len) == 0;
	buf_free(&old);
	if (same)
		return 0;
	struct buf err = BUF_INIT;
	int rc = conf_file_replace(path, buf_str(text), text->len, &err);
	if (rc < 0)
		fprintf(stderr, "tern: setup: %s\n", buf_str(&err));
	buf_free(&err);
	return rc < 0 ? -1 : 1;
}

static int write_main_cf(const struct setup_answers *a, enum setup_type t)
{
	struct conf_edit edits[SETUP_MAX_EDITS];
	struct setup_current cur = {
		.default_transport = set_or_null(P_default_transport),
		.relay_transport = set_or_null(P_relay_transport),
		.inet_interfaces = set_or_null(P_inet_interfaces),
	};
	size_t n = setup_edits(a, t, &cur, edits);
	struct buf old = BUF_INIT, out = BUF_INIT;
	if (slurp(config_file(), &old) < 0) {
		fprintf(stderr, "tern: setup: cannot read %s: %s\n", config_file(), strerror(errno));
		return EX_NOINPUT;
	}
	conf_edit_text(buf_str(&old), old.len, edits, n, &out);
	int rc = update_file(config_file(), &out);
	/* Say what changed, as Debian's postinst does ("setting relayhost: ..."). */
	for (size_t i = 0; rc > 0 && i < n; i++) {
		const char *name = edits[i].name;
		if (edits[i].op == CONF_REMOVE && cfg_is_set(name))
			printf("%s: %s removed\n", config_file(), name);
		else if (edits[i].op == CONF_SET &&
			 (!cfg_is_set(name) || strcmp(cfg_raw(name), edits[i].value) != 0))
			printf("%s: %s = %s\n", config_file(), name, edits[i].value);
	}
	buf_free(&old);
	buf_free(&out);
	return rc < 0 ? EX_CANTCREAT : 0;
}

static int write_aliases(const char *root)
{
	const char *file = aliases_file();
	if (file == NULL) {
		fprintf(stderr, "tern: setup: alias_database names no aliases file: root: not written\n");
		return 0;
	}
	struct buf old = BUF_INIT, out = BUF_INIT;
	if (slurp(file, &old) < 0) {
		if (errno != ENOENT) {
			fprintf(stderr, "tern: setup: cannot read %s: %s\n", file, strerror(errno));
			return EX_NOINPUT;
		}
		/* A new aliases file, as Debian's MTAs make it. */
		buf_adds(&old, "# See aliases(5) for the format.\npostmaster: root\n");
	}
	setup_aliases_root_set(buf_str(&old), old.len, root, &out);
	int rc = update_file(file, &out);
	buf_free(&old);
	buf_free(&out);
	if (rc < 0)
		return EX_CANTCREAT;
	if (rc > 0) {
		printf("%s: root: %s\n", file, root);
		fflush(stdout);
		return newaliases_run();
	}
	return 0;
}

static int write_mailname(const char *name)
{
	struct buf text = BUF_INIT;
	buf_printf(&text, "%s\n", name);
	int rc = update_file(MAILNAME_FILE, &text);
	if (rc > 0)
		printf("%s: %s\n", MAILNAME_FILE, name);
	buf_free(&text);
	return rc < 0 ? EX_CANTCREAT : 0;
}

int cmd_setup(int argc, char **argv, const char *dir)
{
	struct setup_answers given = { 0 }, a = { 0 };
	const char *preseed = NULL;
	bool non_interactive = false, use_stdin = false;

	/* argv[0] is "setup". */
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = NULL;
		if (strcmp(arg, "-c") == 0 && i + 1 < argc) {
			dir = argv[++i];
			continue;
		}
		if (strcmp(arg, "--non-interactive") == 0) {
			non_interactive = true;
			continue;
		}
		if (strcmp(arg, "--stdin") == 0) {
			use_stdin = true;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0)
			setup_usage();
		char *name = xstrdup(arg + 2), *eq = strchr(name, '=');
		if (eq) {
			*eq = '\0';
			val = arg + 2 + (eq - name) + 1;
		} else if (i + 1 < argc)
			val = argv[++i];
		else
			setup_usage();
		int q = setup_q_find(name);
		if (strcmp(name, "preseed") == 0)
			preseed = val;
		else if (q >= 0 && strchr(name, '_') == NULL && strcmp(name, setup_q_name((enum setup_q)q)) == 0)
			give(&given, (enum setup_q)q, val);
		else {
			fprintf(stderr, "tern: setup: unknown option --%s\n", name);
			setup_usage();
		}
		free(name);
	}
	if (dir && *dir == '\0')
		setup_usage();
	act_as_config_owner(dir);

	struct setup_answers flags = given;
	struct setup_answers merged = { 0 };
	if (preseed)
		read_preseed(preseed, &merged);
	for (int q = 0; q < SQ_COUNT; q++)	/* flags win over the preseed file */
		if (flags.v[q]) {
			free(merged.v[q]);
			merged.v[q] = flags.v[q];
		}

	struct buf err = BUF_INIT;
	if (config_load(dir, false, &err) < 0) {
		fprintf(stderr, "tern: setup: %s\n", buf_str(&err));
		return EX_CONFIG;
	}
	bool sys = system_config();
	bool interactive = !non_interactive && (use_stdin || isatty(STDIN_FILENO));

	/* Every given answer is checked, also those of questions this type does not ask. */
	for (int q = 0; q < SQ_COUNT; q++) {
		struct buf why = BUF_INIT;
		if (merged.v[q] && !setup_check((enum setup_q)q, merged.v[q], &why)) {
			if (!interactive) {
				fprintf(stderr, "tern: setup: %s: %s\n", setup_q_name((enum setup_q)q),
					buf_str(&why));
				buf_free(&why);
				setup_answers_free(&merged);
				return EX_USAGE;
			}
			printf("%s: %s\n", setup_q_name((enum setup_q)q), buf_str(&why));
			free(merged.v[q]);
			merged.v[q] = NULL;
		}
		buf_free(&why);
	}

	enum setup_type t = SETUP_INTERNET;
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		enum setup_q q = order[k];
		if (q != SQ_TYPE && !setup_q_applies(q, t))
			continue;
		char *def = merged.v[q] ? xstrdup(merged.v[q]) : current(q, &a, t, sys);
		if (interactive) {
			a.v[q] = ask(q, def);
			free(def);
		} else {
			struct buf why = BUF_INIT;
			if (!setup_check(q, def, &why)) {
				fprintf(stderr, "tern: setup: %s: the current value does not pass: %s; give --%s\n",
					setup_q_name(q), buf_str(&why), setup_q_name(q));
				buf_free(&why);
				free(def);
				setup_answers_free(&merged);
				setup_answers_free(&a);
				return EX_USAGE;
			}
			buf_free(&why);
			a.v[q] = def;
		}
		if (q == SQ_TYPE) {
			setup_type_parse(a.v[q], &t);
			if (t == SETUP_NONE)
				break;
		}
	}
	setup_answers_free(&merged);

	int rc = 0;
	if (t == SETUP_NONE) {
		printf("No configuration: nothing was changed.\n");
	} else {
		rc = write_main_cf(&a, t);
		if (rc == 0 && sys)
			rc = write_mailname(a.v[SQ_MAILNAME]);
		if (rc == 0 && a.v[SQ_ROOT][0] != '\0')
			rc = write_aliases(a.v[SQ_ROOT]);
	}
	setup_answers_free(&a);
	buf_free(&err);
	return rc;
}
