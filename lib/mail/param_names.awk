# param_names.awk - make's generator of lib/mail/param_names.h from the
# rows of lib/mail/params.def (build time; no privileges).
#
# P_name is the name's own slot in param_name_slot[], at the index of its
# row in param_table (both in the table's order): param_find() takes the
# row of a P_name from the slot's address, with no search. Code names a
# parameter only through P_name, so every lookup of the daemons costs a
# subtraction; a name from elsewhere (main.cf, ternconf's arguments) is
# not a slot and is searched for. params.c defines the slots
# (PARAM_NAME_SLOTS_DEFINE) and checks their number against the table's;
# they are the rows' names too (param_name()), and test_params checks
# each against its row.
match($0, /^\t[A-Z]+\([a-zA-Z0-9_]+,/) {
	name = substr($0, RSTART, RLENGTH)
	sub(/^\t[A-Z]+\(/, "", name)
	sub(/,$/, "", name)
	names[n++] = name
}
END {
	print "#define PARAM_NAME_SLOT 64\t/* bytes per name, its NUL included */"
	print "extern const char param_name_slot[][PARAM_NAME_SLOT];"
	for (i = 0; i < n; i++)
		printf "#define P_%s (param_name_slot[%d])\n", names[i], i
	print "#ifdef PARAM_NAME_SLOTS_DEFINE"
	print "const char param_name_slot[][PARAM_NAME_SLOT] = {"
	for (i = 0; i < n; i++)
		printf "\t\"%s\",\n", names[i]
	print "};"
	print "#endif"
}
