# bash completion for exfilscan; cmake --install puts it in
# share/bash-completion/completions/exfilscan. tests/cli/check_install.sh checks that it knows
# every flag of each command's --help.

_exfilscan_input_flags="--input-format --map --map-file --max-line-bytes --max-diagnostics
  --strict -q --quiet -v --verbose --threads --include-prompts -h --help"
_exfilscan_detection_flags="--group-by --rules --no-default-rules --max-skew --sort-stdin
  --sort-memory --since --until --tz"

_exfilscan() {
  local cur prev words cword
  if declare -F _init_completion > /dev/null; then
    _init_completion || return
  else
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    words=("${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  fi

  local commands="scan explain rules calibrate campaigns normalize help"
  local command="" i
  for ((i = 1; i < cword; i++)); do
    case ${words[i]} in
      scan | explain | rules | calibrate | campaigns | normalize | help)
        command=${words[i]}
        break
        ;;
    esac
  done

  case $prev in
    --input-format)
      COMPREPLY=($(compgen -W "auto canonical litellm litellm-spendlogs litellm-payload bedrock
        helicone langfuse portkey azure azure-apim openai-batch openrouter kong envoy higress vertex
        cloudflare mapped" -- "$cur"))
      return
      ;;
    --group-by)
      COMPREPLY=($(compgen -W "api_key org project user ip ip24" -- "$cur"))
      return
      ;;
    --format)
      if [[ $command == explain ]]; then
        COMPREPLY=($(compgen -W "text jsonl" -- "$cur"))
      else
        COMPREPLY=($(compgen -W "table jsonl csv" -- "$cur"))
      fi
      return
      ;;
    --min-severity | --fail-on)
      COMPREPLY=($(compgen -W "info low medium high critical" -- "$cur"))
      return
      ;;
    --color)
      COMPREPLY=($(compgen -W "auto always never" -- "$cur"))
      return
      ;;
    --tz)
      local dir=${TZDIR:-/usr/share/zoneinfo}
      COMPREPLY=($(compgen -W "UTC $(cd "$dir" 2> /dev/null &&
        find . -type f -name '[A-Z]*' ! -name '*.tab' 2> /dev/null | sed 's|^\./||')" -- "$cur"))
      return
      ;;
    --map | --max-line-bytes | --max-diagnostics | --threads | --max-skew | --sort-memory | \
      --since | --until | --top | --kafka | --topic | --group | --target-fpr | --name | \
      --kafka-idle-timeout | --profiles-topic | --findings-topic)
      return
      ;;
    --state-dir)
      COMPREPLY=($(compgen -d -- "$cur"))
      compopt -o filenames 2> /dev/null
      return
      ;;
    --map-file | --rules | --check | -o | --output | --report-csv | --report-jsonl | \
      --summary-csv | --report-html | --state | --kafka-config)
      COMPREPLY=($(compgen -f -- "$cur"))
      compopt -o filenames 2> /dev/null
      return
      ;;
  esac

  local flags
  case $command in
    "")
      COMPREPLY=($(compgen -W "$commands -h --help -V --version" -- "$cur"))
      return
      ;;
    help)
      COMPREPLY=($(compgen -W "scan explain rules calibrate campaigns normalize" -- "$cur"))
      return
      ;;
    scan)
      flags="$_exfilscan_input_flags $_exfilscan_detection_flags --format -o --output
        --report-csv --report-jsonl --summary-csv --report-html --state --state-reset --wait
        --min-severity --fail-on --color --top --kafka --topic --group --kafka-config
        --kafka-until-end --findings-topic --kafka-idle-timeout --state-dir --profiles-topic"
      ;;
    campaigns)
      flags="$_exfilscan_input_flags $_exfilscan_detection_flags --format -o --output
        --report-jsonl --min-severity --fail-on --top --kafka --topic --group --kafka-config
        --kafka-until-end --findings-topic --profiles-topic"
      ;;
    explain)
      flags="$_exfilscan_input_flags $_exfilscan_detection_flags --format -o --output --state
        --only-flagged"
      ;;
    rules)
      flags="--rules --no-default-rules --check -h --help"
      ;;
    calibrate)
      flags="$_exfilscan_input_flags $_exfilscan_detection_flags --target-fpr --widen --name -o
        --output"
      ;;
    normalize)
      flags="$_exfilscan_input_flags -o --output"
      ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ $command != rules && $command != campaigns ]]; then
    COMPREPLY=($(compgen -f -- "$cur"))
    compopt -o filenames 2> /dev/null
  fi
}
complete -F _exfilscan exfilscan
