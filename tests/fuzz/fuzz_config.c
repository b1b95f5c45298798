/*
 * fuzz_config.c - libFuzzer target for the main.cf reader (lib/mail/
 * config.c, config_expand.c, param_value.c) and the in-place editor
 * (conf_edit.c). Any buffer must load or be refused with one line,
 * without a crash, a leak, unbounded recursion or unbounded work;
 * every value (known or not) is then expanded, split and read typed.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/conf_edit.h"
#include "mail/config.h"
#include "util/buf.h"
#include "util/log.h"

/* What conf_edit_parse accepts must be a name the reader accepts. */
static int config_valid_name_for_fuzz(const char *name)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	buf_printf(&text, "%s = x\n", name);
	int ok = config_load_buffer("-e", text.data, text.len, &err) == 0 ||
		 strstr(buf_str(&err), "bad parameter name") == NULL;
	buf_free(&text);
	buf_free(&err);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	struct buf err = BUF_INIT, out = BUF_INIT;

	if (!quiet) {
		log_init("fuzz_config", 0);	/* warnings would drown the output */
		quiet = 1;
	}
	int rc = config_load_buffer("main.cf", (const char *)data, size, &err);
	if (rc < 0 && (err.len == 0 || memchr(err.data, '\n', err.len) != NULL))
		abort();	/* a refusal is exactly one line */
	if (rc == 0 && err.len != 0)
		abort();

	/* Every name main.cf sets, expanded (errors allowed for unknown names). */
	for (const char *const *n = cfg_set_names(); *n != NULL; n++) {
		buf_reset(&out);
		buf_reset(&err);
		(void)config_expand_checked(cfg_raw(*n), &out, &err);
		(void)cfg_str(*n);
		(void)cfg_list(*n);
	}
	if (rc == 0) {
		/* After a successful load every known value is typed and valid. */
		for (unsigned i = 0; i < param_count; i++) {
			const struct param_def *p = &param_table[i];
			const char *name = param_name(p);
			buf_reset(&err);
			if (param_check(p, cfg_str(name), &err) < 0)
				abort();
			(void)cfg_int(name);
			(void)cfg_bool(name);
			(void)cfg_list(name);
		}
	}

	/* Edit the same text: set one parameter, remove one, comment one out. */
	struct conf_edit edits[] = {
		{ CONF_SET, "myhostname", "fuzz.example" },
		{ CONF_REMOVE, "relayhost", NULL },
		{ CONF_COMMENT, "mydestination", NULL },
	};
	buf_reset(&out);
	conf_edit_text((const char *)data, size, edits, 3, &out);
	/* The reader must see exactly what the editor meant to write. */
	buf_reset(&err);
	if (config_load_buffer("main.cf", buf_str(&out), out.len, &err) == 0 &&
	    (strcmp(cfg_raw("myhostname"), "fuzz.example") != 0 ||
	     cfg_is_set("relayhost") || cfg_is_set("mydestination")))
		abort();
	/* The same bytes as a ternconf -e argument. */
	char *arg = malloc(size + 1), *name = NULL, *value = NULL;
	if (arg != NULL) {
		memcpy(arg, data, size);
		arg[size] = '\0';
		buf_reset(&err);
		if (conf_edit_parse(arg, &name, &value, &err) == 0 &&
		    (strchr(value, '\n') != NULL || !config_valid_name_for_fuzz(name)))
			abort();
		free(name);
		free(value);
		free(arg);
	}
	buf_free(&out);
	buf_free(&err);
	return 0;
}
