#!/usr/bin/env bash
# Fails when a string literal under a library layer (engine, db, pipeline, metrics, base, hsm) names
# a command-line flag ("--" and a letter): the library names a setting in its own words and carries
# it in Error::setting; only cli/ knows the flags (cli/setting_flags.cc, docs/architecture.md).
# Comments may name flags. Allowed: the bench tool's own usage text, and another program's
# command line quoted for the operator (`pkcs11-tool --module ...`).
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"

allowed_files='^db/postgres/postgres_cas_bench\.cc$'
other_programs='`pkcs11-tool '

status=0
while IFS= read -r file; do
  [[ $file =~ $allowed_files ]] && continue
  # Lexes the file (comments, character, string and raw string literals) and prints
  # "file:line: literal" for each string literal with a flag in it.
  found=$(perl -0777 -ne '
    my $line = 1;
    my $other = qr/\Q'"$other_programs"'\E/;
    my @lines = split /\n/, $_, -1;
    while (/\G(?:(R"([^(\s]*)\(.*?\)\2")|("(?:[^"\\\n]|\\.)*")|(\x27(?:[^\x27\\\n]|\\.)*\x27)|(\/\/[^\n]*)|(\/\*.*?\*\/)|([^R"\x27\/]+|.))/gsx) {
      my $text = $&;
      my $literal = $1 // $3;
      if (defined $literal && $literal =~ /--[A-Za-z]/ && $lines[$line - 1] !~ $other) {
        print "$ARGV:$line: $literal\n";
      }
      $line += ($text =~ tr/\n//);
    }' "$file")
  if [[ -n $found ]]; then
    echo "$found" >&2
    status=1
  fi
done < <(find engine db pipeline metrics base hsm -name '*.h' -o -name '*.cc' | sort)
if [[ $status != 0 ]]; then
  echo "check-flag-names: the literals above name a CLI flag below cli/: name the setting in the" \
       "library's words and set Error::setting; cli/setting_flags.cc names the flag" >&2
fi
exit $status
