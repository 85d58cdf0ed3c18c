#!/usr/bin/env bash
# cmake --install into a scratch prefix: the binary, the manual page and the bash and zsh
# completions land where Debian looks for them; the page renders without warnings; the page and
# both completions know every flag of each command's --help; bash completes commands, flags and
# their values.
#   tests/cli/check_install.sh BUILD_DIR
set -u
build=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
check() {  # name, then a command that must succeed
  local name=$1; shift
  if "$@"; then passed=$((passed + 1)); echo "ok   $name"; else failed=$((failed + 1)); echo "FAIL $name"; fi
}

cmake --install "$build" --prefix "$tmp/usr/local" > "$tmp/install.log" 2>&1
check "cmake --install succeeds" test $? = 0
bin=$tmp/usr/local/bin/exfilscan
man=$tmp/usr/local/share/man/man1/exfilscan.1
bash_completion=$tmp/usr/local/share/bash-completion/completions/exfilscan
zsh_completion=$tmp/usr/local/share/zsh/site-functions/_exfilscan
for f in "$bin" "$man" "$bash_completion" "$zsh_completion"; do
  check "installed: ${f#"$tmp"}" test -s "$f"
done
check "the binary is executable and runs" "$bin" -V
version=$("$bin" -V)
check "the page carries the binary's version ($version)" grep -q "\"$version\"" "$man"

if command -v groff > /dev/null; then
  groff -man -ww -z "$man" 2> "$tmp/groff.err"
  check "the page renders without warnings" test ! -s "$tmp/groff.err"
  cat "$tmp/groff.err"
  MANWIDTH=80 man -l "$man" 2> /dev/null > "$tmp/page.txt"
  check "man shows it" grep -q "EXIT STATUS" "$tmp/page.txt"
fi

# Every long flag of every command's --help, in the page and in both completions.
for command in scan explain rules calibrate campaigns normalize; do
  "$bin" "$command" --help | grep -o -- '--[a-z][a-z-]*' | sort -u > "$tmp/$command.flags"
  missing_man="" missing_bash="" missing_zsh=""
  while read -r flag; do
    escaped=${flag//-/\\\\-}
    grep -q -- "${escaped}\b" "$man" || missing_man+=" $flag"
    grep -q -- "$flag\b" "$bash_completion" || missing_bash+=" $flag"
    grep -q -- "'$flag\[\|'\*$flag\[\|,$flag}\|{$flag," "$zsh_completion" || missing_zsh+=" $flag"
  done < "$tmp/$command.flags"
  check "the page has every flag of $command${missing_man:+ (not:$missing_man)}" test -z "$missing_man"
  check "bash completes every flag of $command${missing_bash:+ (not:$missing_bash)}" test -z "$missing_bash"
  check "zsh completes every flag of $command${missing_zsh:+ (not:$missing_zsh)}" test -z "$missing_zsh"
done

# bash: what a Tab after these words offers.
complete_words() {  # words..., the last one being completed; prints the offers, one a line
  bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    _exfilscan
    printf "%s\n" "${COMPREPLY[@]}"' _ "$bash_completion" "$@" | sort
}
check "bash: commands" test "$(complete_words exfilscan sc)" = scan
check "bash: a flag of scan" test "$(complete_words exfilscan scan --col)" = --color
check "bash: --color's values" test "$(complete_words exfilscan scan --color '' | tr '\n' ' ')" = "always auto never "
check "bash: explain's formats" test "$(complete_words exfilscan explain --format '' | tr '\n' ' ')" = "jsonl text "
check "bash: scan's formats" test "$(complete_words exfilscan scan --format '' | tr '\n' ' ')" = "csv jsonl table "
check "bash: help's commands" test "$(complete_words exfilscan help e)" = explain
if [[ -f /usr/share/zoneinfo/Europe/Berlin ]]; then
  check "bash: --tz zone names" test "$(complete_words exfilscan scan --tz Europe/Berl)" = Europe/Berlin
fi
if command -v zsh > /dev/null; then
  check "zsh: the completion parses" zsh -n "$zsh_completion"
fi

echo "install: $passed passed, $failed failed"
test "$failed" = 0
