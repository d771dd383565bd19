#!/usr/bin/env bash
# Fails when a file of the repository cites what a reader of the repository cannot see: the
# project's starting design brief (or its sections) or an issue number. The rules the code relies on
# live in docs/ (formats.md, storage.md, ...); cite those instead.
set -euo pipefail
root=${1:-$(dirname "$0")/..}
cd "$root"
pattern='\bDESIGN\b|\b[Ii]ssues? #?[0-9]|(^|[^A-Za-z0-9/])#[0-9]{1,5}\b[^.]'
# Ignored: build trees, Git's own files and fuzz corpora (inputs, not prose).
if grep -rnE --binary-files=without-match \
     --exclude-dir='build*' --exclude-dir=.git --exclude-dir=corpus \
     "$pattern" . ; then
  echo "check-standalone: the lines above cite a design brief or an issue that is not in this" \
       "repository; cite docs/ instead" >&2
  exit 1
fi
