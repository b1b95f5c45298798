#!/bin/sh
# t_smtpd_manpage.sh - smtpd(8) lists every main.cf parameter smtpd
# reads: every parameter (as `ternconf -d` knows them) whose P_name
# appears in smtpd's own sources or in a library module linked into
# the smtpd binary must appear in man/smtpd.8 in bold (.B or .BR), so a
# parameter added to the code without documentation fails here. The
# modules are found from the binary's symbols, so new ones count at once;
# the configuration machinery (the parameter table and its parser, which
# name every parameter) is left out.
. "$(dirname "$0")/lib.sh"
need_cmd nm
bin=$TERN_TOP/smtpd/smtpd
page=$TERN_TOP/man/smtpd.8
[ -x "$bin" ] || skip "smtpd is not built"
[ -f "$page" ] || fail "man/smtpd.8 is missing"

tern_instance
work=$TERN_DIR/manpage
mkdir "$work"
ternconf -d | sed 's/ *=.*//' | sort -u > "$work/params"
[ "$(wc -l < "$work/params")" -ge 100 ] || fail "ternconf -d lists only $(wc -l < "$work/params") parameters"

# The library modules smtpd links: an object that defines a symbol the binary defines.
nm --defined-only -g "$bin" | awk 'NF == 3 {print $3}' | sort -u > "$work/syms"
sources=$(ls "$TERN_TOP"/smtpd/*.c)
for o in "$TERN_TOP"/lib/mail/*.o "$TERN_TOP"/lib/util/*.o; do
	[ -f "$o" ] || continue
	c=${o%.o}.c
	case $(basename "$c") in
	params.c | param_value.c | config.c | config_expand.c | config_parse.c) continue ;;
	esac
	[ -f "$c" ] || continue
	if nm --defined-only -g "$o" 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u \
		| comm -12 - "$work/syms" | grep -q .; then
		sources="$sources $c"
	fi
done
echo "$sources" | grep -q 'smtp_engine\.c' || fail "smtp_engine.c not found among smtpd's modules: $sources"
echo "$sources" | grep -q 'smtp_policy\.c' || fail "smtp_policy.c not found among smtpd's modules"

# shellcheck disable=SC2086
grep -ohE '\bP_[a-z0-9_]+' $sources | sed 's/^P_//' | sort -u | comm -12 - "$work/params" > "$work/read"
n=$(wc -l < "$work/read")
[ "$n" -ge 40 ] || fail "only $n parameters found in smtpd's sources: $(cat "$work/read")"
missing=""
while read -r p; do
	grep -Eq "^\\.BR? $p( |\$)" "$page" || missing="$missing $p"
done < "$work/read"
[ -z "$missing" ] || fail "smtpd reads these parameters, but man/smtpd.8 does not list them:$missing"
echo "$n parameters documented"
pass
