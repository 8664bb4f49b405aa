"""The text of the git hooks: the current template, and the earlier ones whose hooks are still
recognised as ours, unchanged, so that installing again updates them instead of leaving them."""

TEMPLATE = """#!/bin/sh
{marker}
# `sleepcoder hooks uninstall` puts back what was here before. The hook that was here (if any)
# is kept as {name}{suffix} next to this file and runs first, with the same arguments and
# input; its exit status is this hook's. Then the map is refreshed in the background, at low
# priority, detached from this git command. SLEEPCODER_HOOKS=0 turns the refresh off.
sleepcoder_python={python}
sleepcoder_hook={name}
sleepcoder_status=0
sleepcoder_orig="$(dirname "$0")/{name}{suffix}"
if [ -f "$sleepcoder_orig" ] && [ -x "$sleepcoder_orig" ]; then
    sleepcoder_first=''
    IFS= read -r sleepcoder_first < "$sleepcoder_orig" || :
    case $sleepcoder_first in
        # sourced in a subshell so that it sees the $0 git gave (husky finds itself by it)
        '#!/bin/sh' | '#!/usr/bin/env sh') ( . "$sleepcoder_orig" ); sleepcoder_status=$? ;;
        *) "$sleepcoder_orig" "$@"; sleepcoder_status=$? ;;
    esac
fi
sleepcoder_log=/dev/null
# never through a symbolic link: a repository could commit .sleepcoder/{log} as one
if [ -d .sleepcoder ] && [ ! -L .sleepcoder ] && [ ! -L .sleepcoder/{log} ]; then
    sleepcoder_log=.sleepcoder/{log}
fi
if [ "${{SLEEPCODER_HOOKS:-1}}" = 0 ]; then
    :
elif [ ! -x "$sleepcoder_python" ]; then
    if [ "$sleepcoder_log" != /dev/null ]; then
        echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') $sleepcoder_hook: skipped, the Python that" \\
            "ran \\`sleepcoder hooks install\\` is gone ($sleepcoder_python): install the" \\
            "hooks again" >> "$sleepcoder_log" 2>/dev/null
        if [ "$(wc -l < "$sleepcoder_log")" -gt {lines} ]; then
            rm -f "$sleepcoder_log.tmp" &&
                tail -n {keep} "$sleepcoder_log" > "$sleepcoder_log.tmp" &&
                mv "$sleepcoder_log.tmp" "$sleepcoder_log"
        fi
    fi
else
    (
        # a commit's hooks see the temporary index of `git commit -a` and the like, gone
        # (or half-written) by the time the refresh reads it
        unset GIT_INDEX_FILE
        set -- "$sleepcoder_python" -m sleepcoder.cli hooks run "$sleepcoder_hook"
        if command -v ionice >/dev/null 2>&1 && ionice -c 3 true >/dev/null 2>&1; then
            set -- ionice -c 3 "$@"
        fi
        command -v nice >/dev/null 2>&1 && set -- nice -n 19 "$@"
        command -v setsid >/dev/null 2>&1 && set -- setsid "$@"
        exec "$@"
    ) < /dev/null >> "$sleepcoder_log" 2>&1 &
fi
exit $sleepcoder_status
"""

# _LINKED_LOG and _TRIM: what the first release of `hooks install` wrote instead (it wrote
# its log through a symbolic link); its hooks are otherwise the current template
_SAFE_LOG = """# never through a symbolic link: a repository could commit .sleepcoder/{log} as one
if [ -d .sleepcoder ] && [ ! -L .sleepcoder ] && [ ! -L .sleepcoder/{log} ]; then
    sleepcoder_log=.sleepcoder/{log}
fi
"""
_LINKED_LOG = "[ -d .sleepcoder ] && sleepcoder_log=.sleepcoder/{log}\n"
_SAFE_TRIM = """            rm -f "$sleepcoder_log.tmp" &&
                tail -n {keep}"""
_TRIM = """            tail -n {keep}"""
assert _SAFE_LOG in TEMPLATE and _SAFE_TRIM in TEMPLATE
TEMPLATE_1 = TEMPLATE.replace(_SAFE_LOG, _LINKED_LOG).replace(_SAFE_TRIM, _TRIM)

EARLIER_TEMPLATES = (TEMPLATE_1,)
