/*
 * fuzz_droprec.c - libFuzzer target for terndrop's record reader
 * (lib/mail/droprec.c): the input a set-group-ID program gets from any
 * local user. Any bytes must be parsed or refused without a crash, and
 * the reader's invariants must hold.
 */
#include "compat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/droprec.h"
#include "mail/qfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct droprec_state st;
	size_t off = 0;
	droprec_init(&st, 1000);
	while (off < size) {
		char type;
		const char *rec;
		size_t reclen;
		long used = droprec_parse((const char *)data + off, size - off, &type, &rec, &reclen);
		if (used <= 0)
			break;
		if ((size_t)used > size - off || reclen > DROPREC_MAX_DATA)
			abort();
		off += (size_t)used;
		int r = droprec_accept(&st, type, rec, reclen);
		if (r == DROPREC_BAD && st.error.len == 0)
			abort();
		if (r == DROPREC_BAD || r == DROPREC_END)
			break;
	}
	/* Whatever was accepted can be stored in a queue file. */
	if (!qfile_field_valid(buf_str(&st.sender)))
		abort();
	/* and pickup takes it: nothing accepted may end in corrupt/. */
	if (!droprec_sender_valid(buf_str(&st.sender)))
		abort();
	for (size_t i = 0; i < st.nrcpt; i++)
		if (!qfile_field_valid(st.rcpts[i].address) || !qfile_field_valid(st.rcpts[i].orcpt) ||
		    st.rcpts[i].address[0] == '\0' || st.rcpts[i].notify > 15 ||
		    !droprec_rcpt_valid(st.rcpts[i].address))
			abort();
	for (size_t i = 0; i < st.nattr; i++)
		if (!droprec_attr_allowed(st.attr_names[i]) || !qfile_field_valid(st.attr_values[i]))
			abort();
	droprec_free(&st);
	return 0;
}
