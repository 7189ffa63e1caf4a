
# bash completion for vault: each word is completed by vault itself (COMPLETE=bash, the
# protocol of clap_complete's dynamic engine).
#
# bash splits words at the characters of COMP_WORDBREAKS, ':' and '=' among them, so
# `shared-file:NINJA_C` reaches a completion function as three words and the word being
# completed is only `NINJA_C`. vault is handed the words as they were typed (pieces with
# no blank between them joined again), and bash is handed back only the part of each
# answer after the last break, which is the part it replaces.
_clap_complete_vault() {
    local IFS=$'\013'
    local _CLAP_COMPLETE_COMP_TYPE=${COMP_TYPE-}
    if compopt +o nospace 2> /dev/null; then
        local _CLAP_COMPLETE_SPACE=false
    else
        local _CLAP_COMPLETE_SPACE=true
    fi
    local line=${COMP_LINE-} point=${COMP_POINT-}
    local i
    if [[ -z $line ]]; then
        # Called by hand, without a command line: the words are the words.
        for (( i = 0; i <= COMP_CWORD; i++ )); do
            line+="${line:+ }${COMP_WORDS[i]}"
        done
        point=${#line}
    fi
    local -a words=()
    local pos=0 piece start group=0 cword=0 n=-1
    for (( i = 0; i < ${#COMP_WORDS[@]}; i++ )); do
        piece=${COMP_WORDS[i]}
        start=$pos
        while (( pos < ${#line} )) && [[ ${line:pos:1} == [[:blank:]] ]]; do
            (( pos++ ))
        done
        if (( n < 0 || pos > start )); then
            words+=("$piece")
            (( n++ ))
            (( i <= COMP_CWORD )) && group=$pos
        else
            words[n]+=$piece
        fi
        (( i == COMP_CWORD )) && cword=$n
        (( pos += ${#piece} ))
    done
    # The word being completed, as typed up to the cursor; bash replaces only its tail "$2".
    local current=${line:group:point-group}
    local typed=$2
    [[ $current == *"$typed" ]] || typed=$current
    local before=${current:0:${#current}-${#typed}}
    words[cword]=$current
    local -a answers
    answers=( $( \
        _CLAP_IFS="$IFS" \
        _CLAP_COMPLETE_INDEX="$cword" \
        _CLAP_COMPLETE_COMP_TYPE="$_CLAP_COMPLETE_COMP_TYPE" \
        _CLAP_COMPLETE_SPACE="$_CLAP_COMPLETE_SPACE" \
        COMPLETE="bash" \
        "vault" -- "${words[@]}" \
    ) ) || { unset COMPREPLY; return; }
    COMPREPLY=()
    local answer
    for answer in "${answers[@]}"; do
        [[ $answer == "$before"* ]] && COMPREPLY+=("${answer:${#before}}")
    done
    if [[ $_CLAP_COMPLETE_SPACE == false ]] && [[ "${COMPREPLY-}" =~ [=/:]$ ]]; then
        compopt -o nospace
    fi
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -o nospace -o bashdefault -o nosort -F _clap_complete_vault vault
else
    complete -o nospace -o bashdefault -F _clap_complete_vault vault
fi
